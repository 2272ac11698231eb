"""B2 - the loader: WebDataset shards vs one file per clip, warm and cold page cache, 0/1/2
DataLoader workers; and the loader's clips/s against what a training step consumes.

    python -m benchmarks --only loader_throughput

Both sides do the same per-clip work (FLAC decode with soundfile, checks, repeat/crop to
``num_samples``, batches of 8 through the loader's ``collate``); they differ only in I/O: a few
sequential tar reads vs one open + read per file. "Cold" reads a fresh copy whose pages were
written back and dropped from the page cache (``fsync`` + ``posix_fadvise(DONTNEED)``, no root
needed), so every byte comes from the disk; "warm" reads the same copy again at once.

The training loop reads the shards in its own process (``pipelines.train.data``: no DataLoader
workers), so "is the step ever starved" compares the 0-worker loader with the step's own
consumption ``batch / step seconds``, at the tiny shape of the default profile and at the
paper's (SASTNet with XLS-R 300M and Whisper-small shapes, 82,200 samples), the paper side
also reading its precomputed 128 x 768 float16 Whisper features.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from benchmarks.fixtures import real_shards, tone_clips
from benchmarks.measure import Figure, Side, interleaved
from benchmarks.steps import train_step

BATCH = 8  # the default profile's train batch


def evict(paths: list[Path]) -> None:
    """Drop the files' pages from the page cache (written back first), so the next read is cold."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


class FileClips(torch.utils.data.Dataset):
    """One file per clip, decoded like the loader decodes a shard member."""

    def __init__(self, paths: list[str], num_samples: int) -> None:
        self.paths, self.num_samples = paths, num_samples

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        from pipelines.common.audio_io import load_audio
        from sastnet.crop import repeat_crop

        wave = load_audio(self.source(i), sample_rate_hz=16000, name=self.paths[i])
        wave = repeat_crop(wave, self.num_samples)
        return {"key": Path(self.paths[i]).stem, "wave": wave.astype(np.float32, copy=False),
                "labels": {"vq": 0, "aux": 0, "dec": 0, "bin": 0}, "meta": {}}

    def source(self, i: int) -> str | bytes:
        """What ``load_audio`` reads for clip ``i``: its path."""
        return self.paths[i]


class HttpClips(FileClips):
    """One object per clip behind an HTTP server: one GET per clip (an object store's layout),
    decoded like a shard member."""

    def source(self, i: int) -> bytes:
        from urllib.request import urlopen

        with urlopen(self.paths[i], timeout=30) as response:
            return response.read()


@contextlib.contextmanager
def http_server(directory: Path):
    """``python -m http.server`` on a free loopback port, serving ``directory``; yields its base
    URL. A separate process: the server's work does not share the reader's interpreter."""
    proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                             "--directory", str(directory)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 45678 (http://...) ..."
        match = re.search(r"port (\d+)", line)
        if match is None:
            raise RuntimeError(f"http.server did not start: {line!r}")
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def shards_vs_objects(root: Path, files: list[str], shards: list[str], num_samples: int,
                      repeats: int, workers: tuple[int, ...]) -> tuple[list[Figure], dict]:
    """The same clips read over HTTP (a local server on the loopback): one GET per clip vs one
    streamed GET per shard (``webdataset`` opens ``http://`` URLs with curl). The loopback has
    no network latency: a real object store's 10-50 ms per request widens the gap."""
    from pipelines.dataset.loader import make_dataset

    clips = len(files)
    served = root / "served"
    copy_tree(Path(files[0]).parent, served / "audio")
    copy_tree(Path(shards[0]).parent, served / "shards")
    figures, raw = [], {}
    with http_server(served) as base:
        file_urls = [f"{base}/audio/{Path(f).name}" for f in files]
        shard_urls = [f"{base}/shards/{Path(s).name}" for s in shards]

        def side(kind: str, w: int):
            def go():
                ds = HttpClips(file_urls, num_samples) if kind == "objects" else make_dataset(
                    shard_urls, num_samples=num_samples, split_by_node=False, split_by_worker=True)
                n = count_clips(ds, w)
                assert n == clips, f"{kind} over http: {n} clips, expected {clips}"
            return go

        for w in workers:
            t = interleaved({"objects": side("objects", w), "shards": side("shards", w)},
                            repeats, warmup=True)
            raw[f"http_{w}w"] = {k: list(v.seconds) for k, v in t.items()}
            figures.append(Figure(
                f"B2.http_{w}w", f"loader over HTTP (local object server), {w} DataLoader "
                f"worker{'s' if w != 1 else ''}: one GET per clip vs one per shard", "clips/s",
                True, Side.of_rate("files (GET per clip)", t["objects"], clips),
                Side.of_rate("shards (GET per shard)", t["shards"], clips)))
    return figures, raw


def count_clips(dataset, workers: int) -> int:
    from pipelines.dataset.loader import collate

    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, num_workers=workers,
                                         collate_fn=collate)
    return sum(len(b["key"]) for b in loader)


def copy_tree(src: Path, dst: Path) -> list[Path]:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return sorted(p for p in dst.rglob("*") if p.is_file())


def shards_vs_files(root: Path, files: list[str], shards: list[str], num_samples: int,
                    repeats: int, workers: tuple[int, ...]) -> tuple[list[Figure], dict]:
    from pipelines.dataset.loader import make_dataset

    clips = len(files)
    audio_dir, shard_dir = Path(files[0]).parent, Path(shards[0]).parent
    cold_files, cold_shards = root / "cold" / "audio", root / "cold" / "shards"
    fresh = {"files": copy_tree(audio_dir, cold_files), "shards": copy_tree(shard_dir, cold_shards)}
    file_list = [str(cold_files / Path(f).name) for f in files]
    shard_list = [str(cold_shards / Path(s).name) for s in shards]

    def side(kind: str, w: int, cold: bool):
        def go():
            if cold:
                evict(fresh[kind])
            ds = FileClips(file_list, num_samples) if kind == "files" else make_dataset(
                shard_list, num_samples=num_samples, split_by_node=False, split_by_worker=True)
            n = count_clips(ds, w)
            assert n == clips, f"{kind}: {n} clips, expected {clips}"
        return go

    figures, raw = [], {}
    for cache in ("cold", "warm"):
        for w in workers:
            t = interleaved({"files": side("files", w, cache == "cold"),
                             "shards": side("shards", w, cache == "cold")}, repeats,
                            warmup=cache == "warm")
            raw[f"{cache}_{w}w"] = {k: list(v.seconds) for k, v in t.items()}
            figures.append(Figure(f"B2.{cache}_{w}w", f"loader, {cache} page cache, "
                                  f"{w} DataLoader worker{'s' if w != 1 else ''}", "clips/s", True,
                                  Side.of_rate("files", t["files"], clips),
                                  Side.of_rate("shards", t["shards"], clips)))
    return figures, raw


def decode_and_shard_size(root: Path, manifest, shards: list[str], num_samples: int, repeats: int,
                          small_per_shard: int | None) -> list[Figure]:
    """Where the loader's time goes: reading the tar members alone vs the whole loader (decode,
    checks, crop) on a warm cache; and, when ``small_per_shard`` is given, small vs the default
    shards on a cold cache (more files, more opens)."""
    from webdataset.tariterators import tarfile_samples

    from benchmarks.fixtures import real_shards
    from pipelines.dataset.loader import make_dataset

    clips = len(manifest)

    def full(paths=shards):
        assert count_clips(make_dataset(paths, num_samples=num_samples, split_by_node=False,
                                        split_by_worker=False), 0) == clips

    def raw():
        assert sum(1 for _ in tarfile_samples([{"url": u} for u in shards])) == clips

    t = interleaved({"full": full, "raw": raw}, repeats, warmup=True)
    figures = [Figure("B2.decode_share", "shards, warm cache: the whole loader vs reading the "
                      "tar members only (no FLAC decode, no crop)", "clips/s", True,
                      Side.of_rate("loader", t["full"], clips), Side.of_rate("read only", t["raw"], clips),
                      note="ratio = how much faster the loader would be if decoding were free")]
    if small_per_shard:
        small = real_shards(root / "small", manifest, small_per_shard)
        files = {"small": [Path(p) for p in small], "default": [Path(p) for p in shards]}

        def cold(kind: str):
            def go():
                evict(files[kind])
                full([str(p) for p in files[kind]])
            return go
        t = interleaved({"small": cold("small"), "default": cold("default")}, repeats)
        figures.append(Figure(
            "B2.shard_size_cold", f"shards, cold cache: {small_per_shard} vs "
            f"{clips // max(len(shards), 1)} clips per shard", "clips/s", True,
            Side.of_rate(f"{len(small)} shards", t["small"], clips),
            Side.of_rate(f"{len(shards)} shards", t["default"], clips)))
    return figures


def feature_shards(shards: list[str], feature_root: Path, d_model: int) -> str:
    """Random float16 ``128 x d_model`` feature shards mirroring ``shards`` (the loader's join)."""
    from pipelines.whisper.feature_shards import sample_keys, write_feature_shard

    rng = np.random.default_rng(0)
    for shard in shards:
        keys = sample_keys(shard)
        dst = feature_root / Path(shard).parent.name / Path(shard).name
        dst.parent.mkdir(parents=True, exist_ok=True)
        write_feature_shard(dst, keys, rng.standard_normal((len(keys), 128, d_model)))
    return str(feature_root)


def loader_vs_step(root: Path, shards: list[str], clips: int, repeats: int,
                   shapes: dict[str, dict]) -> tuple[list[Figure], dict]:
    """The training loop's in-process loader vs the clips/s one step consumes, per shape."""
    from pipelines.dataset.loader import make_dataset

    figures, detail = [], {}
    for size, shape in shapes.items():
        feature_dir = (feature_shards(shards, root / f"features_{size}", shape["whisper_dim"])
                       if shape.get("whisper_dim") else None)

        def read(n=shape["num_samples"], fd=feature_dir):
            assert count_clips(make_dataset(shards, num_samples=n, feature_dir=fd,
                                            split_by_node=False, split_by_worker=False), 0) == clips
        loader_t = interleaved({"loader": read}, repeats, warmup=True)["loader"]
        step_t = train_step(shape["variant"], size, shape["batch"], shape["num_samples"],
                            shape["steps"])
        step_side = Side.of_rate(f"step ({shape['variant']} b{shape['batch']})", step_t,
                                 shape["batch"])
        figures.append(Figure(
            f"B2.loader_vs_step_{size}", f"{size} shape: clips/s the step consumes vs the "
            "loader gives (in-process, warm)", "clips/s", True, step_side,
            Side.of_rate("loader", loader_t, clips),
            note=f"ratio = how many times faster the loader is than the {size} step needs "
                 f"(> 1: never starved); step {step_t.best_s:.3f} s for batch {shape['batch']}"))
        detail[size] = {**shape, "step_s": list(step_t.seconds), "loader_s": list(loader_t.seconds),
                        "loader_share_of_epoch": round(
                            (loader_t.best_s / clips) / (step_t.best_s / shape["batch"]), 4)}
    return figures, detail


def run(work: Path, *, clips: int, mean_seconds: float, num_samples: int, samples_per_shard: int,
        repeats: int, workers: tuple[int, ...] = (0, 1, 2), shapes: dict | None = None,
        small_per_shard: int | None = None) -> dict:
    """B2 figures: shards vs files per cache state and worker count; loader vs step per shape."""
    manifest = tone_clips(work, clips, mean_seconds)
    shards = real_shards(work, manifest, samples_per_shard)
    files = manifest["path"].tolist()
    figures, raw = shards_vs_files(work, files, shards, num_samples, repeats, tuple(workers))
    http_figures, http_raw = shards_vs_objects(work, files, shards, num_samples, repeats,
                                               tuple(workers))
    figures, raw = figures + http_figures, {**raw, **http_raw}
    extra = decode_and_shard_size(work, manifest, shards, num_samples, repeats, small_per_shard)
    step_figures, step_detail = loader_vs_step(work, shards, clips, repeats, shapes or {})
    wins = [f for f in figures if f.ratio > 1]
    best = max(figures, key=lambda f: f.ratio)
    notes = [f"shards beat files in {len(wins)} of {len(figures)} configurations; most at "
             f"{best.id} ({best.ratio:.2f}x)"]
    return {"figures": [f.to_dict() for f in figures + extra + step_figures],
            "details": {"clips": clips, "shards": len(shards), "samples_per_shard": samples_per_shard,
                        "mean_clip_s": mean_seconds, "num_samples": num_samples,
                        "batch": BATCH, "seconds": raw, "loader_vs_step": step_detail},
            "notes": notes}


TINY = {"variant": "sastnet", "num_samples": 24_000, "batch": 8, "whisper_dim": 384, "steps": 4}
PAPER = {"variant": "sastnet", "num_samples": 82_200, "batch": 1, "whisper_dim": 768, "steps": 2}  # = B1 quick
QUICK = {"clips": 480, "mean_seconds": 3.0, "num_samples": 24_000, "samples_per_shard": 60,
         "repeats": 3, "shapes": {"tiny": TINY, "paper": PAPER}}
FULL = {**QUICK, "clips": 1200, "samples_per_shard": 150, "repeats": 5, "small_per_shard": 10,
        "shapes": {"tiny": {**TINY, "steps": 10}, "paper": {**PAPER, "batch": 2, "steps": 3}}}  # = B1 full
SMOKE = {"clips": 24, "mean_seconds": 1.0, "num_samples": 8000, "samples_per_shard": 6,
         "repeats": 1, "workers": (0, 1),
         "shapes": {"tiny": {**TINY, "num_samples": 8000, "batch": 2, "steps": 1}}}
