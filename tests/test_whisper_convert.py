"""The CTranslate2 -> transformers Whisper converter keeps every weight exactly."""

import struct

import numpy as np
import pytest
import torch

from pipelines.whisper.convert import (
    ConversionError,
    bundled_model_dir,
    convert_whisper,
    ct2_to_hf_state_dict,
    read_ct2_model,
)


@pytest.fixture(scope="module")
def ct2_vars():
    spec, variables = read_ct2_model(bundled_model_dir() / "model.bin")
    assert spec == "WhisperSpec"
    return variables


def test_reader_resolves_the_tied_output_projection(ct2_vars):
    assert ct2_vars["decoder/projection/weight"] is ct2_vars["decoder/embeddings/weight"]
    assert ct2_vars["decoder/embeddings/weight"].dtype == np.float16
    assert ct2_vars["encoder/conv1/weight"].shape == (384, 80, 3)


def test_state_dict_splits_fused_attention(ct2_vars):
    sd = ct2_to_hf_state_dict(ct2_vars)
    fused = ct2_vars["encoder/layer_2/self_attention/linear_0/weight"]
    p = "model.encoder.layers.2.self_attn"
    np.testing.assert_array_equal(np.concatenate(
        [sd[f"{p}.q_proj.weight"], sd[f"{p}.k_proj.weight"], sd[f"{p}.v_proj.weight"]]), fused)
    kv = ct2_vars["decoder/layer_1/attention/linear_1/bias"]
    np.testing.assert_array_equal(kv[384:], sd["model.decoder.layers.1.encoder_attn.v_proj.bias"])
    assert "model.decoder.layers.1.encoder_attn.k_proj.bias" not in sd


def test_reader_rejects_other_binary_versions(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(struct.pack("<I", 99) + b"\0" * 16)
    with pytest.raises(ConversionError, match="binary version 99"):
        read_ct2_model(bad)


def test_convert_rejects_a_directory_without_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.bin"):
        convert_whisper(tmp_path, tmp_path / "out")


def _refused(model, prefix: str, names: list[str], with_bias: bool) -> tuple[np.ndarray, ...]:
    """Re-fuse transformers projections the CTranslate2 way (zero bias where there is none)."""
    weights = [getattr(model.get_submodule(prefix), n).weight for n in names]
    biases = []
    for n, w in zip(names, weights):
        b = getattr(model.get_submodule(prefix), n).bias
        biases.append(torch.zeros(w.shape[0]) if b is None else b)
    out = (torch.cat(weights).detach().numpy(),)
    return out + ((torch.cat(biases).detach().numpy(),) if with_bias else ())


@pytest.mark.slow
def test_converted_model_equals_ct2_weights_exactly(tmp_path, ct2_vars):
    from transformers import WhisperForConditionalGeneration

    convert_whisper(bundled_model_dir(), tmp_path)
    model = WhisperForConditionalGeneration.from_pretrained(tmp_path, dtype=torch.float32).eval()
    used = set()

    def same(ct2_name: str, value) -> None:
        used.add(ct2_name)
        want = ct2_vars[ct2_name].astype(np.float32)
        got = value.detach().numpy() if torch.is_tensor(value) else value
        np.testing.assert_array_equal(got, want, err_msg=ct2_name)

    for side in ("encoder", "decoder"):
        hf = model.model.get_submodule(side)
        same(f"{side}/layer_norm/gamma", hf.layer_norm.weight)
        same(f"{side}/layer_norm/beta", hf.layer_norm.bias)
        same(f"{side}/position_encodings/encodings", hf.embed_positions.weight)
        for i, layer in enumerate(hf.layers):
            src = f"{side}/layer_{i}"
            w, b = _refused(model, f"model.{side}.layers.{i}.self_attn",
                            ["q_proj", "k_proj", "v_proj"], True)
            same(f"{src}/self_attention/linear_0/weight", w)
            same(f"{src}/self_attention/linear_0/bias", b)
            same(f"{src}/self_attention/linear_1/weight", layer.self_attn.out_proj.weight)
            same(f"{src}/self_attention/linear_1/bias", layer.self_attn.out_proj.bias)
            same(f"{src}/self_attention/layer_norm/gamma", layer.self_attn_layer_norm.weight)
            same(f"{src}/self_attention/layer_norm/beta", layer.self_attn_layer_norm.bias)
            for ct, fc in (("linear_0", layer.fc1), ("linear_1", layer.fc2)):
                same(f"{src}/ffn/{ct}/weight", fc.weight)
                same(f"{src}/ffn/{ct}/bias", fc.bias)
            same(f"{src}/ffn/layer_norm/gamma", layer.final_layer_norm.weight)
            same(f"{src}/ffn/layer_norm/beta", layer.final_layer_norm.bias)
            if side == "decoder":
                att = layer.encoder_attn
                same(f"{src}/attention/linear_0/weight", att.q_proj.weight)
                same(f"{src}/attention/linear_0/bias", att.q_proj.bias)
                w, b = _refused(model, f"model.decoder.layers.{i}.encoder_attn",
                                ["k_proj", "v_proj"], True)
                same(f"{src}/attention/linear_1/weight", w)
                same(f"{src}/attention/linear_1/bias", b)
                same(f"{src}/attention/linear_2/weight", att.out_proj.weight)
                same(f"{src}/attention/linear_2/bias", att.out_proj.bias)
                same(f"{src}/attention/layer_norm/gamma", layer.encoder_attn_layer_norm.weight)
                same(f"{src}/attention/layer_norm/beta", layer.encoder_attn_layer_norm.bias)
    enc = model.model.encoder
    for conv in ("conv1", "conv2"):
        same(f"encoder/{conv}/weight", getattr(enc, conv).weight)
        same(f"encoder/{conv}/bias", getattr(enc, conv).bias)
    same("decoder/embeddings/weight", model.model.decoder.embed_tokens.weight)
    same("decoder/projection/weight", model.proj_out.weight)
    float_vars = {k for k, v in ct2_vars.items() if v.dtype == np.float16}
    assert float_vars - used == set(), "CTranslate2 weights the test did not compare"
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 37_760_256
