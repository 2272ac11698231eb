"""``write_export``: a trained model -> an export folder (``pipelines.export.folder`` says what
it holds), written atomically: a crash leaves the old folder or the new one.

    sastnet export models:/sastnet-aux@champion exports/sastnet-aux
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_model

from pipelines.common.io import atomic_dir, current_umask, write_json
from pipelines.export.card import Citations, model_card, run_files
from pipelines.export.folder import (
    CARD_FILE,
    CONFIG_FILE,
    FORMAT,
    ONNX_FILE,
    WEIGHTS_FILE,
    is_export_folder,
)
from pipelines.export.network import WHISPER_DIR, ExportedNetwork, WhisperMel, save_whisper
from pipelines.export.onnx_graph import OnnxNetwork, export_onnx
from pipelines.export.source import ExportSource, describe_source
from pipelines.params.features import FeaturesParams
from pipelines.trace.models import MIN_INPUT_FRACTION
from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.taxonomy import CLASS_NAMES
from sastnet.whisper import (
    FRAMES_PER_SECOND,
    KEPT_FRAMES,
    POOL,
    encoder_mel_frames,
    load_whisper_encoder,
)

PARITY_ATOL = 1e-4  # ONNX Runtime vs PyTorch probabilities, the bound (#36)
# data-only formats (.data: an ONNX graph's external tensors, raw bytes)
SAFE_SUFFIXES = (".json", ".md", ".safetensors", ".onnx", ".data")


def _load_whisper(features: dict, run_dir: Path):
    """The encoder and feature extractor exactly as the ``features`` stage loaded them."""
    from transformers import WhisperFeatureExtractor  # seconds to import: only when needed

    cfg = FeaturesParams(**features)
    source = Path(cfg.model)
    model = str(run_dir / source) if not source.is_absolute() and (run_dir / source).exists() \
        else cfg.model
    seconds = None if cfg.variant == "faithful" else cfg.fast_seconds
    encoder = load_whisper_encoder(model, max_source_seconds=seconds)
    extractor = WhisperFeatureExtractor.from_pretrained(model, local_files_only=True)
    info = {"folder": WHISPER_DIR, "source": cfg.model, "variant": cfg.variant,
            "encoder_seconds": encoder.config.max_source_positions / FRAMES_PER_SECOND,
            "mel_frames": encoder_mel_frames(encoder), "d_model": int(encoder.config.d_model),
            "kept_frames": KEPT_FRAMES, "pool": POOL}
    return encoder, extractor, info


def parity_windows(num_samples: int, count: int = 4, seed: int = 0) -> np.ndarray:
    """A few seeded test windows (tones in noise at several levels) for the export's check."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / SAMPLE_RATE_HZ
    rows = [(0.05 + 0.2 * k) * np.sin(2 * np.pi * (110 + 90 * k) * t)
            + 0.02 * rng.standard_normal(num_samples) for k in range(count)]
    return np.stack(rows).astype(np.float32)


def onnx_parity(network: ExportedNetwork, mel: WhisperMel | None, path: Path,
                windows: np.ndarray) -> float:
    """Largest |ONNX Runtime - PyTorch| probability over ``windows`` (the same inputs to both)."""
    mel_in = mel(windows) if mel is not None else None
    args = [torch.from_numpy(windows)] + ([torch.from_numpy(mel_in)] if mel is not None else [])
    with torch.inference_mode():
        expected = network(*args).numpy()
    got = OnnxNetwork(path)(windows, mel_in)
    return float(np.abs(got - expected).max())


def _refuse_foreign(out_dir: Path) -> None:
    """Writing replaces ``out_dir`` whole: only an empty folder or an older export may go."""
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir())
                                                      and not is_export_folder(out_dir))):
        raise FileExistsError(f"{out_dir} exists and is not a sastnet export folder: writing "
                              "would replace it; give a new or empty folder")


def write_export(src: ExportSource, out_dir: str | Path, *, run_dir: str | Path = ".",
                 reports_dir: str | Path | None = None, onnx: bool = True) -> dict:
    """Write the export folder of ``src``.

    Args:
        src: the trained model and what is known about it (``load_export_source``).
        out_dir: the folder to write (replaced if it is an older export).
        run_dir: the checkout of the run that trained it: ``metrics/`` and the Whisper model
            path of the ``features`` params are taken from there.
        reports_dir: that run's reports (default ``run_dir/reports``), read by the model card.
        onnx: also write ``model.onnx`` and check it against PyTorch (``PARITY_ATOL``).

    Returns:
        the folder's ``config.json`` content.
    """
    out_dir, run_dir = Path(out_dir), Path(run_dir)
    reports_dir = Path(reports_dir) if reports_dir else run_dir / "reports"
    _refuse_foreign(out_dir)
    whisper = None
    if src.model.needs_whisper:
        if not src.features:
            raise ValueError(f"{src.source} uses Whisper features but no features settings were "
                             "found (params.yaml `features` section, or --whisper)")
        whisper = _load_whisper(src.features, run_dir)
    encoder, extractor, whisper_info = whisper or (None, None, None)
    network = ExportedNetwork(src.model, encoder)
    mel = WhisperMel(extractor, whisper_info["mel_frames"]) if whisper else None
    config = {
        "format": FORMAT, "task": src.task, "classes": list(CLASS_NAMES[src.task]),
        "sample_rate_hz": SAMPLE_RATE_HZ, "num_samples": src.num_samples,
        "input_s": src.num_samples / SAMPLE_RATE_HZ,
        "min_input_s": int(src.num_samples * MIN_INPUT_FRACTION) / SAMPLE_RATE_HZ,
        "temperature": src.temperature, "calibration": src.calibration,
        "model_config": src.model.cfg.to_dict(), "whisper": whisper_info, "onnx": None,
        "source": describe_source(src), "provenance": _provenance(reports_dir),
        "packages": _packages(onnx),
    }
    with atomic_dir(out_dir) as tmp:
        save_model(network.model, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        if whisper:
            save_whisper(encoder, extractor, tmp / WHISPER_DIR)
        if onnx:
            config["onnx"] = export_onnx(network, mel, tmp / ONNX_FILE)
            diff = onnx_parity(network, mel, tmp / ONNX_FILE, parity_windows(src.num_samples))
            if not diff <= PARITY_ATOL:
                raise RuntimeError(f"ONNX Runtime differs from PyTorch by {diff:.2e} "
                                   f"(> {PARITY_ATOL:g}) on the export's test windows")
            config["onnx"]["parity_max_abs_diff"] = diff
        write_json(tmp / CONFIG_FILE, config)
        cite = Citations(run_files(run_dir, reports_dir, tmp / CONFIG_FILE))
        (tmp / CARD_FILE).write_text(model_card(config, cite))
        check_no_pickle(tmp)
        umask = current_umask()  # safetensors writes its files 0600; the folder is for sharing
        for path in tmp.rglob("*"):
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)
    return config


def check_no_pickle(folder: Path) -> None:
    """Refuse a folder with anything but JSON, markdown, safetensors and ONNX (+ its external
    data) in it: those formats hold data only, so loading the folder runs no code from it."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(folder)
        if path.suffix not in SAFE_SUFFIXES:
            raise RuntimeError(f"{name}: not one of {', '.join(SAFE_SUFFIXES)}; the export "
                               "holds no pickle or other code-carrying format")
        if path.suffix == ".safetensors":
            with open(path, "rb") as fh:
                head = fh.read(9)
            if len(head) < 9 or head[8:9] != b"{":  # u64 header length, then the JSON header
                raise RuntimeError(f"{name}: not a safetensors file")


def _provenance(reports_dir: Path) -> dict | None:
    """The run's fingerprint (``reports/summary.json``), when the run has one."""
    path = reports_dir / "summary.json"
    if not path.is_file():
        return None
    fp = json.loads(path.read_text()).get("fingerprint") or {}
    keep = ("git_commit", "git_dirty", "params_profile", "params_digest", "dvc_inputs",
            "packages", "python", "platform")
    return {k: fp[k] for k in keep if k in fp}


def _packages(onnx: bool) -> dict[str, str]:
    """Versions that wrote the folder (the loader needs these or newer)."""
    import importlib.metadata as md

    names = ["torch", "transformers", "safetensors", "numpy"] + (["onnx", "onnxruntime"] if onnx
                                                                  else [])
    return {n: md.version(n) for n in names}

