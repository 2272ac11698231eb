"""Score audio files with trace models: one record per file, never an exception per file.

    from pipelines.trace import load_trace_model, trace_files
    records = trace_files(["clip.wav", "long.flac"], {"aux": load_trace_model(None, "aux")})

A record (``docs/trace.schema.json``) holds the file, ``status`` ``ok`` or ``error`` with the
reason, what was done to the audio (resampled, down-mixed), warnings, and per task the decided
class, the (calibrated) probabilities averaged over the file's windows, an out-of-distribution
flag, and the per-window timeline. Windows of several files share a forward pass
(``batch_size`` windows at a time), and only that many windows are in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipelines.trace.inputs import (
    MODEL_RATE_HZ,
    SILENT_PEAK,
    TraceInputError,
    WindowPlan,
    iter_windows,
    open_audio,
    probe,
)
from pipelines.trace.knn import KnnOpenSet, unknown_reason
from pipelines.trace.models import TraceModel
from sastnet.crop import repeat_crop
from sastnet.taxonomy import describe_family

SCHEMA = "sastnet-trace/1"


@dataclass(frozen=True)
class TraceOptions:
    rm_sil: bool = False  # drop non-speech (silero-vad) inside each window, as the rm_sil view
    batch_size: int = 16  # windows per forward pass
    ood_confidence: float = 0.5  # top probability below this flags the clip as unlike training
    # a kNN index folder (docs/knn.md), or one loaded once (a server): its open-set flag
    # replaces the confidence rule for ood
    knn_index: str | Path | KnnOpenSet | None = None
    progress: bool | None = None  # None: a bar when there are 20 files or more


def _new_record(name: str) -> dict:
    return {"file": name, "status": "ok", "error": None, "audio": None, "warnings": [],
            "family": None, "results": {}, "knn": None}


def _fail(record: dict, reason: str) -> None:
    record.update(status="error", error=reason, results={}, family=None)


def error_record(name: str, reason: str) -> dict:
    """The record of an input that could not be scored (schema ``#/$defs/record``)."""
    record = _new_record(name)
    _fail(record, reason)
    return record


class _Speech:
    """silero-vad speech regions of a 16 kHz window (loaded on first use; shipped in the wheel)."""

    def __init__(self) -> None:
        from silero_vad import load_silero_vad

        from pipelines.params.vad import VadParams

        self.model, self.cfg = load_silero_vad(), VadParams()

    def keep_speech(self, wave: np.ndarray) -> np.ndarray:
        from pipelines.dataset.vad import speech_segments
        from sastnet.silence import rm_sil

        return rm_sil(wave, speech_segments(wave, self.model, self.cfg, MODEL_RATE_HZ))


def _windows(source, record: dict, model: TraceModel, speech: _Speech | None
             ) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(start, length, model input)`` for each window of one file; fills ``record`` as it goes."""
    handle = open_audio(source)
    try:
        info = probe(handle)
        if record["audio"] is None:
            record["audio"] = info.to_dict()
            record["warnings"].extend(info.notes)
        total = info.model_samples
        if total < model.min_samples:
            raise TraceInputError(
                f"too short: {total / MODEL_RATE_HZ:.3f} s; the {model.task} model needs at least "
                f"{model.min_samples / MODEL_RATE_HZ:.2f} s (half its "
                f"{model.num_samples / MODEL_RATE_HZ:.2f} s input)")
        if total < model.num_samples:
            record["warnings"].append(
                f"{model.task}: {total / MODEL_RATE_HZ:.2f} s is shorter than the model's "
                f"{model.num_samples / MODEL_RATE_HZ:.2f} s input: repeated to fill it")
        silent = no_speech = 0
        for start, wave in iter_windows(handle, info, WindowPlan.for_length(total, model.num_samples)):
            length = len(wave)
            if np.abs(wave).max() < SILENT_PEAK:
                silent += 1
            if speech is not None:
                kept = speech.keep_speech(wave)
                if len(kept):
                    wave = kept
                else:
                    no_speech += 1
            yield start, length, repeat_crop(wave, model.num_samples)
        if silent:
            record["warnings"].append(f"{silent} window(s) are digital silence")
        if no_speech:
            record["warnings"].append(f"rm_sil: no speech found in {no_speech} window(s): "
                                      "scored with their silence")
    finally:
        handle.close()


def _finish(record: dict, task: str, model: TraceModel, windows: list[dict],
            options: TraceOptions) -> None:
    probs = np.array([[w["probabilities"][c] for c in model.classes] for w in windows])
    weights = np.array([w["end_s"] - w["start_s"] for w in windows])
    mean = (probs * weights[:, None]).sum(0) / weights.sum()
    best = int(mean.argmax())
    confidence = float(mean[best])
    ood = confidence < options.ood_confidence
    record["results"][task] = {
        "decision": model.classes[best],
        "probabilities": {c: float(p) for c, p in zip(model.classes, mean)},
        "confidence": confidence,
        "calibrated": model.calibrated,
        "ood": ood,
        "ood_reason": (f"low confidence ({confidence:.2f} < {options.ood_confidence:.2f}): the clip "
                       "may come from a codec or condition unlike the training data; the label "
                       "is a closed-set guess") if ood else None,
        "ood_source": "confidence",
        "windows": windows,
    }


def _score_pending(model: TraceModel, pending: list[tuple[int, int, int, np.ndarray]],
                   windows: dict[int, list[dict]]) -> None:
    """Score the ``pending`` windows (file index, start, length, wave) as one batch, add each
    to its file's ``windows`` and empty ``pending``."""
    if not pending:
        return
    probs = model.probabilities(np.stack([p[3] for p in pending]))
    for (i, start, length, _), row in zip(pending, probs):
        windows[i].append({
            "start_s": start / MODEL_RATE_HZ, "end_s": (start + length) / MODEL_RATE_HZ,
            "decision": model.classes[int(row.argmax())],
            "probabilities": {c: float(p) for c, p in zip(model.classes, row)}})
    pending.clear()


def trace_files(sources: list, models: dict[str, TraceModel], options: TraceOptions = TraceOptions(),
                names: list[str] | None = None) -> list[dict]:
    """One record per source (a path, or the bytes of an audio file), in input order.

    Args:
        sources: audio file paths, or file contents as bytes.
        models: task -> trace model; every file is scored by each.
        options: see ``TraceOptions``.
        names: what to call each source in the records (default: its path; ``input<i>`` for bytes).
    """
    names = names or [str(s) if isinstance(s, (str, Path)) else f"input{i}"
                      for i, s in enumerate(sources)]
    records = [_new_record(n) for n in names]
    speech = _Speech() if options.rm_sil else None
    show = options.progress if options.progress is not None else len(sources) >= 20
    for task, model in models.items():
        windows: dict[int, list[dict]] = {i: [] for i in range(len(sources))}
        pending: list[tuple[int, int, int, np.ndarray]] = []

        bar = tqdm(total=len(sources), desc=f"trace {task}", unit="file", disable=not show)
        for i, source in enumerate(sources):
            if records[i]["status"] == "error":
                bar.update(1)
                continue
            try:
                for start, length, wave in _windows(source, records[i], model, speech):
                    pending.append((i, start, length, wave))
                    if len(pending) >= options.batch_size:
                        _score_pending(model, pending, windows)
            except TraceInputError as err:
                _fail(records[i], err.reason)
            bar.update(1)
        _score_pending(model, pending, windows)
        bar.close()
        for i, record in enumerate(records):
            if record["status"] == "ok":
                _finish(record, task, model, windows[i], options)
    if options.knn_index is not None:
        open_set = (options.knn_index if isinstance(options.knn_index, KnnOpenSet)
                    else KnnOpenSet(options.knn_index))
        _knn_open_set(sources, records, open_set, options.batch_size)
    for record in records:
        if record["status"] == "ok":
            record["family"] = describe_family({t: r["decision"] for t, r in record["results"].items()})
    return records


def _first_window(source, num_samples: int) -> np.ndarray:
    """The file's first ``num_samples`` at 16 kHz mono (what the kNN index embeds)."""
    handle = open_audio(source)
    try:
        info = probe(handle)
        plan = WindowPlan.for_length(info.model_samples, num_samples)
        return next(iter(iter_windows(handle, info, plan)))[1]
    finally:
        handle.close()


def _knn_open_set(sources: list, records: list[dict], open_set: KnnOpenSet,
                  batch_size: int) -> None:
    """Attribute every scored file against the kNN index; its open-set flag becomes each task's
    ``ood`` (the confidence rule only applies without an index)."""
    ok = [i for i, r in enumerate(records) if r["status"] == "ok"]
    if not ok:
        return
    waves = [_first_window(sources[i], open_set.num_samples) for i in ok]
    for i, knn in zip(ok, open_set.attribute(waves, batch_size)):
        records[i]["knn"] = knn
        reason = unknown_reason(knn, open_set.with_bonafide) if knn["unknown"] else None
        for result in records[i]["results"].values():
            result.update(ood=knn["unknown"], ood_reason=reason, ood_source="knn")
        if knn["unknown"]:
            records[i]["warnings"].append(
                f"kNN: unknown system (nearest {knn['system']}): the "
                f"{'/'.join(t.upper() for t in records[i]['results'])} label is a closed-set guess")


def trace_report(records: list[dict], models: dict[str, TraceModel]) -> dict:
    """The JSON document ``sastnet trace --format json`` prints (``docs/trace.schema.json``)."""
    return {"schema": SCHEMA, "models": {t: m.describe() for t, m in models.items()},
            "files": records}
