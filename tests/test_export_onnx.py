"""ONNX parity: ``model.onnx`` in ONNX Runtime gives PyTorch's probabilities within 1e-4, on
clips of every AUX class (a bona fide clip and its resyntheses by a codec of each AUX
family), for a model with the Whisper encoder in its graph (SASTNet) and one without
(the W2V2-AASIST baseline)."""

import numpy as np
import onnx
import pytest

from pipelines.export import load_model
from pipelines.export.source import load_export_source
from pipelines.export.writer import write_export
from sastnet.taxonomy import CLASS_NAMES
from tests.export_dummies import (
    NUM_SAMPLES,
    RUN_DIR,
    build_best,
    build_tiny_whisper,
    clips_of_every_aux_class,
    fast_features,
)

ATOL = 1e-4  # issue #36


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return clips_of_every_aux_class(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    return build_tiny_whisper(tmp_path_factory.mktemp("whisper"))


@pytest.mark.parametrize("variant", ["sastnet", "w2v2_aasist"])
def test_onnx_runtime_matches_pytorch_on_every_class(variant, clips, whisper, tmp_path):
    assert sorted(clips) == sorted(CLASS_NAMES["aux"])  # one clip per class
    best = build_best(tmp_path / "models", variant)
    src = load_export_source(str(best), None, mlflow_experiment=None,
                             reports_dir=RUN_DIR / "reports", features=fast_features(whisper))
    config = write_export(src, tmp_path / "out", run_dir=RUN_DIR)
    graph = onnx.load(str(tmp_path / "out" / "model.onnx"))
    onnx.checker.check_model(graph)
    inputs = [i.name for i in graph.graph.input]
    assert inputs == (["waveform", "mel"] if variant == "sastnet" else ["waveform"])
    assert (config["onnx"]["whisper"] == "included") == (variant == "sastnet")

    torch_model = load_model(tmp_path / "out", backend="torch")
    onnx_model = load_model(tmp_path / "out", backend="onnx")
    names = sorted(clips)
    torch_records = torch_model.trace_files([clips[n] for n in names])
    onnx_records = onnx_model.trace_files([clips[n] for n in names])
    for name, a, b in zip(names, torch_records, onnx_records):
        assert a["status"] == b["status"] == "ok", (name, a["error"], b["error"])
        got, want = b["results"]["aux"], a["results"]["aux"]
        assert got["decision"] == want["decision"], name
        for wa, wb in zip(want["windows"], got["windows"]):  # every window, not only the mean
            np.testing.assert_allclose(list(wb["probabilities"].values()),
                                       list(wa["probabilities"].values()), atol=ATOL, rtol=0)

    # the networks themselves, on a batch holding a window of each class (dynamic batch axis)
    import soundfile as sf

    windows = np.stack([sf.read(clips[n], dtype="float32")[0][:NUM_SAMPLES] for n in names])
    for batch in (windows, windows[:1]):
        np.testing.assert_allclose(onnx_model.probabilities(batch),
                                   torch_model.probabilities(batch), atol=ATOL, rtol=0)


def test_a_graph_over_two_gb_keeps_its_weights_in_one_data_file(tmp_path):
    """What the TorchScript exporter writes for a graph over protobuf's 2 GB (one file per
    tensor beside it; simulated on a small graph) becomes model.onnx + model.onnx.data."""
    import onnxruntime as ort
    import torch

    from pipelines.export.onnx_graph import gather_external_data

    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Tanh(),
                                torch.nn.Linear(128, 4))  # tensors over onnx's 1 kB threshold
    scratch, out = tmp_path / "scratch", tmp_path / "out"
    scratch.mkdir()
    out.mkdir()
    torch.onnx.export(layer, (torch.zeros(1, 64),), str(tmp_path / "whole.onnx"), dynamo=False,
                      input_names=["x"], output_names=["y"])
    onnx.save_model(onnx.load(str(tmp_path / "whole.onnx")), str(scratch / "model.onnx"),
                    save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0)
    assert len(list(scratch.iterdir())) > 2  # one file per tensor, as for a large graph
    assert gather_external_data(scratch / "model.onnx", out / "model.onnx") == "model.onnx.data"
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx", "model.onnx.data"]
    x = np.random.default_rng(0).standard_normal((1, 64)).astype(np.float32)
    got = ort.InferenceSession(str(out / "model.onnx")).run(["y"], {"x": x})[0]
    np.testing.assert_allclose(got, layer(torch.from_numpy(x)).detach().numpy(), atol=1e-6)


def test_a_variant_onnx_cannot_hold_fails_clearly_and_exports_without_onnx(tmp_path):
    """The log-mel ablations (m_mae, ...) compute a complex STFT, which the TorchScript exporter
    cannot write: the export says so and names --no-onnx, and leaves no folder behind."""
    best = build_best(tmp_path / "models", "m_mae")
    src = load_export_source(str(best), None, mlflow_experiment=None,
                             reports_dir=RUN_DIR / "reports", features=None)
    with pytest.raises(RuntimeError, match=r"variant 'm_mae' failed: STFT.*--no-onnx"):
        write_export(src, tmp_path / "out", run_dir=RUN_DIR)
    assert not (tmp_path / "out").exists()
    config = write_export(src, tmp_path / "out", run_dir=RUN_DIR, onnx=False)
    assert config["onnx"] is None and config["whisper"] is None
    assert load_model(tmp_path / "out").probabilities(np.zeros((1, NUM_SAMPLES))).shape == (1, 4)
