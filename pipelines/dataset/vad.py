"""Speech timestamps for every clip with silero-vad, in parallel Ray tasks over batches of clips.

    python -m stages.vad                       # DVC stage: data/resynth/manifest.parquet -> data/vad/
    RAY_ADDRESS=auto python -m stages.vad      # the same code on a running Ray cluster

Each task loads the silero model once for its batch and runs torch on one thread, so a node
runs as many tasks as it has CPUs. A clip silero finds no speech in is kept (``has_speech`` false,
no segments) and counted; a file that cannot be read gets an ``error`` instead of stopping the run.

silero-vad vs the release's WebRTC VAD: WebRTC classifies each 30 ms frame independently with a
GMM (aggressiveness 3 = most eager to call a frame non-speech); silero is a small neural network
scoring 32 ms windows (512 samples at 16 kHz) whose speech probabilities are turned into regions
with a threshold and hysteresis. ``pipelines/params/vad.py`` keeps the frame-level logic (no
padding, 30 ms minimum speech and silence) so gaps between words are removed as in the release.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import ray
from tqdm import tqdm

from pipelines.common.audio_io import AudioError, load_audio
from pipelines.common.determinism import configure_torch, ray_runtime_env
from pipelines.common.ray_local import connect_or_start_ray, shutdown_ray
from pipelines.params.vad import VadParams
from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.silence import speech_fraction

VAD_SCHEMA = pa.schema([
    ("key", pa.string()),
    ("segments", pa.list_(pa.list_(pa.int64()))),  # [start, end) speech regions in samples
    ("has_speech", pa.bool_()),
    ("speech_fraction", pa.float32()),
    ("num_samples", pa.int64()),
    ("error", pa.string()),  # why the clip could not be read; null when it could
    ("segments_from", pa.string()),  # the clip whose VAD gave ``segments`` (itself or its pair)
])
VAD_COLUMNS = VAD_SCHEMA.names


def write_vad(frame: pd.DataFrame, path) -> None:
    """Write timestamps with the fixed schema (an all-empty ``segments`` column keeps its type)."""
    pq.write_table(pa.Table.from_pandas(frame[VAD_COLUMNS], schema=VAD_SCHEMA, preserve_index=False), path)


def read_vad(path) -> pd.DataFrame:
    """Read ``timestamps.parquet``; ``segments`` become lists of ``[start, end]`` lists."""
    frame = pq.read_table(path, schema=VAD_SCHEMA).to_pandas()
    frame["segments"] = [[list(map(int, s)) for s in segs] for segs in frame["segments"]]
    return frame


def _stamps_kwargs(cfg: VadParams, sample_rate_hz: int) -> dict:
    return {"threshold": cfg.threshold, "sampling_rate": sample_rate_hz,
            "min_speech_duration_ms": cfg.min_speech_duration_ms,
            "min_silence_duration_ms": cfg.min_silence_duration_ms, "speech_pad_ms": cfg.speech_pad_ms}


def speech_segments(wave, model, cfg: VadParams, sample_rate_hz: int = SAMPLE_RATE_HZ) -> list[list[int]]:
    """``[start, end)`` speech regions of one clip, in samples (silero's reference path)."""
    import torch
    from silero_vad import get_speech_timestamps

    stamps = get_speech_timestamps(torch.from_numpy(wave), model, **_stamps_kwargs(cfg, sample_rate_hz))
    return [[int(s["start"]), int(s["end"])] for s in stamps]


MAX_PADDING = 2.0  # a forward pass scores at most twice the audio it holds (padding included)


def length_groups(lengths: list[int], forward_batch: int, max_padding: float = MAX_PADDING
                  ) -> list[list[int]]:
    """Indices of clips scored together: sorted by length, at most ``forward_batch`` per group,
    and a clip joins a group only while the zero-padded batch (``len(group) x longest``) stays
    within ``max_padding`` times the group's own samples. A long clip among short ones is thus
    scored alone: memory and time follow the audio, not ``clips x longest clip``."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    total = 0
    for i in order:
        group = groups[-1] if groups else None
        if (group is not None and len(group) < forward_batch
                and (len(group) + 1) * lengths[i] <= max_padding * (total + lengths[i])):
            group.append(i)
            total += lengths[i]
        else:
            groups.append([i])
            total = lengths[i]
    return groups


def speech_segments_batch(waves: list, model, cfg: VadParams, sample_rate_hz: int = SAMPLE_RATE_HZ,
                          max_padding: float = MAX_PADDING) -> list[list[list[int]]]:
    """``speech_segments`` for many clips at once: identical output, 3-6x faster on CPU
    (``benchmarks/vad_batching.py``).

    silero scores 512-sample windows with a causal recurrent state, so clips zero-padded to a
    common length and scored together (``model.audio_forward`` on a (B, T) batch) get the same
    probabilities for their own windows as one by one; silero's own
    ``get_speech_timestamps_from_probs`` then turns each clip's probabilities into regions.
    Clips are grouped by length (``length_groups``) so padding wastes little: a 10-minute clip
    among short ones is scored alone (``benchmarks/vad_long_clip.py``).
    """
    import torch
    from silero_vad.utils_vad import get_speech_timestamps_from_probs

    window = 512 if sample_rate_hz == SAMPLE_RATE_HZ else 256
    out: list[list[list[int]]] = [[] for _ in waves]
    for group in length_groups([len(w) for w in waves], cfg.forward_batch, max_padding):
        batch = torch.zeros(len(group), max(len(waves[i]) for i in group))
        for row, i in enumerate(group):
            batch[row, :len(waves[i])] = torch.from_numpy(waves[i])
        probs = model.audio_forward(batch, sample_rate_hz)
        del batch
        for row, i in enumerate(group):
            windows = -(-len(waves[i]) // window)
            stamps = get_speech_timestamps_from_probs(
                probs[row, :windows].tolist(), audio_length_samples=len(waves[i]),
                **_stamps_kwargs(cfg, sample_rate_hz))
            out[i] = [[int(s["start"]), int(s["end"])] for s in stamps]
    return out


def vad_batch(clips: list[tuple[str, str]], cfg: dict, sample_rate_hz: int) -> list[dict]:
    """Run silero-vad on ``(key, path)`` clips; one record per clip (see ``VAD_COLUMNS``)."""
    from silero_vad import load_silero_vad

    configure_torch(threads=1)  # the same bits whichever worker, whatever the load
    params = VadParams(**cfg)
    model = load_silero_vad()  # shipped inside the wheel: no network
    records, readable, waves = [], [], []
    for key, path in clips:
        try:
            waves.append(load_audio(path, sample_rate_hz=sample_rate_hz))
            readable.append(len(records))
            records.append({"key": key, "error": None})
        except AudioError as err:
            records.append({"key": key, "segments": [], "has_speech": False, "speech_fraction": 0.0,
                            "num_samples": 0, "error": f"{err.reason} ({err.fix})"})
    all_segments = speech_segments_batch(waves, model, params, sample_rate_hz)
    for pos, wave, segments in zip(readable, waves, all_segments):
        records[pos].update(segments=segments, has_speech=bool(segments),
                            speech_fraction=speech_fraction(segments, len(wave)), num_samples=len(wave))
    return records


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def run_vad(manifest: pd.DataFrame, cfg: VadParams, sample_rate_hz: int = SAMPLE_RATE_HZ) -> pd.DataFrame:
    """Speech timestamps for every clip of ``manifest`` (columns ``key``, ``path``).

    Returns a frame with ``VAD_COLUMNS`` in manifest order.
    """
    clips = list(zip(manifest["key"].astype(str), manifest["path"].astype(str)))
    started = connect_or_start_ray(num_cpus=cfg.local_num_cpus(), include_dashboard=False,
                                   log_to_driver=False, runtime_env=ray_runtime_env())
    try:
        task = ray.remote(num_cpus=1)(vad_batch)
        pending = [task.remote(batch, asdict(cfg), sample_rate_hz)
                   for batch in _batches(clips, cfg.batch_clips)]
        records: list[dict] = []
        with tqdm(total=len(clips), desc="vad", unit="clip") as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                batch = ray.get(done[0])
                records.extend(batch)
                bar.update(len(batch))
    finally:
        if started:
            shutdown_ray()
    order = {key: i for i, (key, _) in enumerate(clips)}
    frame = pd.DataFrame.from_records(records, columns=VAD_COLUMNS)
    frame["segments_from"] = frame["key"]
    return frame.sort_values("key", key=lambda s: s.map(order)).reset_index(drop=True)


def borrow_pair_segments(frame: pd.DataFrame, manifest: pd.DataFrame, sample_rate_hz: int = SAMPLE_RATE_HZ,
                         max_length_diff_ms: float = 20.0) -> pd.DataFrame:
    """Time-aligned resyntheses take the speech regions of their bona fide source clip.

    A row of ``manifest`` with a ``pair_key`` other than its own key is a resynthesis of that
    bona fide clip. When both were read and their lengths differ by at most
    ``max_length_diff_ms``, the resynthesis gets the source's ``segments`` (cut to its own
    length), ``has_speech`` and ``speech_fraction``, and ``segments_from`` names the source.
    Other rows (generated clips, unreadable files, shifted outputs) keep their own VAD.
    """
    frame = frame.copy()
    pair_of = dict(zip(manifest["key"].astype(str), manifest["pair_key"].astype(str)))
    by_key = {key: i for i, key in enumerate(frame["key"])}
    tolerance = max_length_diff_ms * sample_rate_hz / 1000
    for i, key in enumerate(frame["key"]):
        src = by_key.get(pair_of.get(key, key))
        if src is None or src == i:
            continue
        own, source = frame.iloc[i], frame.iloc[src]
        if pd.notna(own["error"]) or pd.notna(source["error"]):
            continue
        n = int(own["num_samples"])
        if abs(n - int(source["num_samples"])) > tolerance:
            continue
        segments = [[s, min(e, n)] for s, e in source["segments"] if s < n]
        frame.at[i, "segments"] = segments
        frame.at[i, "has_speech"] = bool(segments)
        frame.at[i, "speech_fraction"] = speech_fraction(segments, n)
        frame.at[i, "segments_from"] = source["key"]
    return frame


def world_summary(frame: pd.DataFrame, manifest: pd.DataFrame, crop_samples: int) -> dict:
    """What each set holds, from every clip's *own* VAD (run before ``borrow_pair_segments``):
    per subset (CoRS / CoSG) and kind (bona fide / spoof), the clips, the share of their audio
    that is speech, the share of the first ``crop_samples`` (what the models see) that is
    speech, clips with no speech, and the median leading and trailing silence in seconds.
    The CoSG world must look like speech with short boundary silences (docs/corpus.md)."""
    rows = frame[frame["error"].isna()].merge(manifest[["key", "subset", "codec"]], on="key")
    out: dict = {}
    for (subset, spoof), group in rows.groupby([rows["subset"], rows["codec"] != "bonafide"],
                                               sort=True):
        n = group["num_samples"].astype(int).to_numpy()
        segs = group["segments"].tolist()
        lead = [s[0][0] / SAMPLE_RATE_HZ for s in segs if len(s)]
        trail = [(k - s[-1][1]) / SAMPLE_RATE_HZ for s, k in zip(segs, n) if len(s)]
        crop = [speech_fraction([[a, min(b, crop_samples)] for a, b in s if a < crop_samples],
                                min(k, crop_samples)) for s, k in zip(segs, n)]
        out[f"{subset}/{'spoof' if spoof else 'bonafide'}"] = {
            "clips": len(group),
            "speech_share": round(float(np.sum([speech_fraction(s, k) * k for s, k in zip(segs, n)])
                                        / max(n.sum(), 1)), 4),
            "speech_share_crop": round(float(np.mean(crop)), 4),
            "no_speech_clips": int((~group["has_speech"].astype(bool)).sum()),
            "median_lead_silence_s": round(float(np.median(lead)), 3) if lead else None,
            "median_trail_silence_s": round(float(np.median(trail)), 3) if trail else None,
        }
    return out


def vad_summary(frame: pd.DataFrame) -> dict:
    """Counts for the report: clips, clips without speech, unreadable clips, mean speech fraction."""
    readable = frame[frame["error"].isna()]
    borrowed = frame["segments_from"].notna() & (frame["segments_from"] != frame["key"])
    return {
        "clips": len(frame),
        "segments_from_pair": int(borrowed.sum()),
        "no_speech": int((~readable["has_speech"]).sum()),
        "no_speech_keys": readable.loc[~readable["has_speech"], "key"].tolist()[:100],
        "errors": int(frame["error"].notna().sum()),
        "error_clips": frame.loc[frame["error"].notna(), ["key", "error"]].to_dict("records")[:100],
        "mean_speech_fraction": float(readable["speech_fraction"].mean()) if len(readable) else 0.0,
    }
