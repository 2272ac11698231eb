"""``model.onnx``: the exported network as one ONNX graph, and ONNX Runtime inference of it.

The graph holds the whole network, the Whisper encoder included (not a second graph): inputs
``waveform`` (batch, samples) float32 16 kHz windows and, for models that use Whisper, ``mel``
(batch, mels, frames) float32, Whisper's log-mel of the same windows (``network.WhisperMel``);
output ``probabilities`` (batch, classes), the softmax before calibration (the temperature is
in ``config.json``). The batch axis is dynamic. A graph over protobuf's 2 GB (paper size)
keeps its weights in one ``model.onnx.data`` beside it (ONNX external data).

Written by the TorchScript exporter (``torch.onnx.export(dynamo=False)``): it needs torch and
the ``onnx`` package and works offline; the dynamo exporter would also need ``onnxscript``
(docs/export.md). Running the graph needs only ``onnxruntime``.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from pipelines.export.network import ExportedNetwork, WhisperMel

OPSET = 17  # LayerNormalization is a single op from 17 on; onnxruntime >= 1.14 runs it
WAVEFORM, MEL, PROBABILITIES = "waveform", "mel", "probabilities"


def export_onnx(network: ExportedNetwork, mel: WhisperMel | None, path: Path) -> dict:
    """Write ``network`` to ``path`` as ONNX; returns what ``config.json`` records about it."""
    inputs = network.example_inputs(mel)
    names = [WAVEFORM, MEL][: len(inputs)]
    axes = {name: {0: "batch"} for name in names} | {PROBABILITIES: {0: "batch"}}
    # traced with autograd on: nn.MultiheadAttention (the MAE's) takes its fused fast path under
    # no_grad in eval mode, an op (_native_multi_head_attention) ONNX has no symbol for
    with warnings.catch_warnings(), tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        # shape checks become constants in the trace: right, as every size but the batch is
        # fixed per export; and the TorchScript exporter's own deprecation notice
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        raw = Path(scratch) / path.name
        try:
            torch.onnx.export(network, inputs, str(raw), dynamo=False, input_names=names,
                              output_names=[PROBABILITIES], dynamic_axes=axes,
                              opset_version=OPSET, do_constant_folding=True)
        except torch.onnx.errors.OnnxExporterError as err:  # e.g. the log-mel front end's STFT
            reason = str(err).strip().splitlines()[0].split("  [Caused by")[0][:200]
            raise RuntimeError(f"ONNX export of variant {network.model.cfg.variant!r} failed: "
                               f"{reason}; export without ONNX (--no-onnx)") from None
        external = gather_external_data(raw, path)
    shapes = {WAVEFORM: ["batch", int(inputs[0].shape[1])]}
    if mel is not None:
        shapes[MEL] = ["batch", mel.num_mels, mel.num_frames]
    return {"file": path.name, "external_data": external, "opset": OPSET,
            "exporter": "torchscript", "inputs": shapes, "output": PROBABILITIES,
            "whisper": "included" if mel is not None else None}


def gather_external_data(raw: Path, path: Path) -> str | None:
    """Move the exported graph ``raw`` to ``path``; returns the name of its weights file, if any.

    A graph over protobuf's 2 GB (the paper-size model) cannot hold its weights: the
    TorchScript exporter then writes one file per tensor beside it. Those are gathered into one
    ``<name>.data`` file (ONNX external data, raw tensor bytes) next to ``path``.
    """
    if [p.name for p in raw.parent.iterdir()] == [raw.name]:
        raw.replace(path)
        return None
    import onnx

    location = path.name + ".data"
    graph = onnx.load(str(raw))  # with every external tensor
    onnx.save_model(graph, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location)
    return location


class OnnxNetwork:
    """``model.onnx`` in an ONNX Runtime session: numpy in, numpy probabilities out."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, waveform: np.ndarray, mel: np.ndarray | None = None) -> np.ndarray:
        feeds = {WAVEFORM: np.ascontiguousarray(waveform, dtype=np.float32)}
        if MEL in self.input_names:
            if mel is None:
                raise ValueError("this graph uses Whisper: pass the windows' log-mel as mel")
            feeds[MEL] = np.ascontiguousarray(mel, dtype=np.float32)
        return self.session.run([PROBABILITIES], feeds)[0]
