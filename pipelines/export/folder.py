"""The export folder: what it holds, how it is written, and ``load_model`` that reads it back.

    OUT_DIR/
      config.json          everything needed to rebuild and run the model (format sastnet-export/1)
      model.safetensors    the trained network's weights (safetensors: no pickle)
      whisper/             the frozen Whisper encoder, for models that use it: transformers'
                           config.json + model.safetensors + preprocessor_config.json
      model.onnx           the same network as one ONNX graph (Whisper included), optional
      README.md            the model card, written from the run's reports (pipelines.export.card)

Nothing in the folder is a pickle, so loading it runs no code from it. ``load_model`` needs
torch, transformers (Whisper), numpy, scipy, soundfile, safetensors (and onnxruntime for the
ONNX backend); it imports no MLflow, DVC or Ray.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from safetensors.torch import load_model as load_safetensors

from pipelines.export.network import (
    WHISPER_DIR,
    ExportedNetwork,
    WhisperMel,
    load_whisper_encoder,
    load_whisper_mel,
)
from pipelines.export.onnx_graph import OnnxNetwork
from pipelines.trace.core import TraceOptions, trace_files
from pipelines.trace.models import TraceModel
from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.models import build_model
from sastnet.models.config import ModelConfig

FORMAT = "sastnet-export/1"
CONFIG_FILE, WEIGHTS_FILE, ONNX_FILE, CARD_FILE = (
    "config.json", "model.safetensors", "model.onnx", "README.md")
BACKENDS = ("torch", "onnx")


class NotAnExportError(ValueError):
    """A folder that is not (or no longer) a ``sastnet export`` folder."""


def read_config(folder: str | Path) -> dict:
    """``config.json`` of an export folder, checked: clear errors for a wrong or partial folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder; write one with "
                                f"`sastnet export MODEL {folder}` (docs/export.md)")
    path = folder / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise NotAnExportError(f"{folder} is not a sastnet export folder: {CONFIG_FILE} "
                               f"unreadable ({err}); write one with `sastnet export`") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else None
        raise NotAnExportError(f"{folder} is not a sastnet export folder: {CONFIG_FILE} has "
                               f"format {found!r}, expected {FORMAT!r}")
    if not (folder / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{folder}: {WEIGHTS_FILE} is missing; export the model again")
    if config.get("whisper") and not (folder / WHISPER_DIR / "model.safetensors").is_file():
        raise FileNotFoundError(f"{folder}: this model uses Whisper but {WHISPER_DIR}/"
                                "model.safetensors is missing; export the model again")
    if int(config.get("sample_rate_hz", 0)) != SAMPLE_RATE_HZ:
        # trace resamples any input to 16 kHz before the model: a model of another rate
        # would be fed the wrong audio without a word
        raise NotAnExportError(f"{folder}: config.json sample_rate_hz "
                               f"{config.get('sample_rate_hz')!r} is not {SAMPLE_RATE_HZ}")
    return config


def is_export_folder(path: str | Path) -> bool:
    """True when ``path`` holds a ``config.json`` of this format (cheap; no weights read)."""
    try:
        return json.loads((Path(path) / CONFIG_FILE).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def build_network(folder: Path, config: dict) -> ExportedNetwork:
    """The PyTorch network of an export folder (eval mode), weights from safetensors."""
    model = build_model(ModelConfig.from_dict(config["model_config"]), load_weights=False)
    whisper = load_whisper_encoder(folder / WHISPER_DIR) if config.get("whisper") else None
    network = ExportedNetwork(model, whisper)
    load_safetensors(network.model, folder / WEIGHTS_FILE)
    return network.eval()


class ExportedModel:
    """An export folder, loaded. ``trace(waveform, sr)`` scores one clip as ``sastnet trace``
    does (16 kHz mono after resampling and down-mixing, windows of the training length,
    calibrated when the folder has a temperature); ``trace_files`` scores audio files."""

    def __init__(self, folder: Path, config: dict, backend: str,
                 network: Callable[[np.ndarray, np.ndarray | None], np.ndarray],
                 mel: WhisperMel | None) -> None:
        self.folder, self.config, self.backend = folder, config, backend
        self.network, self.mel = network, mel
        self.task: str = config["task"]
        self.classes: tuple[str, ...] = tuple(config["classes"])
        self.trace_model = TraceModel(
            task=self.task, scorer=network, num_samples=int(config["num_samples"]),
            whisper_dim=(config.get("whisper") or {}).get("d_model"),
            source=f"{folder} ({backend})", temperature=config.get("temperature"),
            calibration=dict(config.get("calibration") or {}), window_scorer=self.probabilities)

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """(B, num_samples) 16 kHz windows -> (B, C) softmax before calibration."""
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        mel = self.mel(windows) if self.mel is not None else None
        return np.asarray(self.network(windows, mel), dtype=np.float64)

    def trace(self, waveform: np.ndarray, sample_rate_hz: int,
              options: TraceOptions | None = None) -> dict:
        """One clip (samples,) or (samples, channels), float in [-1, 1] or PCM integers, at any
        rate -> a trace record (``docs/trace.schema.json`` ``#/$defs/record``; ``status``
        "error" and ``error`` say why a clip could not be scored)."""
        wave = np.asarray(waveform)
        if wave.ndim not in (1, 2) or wave.size == 0:
            raise ValueError(f"waveform must be (samples,) or (samples, channels), got shape "
                             f"{wave.shape}")
        if int(sample_rate_hz) != sample_rate_hz or sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be a positive integer, got {sample_rate_hz!r}")
        if np.issubdtype(wave.dtype, np.integer):  # PCM integers, scaled as soundfile reads them
            wave = wave / float(2 ** (8 * wave.dtype.itemsize - 1))
        buffer = io.BytesIO()  # float WAV: the exact samples, read back by trace's own reader
        sf.write(buffer, wave.astype(np.float32), int(sample_rate_hz), format="WAV",
                 subtype="FLOAT")
        return self.trace_files([buffer.getvalue()], options, names=["waveform"])[0]

    def trace_files(self, sources: list, options: TraceOptions | None = None,
                    names: list[str] | None = None) -> list[dict]:
        """Audio file paths (or their bytes) -> one trace record each, in order."""
        options = options or TraceOptions(progress=False)
        return trace_files(sources, {self.task: self.trace_model}, options, names=names)


def load_model(folder: str | Path, backend: str = "torch", threads: int | None = None
               ) -> ExportedModel:
    """Load an export folder (``sastnet export``) for tracing.

    Args:
        folder: the folder ``sastnet export`` wrote.
        backend: "torch" (weights from ``model.safetensors``) or "onnx" (``model.onnx`` in
            ONNX Runtime; the folder must have been exported with ONNX).
        threads: ONNX Runtime intra-op threads (None: its default). PyTorch's are left as set.

    Returns:
        an ``ExportedModel``: ``.trace(waveform, sr)``, ``.trace_files(paths)``,
        ``.probabilities(windows)``, ``.config``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: use one of {', '.join(BACKENDS)}")
    folder = Path(folder)
    config = read_config(folder)
    whisper = config.get("whisper")
    mel = load_whisper_mel(folder / WHISPER_DIR, int(whisper["mel_frames"])) if whisper else None
    if backend == "onnx":
        if not (folder / ONNX_FILE).is_file():
            raise FileNotFoundError(f"{folder}: no {ONNX_FILE} (exported with --no-onnx); "
                                    "export again with ONNX, or use the torch backend")
        network: Callable = OnnxNetwork(folder / ONNX_FILE, threads)
    else:
        module = build_network(folder, config)

        def network(waveform: np.ndarray, mel_in: np.ndarray | None) -> np.ndarray:
            with torch.inference_mode():
                args = [torch.from_numpy(waveform)]
                if mel_in is not None:
                    args.append(torch.from_numpy(mel_in))
                return module(*args).numpy()
    return ExportedModel(folder, config, backend, network, mel)

