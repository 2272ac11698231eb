"""Ray job: frozen Whisper encoder features for every audio shard, computed once.

    python -m pipelines.whisper.features                                  # params.yaml `features`, local Ray
    python -m pipelines.whisper.features --actors 4 --variant fast        # overrides
    RAY_ADDRESS=auto python -m pipelines.whisper.features                 # an existing cluster
    ray job submit --working-dir . -- /path/to/venv/bin/python -m pipelines.whisper.features

A pool of Ray actors each loads the frozen encoder once and turns
whole audio shards ``data/shards/<split>/shard-*.tar`` into feature shards
``data/features/<split>/shard-*.tar`` (see ``pipelines.whisper.feature_shards``). A clip found in
several splits is encoded once, by its first shard, and copied into the others. The driver records
each finished shard in ``data/features/index.json`` as soon as it arrives, so a killed job
resumes where it stopped. The index holds only what the shards are (hashes, counts), never how
long they took: timings go to ``reports/timings/features.json`` (outside DVC), so a resumed run
leaves ``data/features`` with the same DVC hash as one that ran through. On a multi-node
cluster, ``data/`` must be on a shared filesystem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import ray
import typer
from tqdm import tqdm

from pipelines.common.determinism import configure_torch, ray_runtime_env
from pipelines.common.io import write_json
from pipelines.common.process import stage_process
from pipelines.common.ray_local import connect_or_start_ray, shutdown_ray
from pipelines.params.features import FeaturesParams
from pipelines.whisper.feature_shards import INDEX_NAME, extract_shard, is_done, sample_keys


class FeatureWorker:
    """One frozen Whisper encoder; turns whole audio shards into feature shards."""

    def __init__(self, cfg: FeaturesParams) -> None:
        started_at, started = time.time(), time.perf_counter()
        import transformers.models.whisper.modeling_whisper  # noqa: F401 - lazy in transformers
        from transformers import WhisperFeatureExtractor  # (~2 s): timed as import, not as load

        from sastnet.whisper import load_whisper_encoder

        imported = time.perf_counter()
        configure_torch(threads=cfg.threads_per_actor)
        self.cfg = cfg
        self.faithful = cfg.variant == "faithful"
        seconds = None if self.faithful else cfg.fast_seconds
        self.encoder = load_whisper_encoder(cfg.model, max_source_seconds=seconds)
        self.feature_extractor = WhisperFeatureExtractor.from_pretrained(
            cfg.model, local_files_only=True)
        # the actor's fixed cost, reported once with its first shard (run_shard_actors' timing)
        self.startup = {"started_at": started_at, "import_s": imported - started,
                        "load_s": time.perf_counter() - imported}
        self.encode_s = 0.0

    transform = None  # (key, wave) -> wave before encoding; ViewFeatureWorker's RawBoost view

    def ready(self) -> bool:
        """Returns once the encoder is loaded (the constructor has run)."""
        return True

    def encode(self, waves):
        from sastnet.whisper import whisper_features

        start = time.perf_counter()
        out = whisper_features(self.encoder, self.feature_extractor, waves, faithful=self.faithful)
        self.encode_s += time.perf_counter() - start
        return out

    def extract(self, rel: str, src: str, dst: str, borrowed: dict[str, str]) -> tuple[str, dict]:
        start, self.encode_s = time.perf_counter(), 0.0
        record = extract_shard(self.encode, src, dst, num_samples=self.cfg.num_samples,
                               batch_size=self.cfg.batch_size, borrowed=borrowed,
                               rm_sil=self.cfg.rm_sil, transform=self.transform)
        record["seconds"] = round(time.perf_counter() - start, 3)
        record["encode_s"] = round(self.encode_s, 3)  # the rest of `seconds` is shard I/O + decode
        if self.startup:
            record["startup_s"], self.startup = self.startup, None
        return rel, record


def model_fingerprint(model: str) -> str:
    """SHA-256 over a local model directory's config and weight files (the id for a hub id)."""
    path = Path(model)
    if not path.is_dir():
        return model
    digest = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.suffix in (".json", ".safetensors", ".bin"):
            digest.update(f.name.encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


def settings_of(cfg: FeaturesParams) -> dict:
    """What the features depend on; a change invalidates every finished shard."""
    return {"model": cfg.model, "model_sha256": model_fingerprint(cfg.model),
            "variant": cfg.variant, "num_samples": cfg.num_samples, "rm_sil": cfg.rm_sil,
            "fast_seconds": cfg.fast_seconds if cfg.variant == "fast" else None}


def plan_shards(shards_dir: Path, out_dir: Path, splits: list[str] | None = None
                ) -> list[tuple[str, Path, Path]]:
    """(relative path, audio shard, feature shard) for every ``<split>/shard-*.tar``
    (only the given ``splits`` when not None)."""
    sources = sorted(s for s in shards_dir.glob("*/shard-*.tar")
                     if splits is None or s.parent.name in splits)
    if not sources:
        raise FileNotFoundError(f"no audio shards under {shards_dir}/<split>/shard-*.tar"
                                f"{' for splits ' + ', '.join(splits) if splits else ''}; "
                                "build them first (`dvc repro shard`)")
    return [(str(s.relative_to(shards_dir)), s, out_dir / s.relative_to(shards_dir)) for s in sources]


def plan_reuse(plan: list[tuple[str, Path, Path]]) -> dict[str, dict[str, str]]:
    """Per shard, ``key -> owner shard`` for its clips owned by an earlier shard.

    A clip (key) appears in several splits (the per-task training lists share the bona fide
    clips, ``cosg_known`` is inside ``cosg_all``). Its first shard in plan order owns it and
    encodes it; later shards copy its features once the owner is finished. Ownership depends
    on the plan only, so the output is the same for any number of actors.
    """
    owner: dict[str, str] = {}
    borrows: dict[str, dict[str, str]] = {}
    for rel, src, _ in plan:
        keys = sample_keys(src)
        borrows[rel] = {k: owner[k] for k in keys if k in owner and owner[k] != rel}
        for k in keys:
            owner.setdefault(k, rel)
    return borrows


def _run_pool(actors: list, todo: list[tuple[str, str, str]], borrows: dict[str, dict[str, str]],
              out_dir: Path, done: set[str]):
    """Yield (rel, record) as shards finish; a shard starts once every owner it copies from is done.

    Biggest shards first (by bytes): a shard is the unit of work, and a run has few of them
    (the default run: 7 shards of 36-256 clips), so starting a big one last leaves the other
    actors idle while it finishes. The output does not depend on the order (``plan_reuse``).
    """
    pending = sorted(todo, key=lambda job: -Path(job[1]).stat().st_size)
    running, idle = {}, list(actors)
    while pending or running:
        for job in [j for j in pending if set(borrows[j[0]].values()) <= done]:
            if not idle:
                break
            pending.remove(job)
            borrowed = {k: str(out_dir / owner) for k, owner in borrows[job[0]].items()}
            actor = idle.pop()
            running[actor.extract.remote(*job, borrowed)] = actor
        if not running:
            raise RuntimeError(f"features: {len(pending)} shards wait on shards that never finish")
        [ref], _ = ray.wait(list(running), num_returns=1)
        idle.append(running.pop(ref))
        rel, record = ray.get(ref)
        done.add(rel)
        yield rel, record


def _load_index(out_dir: Path, settings: dict) -> dict:
    path = out_dir / INDEX_NAME
    if path.is_file():
        index = json.loads(path.read_text())
        if index.get("settings") == settings:
            for record in index["shards"].values():
                record.pop("seconds", None)  # written by older versions: a timing, not content
            return index
    return {"settings": settings, "complete": False, "shards": {}}


def run_shard_actors(shards_dir: str | Path, out_dir: str | Path, settings: dict,
                     worker_cls: type, worker_args: tuple, *, actors: int, cpus_per_actor: int,
                     ray_address: str | None = None, progress: bool = True,
                     splits: list[str] | None = None, desc: str = "features") -> dict:
    """Mirror every audio shard ``<split>/shard-*.tar`` of ``shards_dir`` into ``out_dir`` with
    a pool of Ray actors, resumably; the machinery of the features and embeddings stages.

    Args:
        settings: what the outputs depend on; a change invalidates every finished shard.
        worker_cls, worker_args: the actor class (``extract(rel, src, dst, borrowed) ->
            (rel, record)`` with ``computed``/``reused``/``seconds`` in the record) and its
            constructor arguments.

    Returns:
        clips (all shards), computed clips/shards, skipped shards, wall seconds, clips/s over
        the computed clips (start-up included), actors, clips/s of one busy actor.
    """
    stage_start = time.perf_counter()
    shards_dir, out_dir = Path(shards_dir).resolve(), Path(out_dir).resolve()
    plan = plan_shards(shards_dir, out_dir, splits)
    index = _load_index(out_dir, settings)
    index["complete"] = False
    planned = {rel for rel, _, _ in plan}

    def in_scope(rel: str) -> bool:  # with --splits, other splits' shards stay as they are
        return splits is None or rel.split("/")[0] in splits

    others = {k: v for k, v in index["shards"].items() if not in_scope(k)}
    index["shards"] = {k: v for k, v in index["shards"].items() if k in planned or not in_scope(k)}
    todo = [(rel, str(src), str(dst)) for rel, src, dst in plan
            if not is_done(index["shards"].get(rel), src, dst)]
    borrows = plan_reuse(plan)
    done = {rel for rel, _, _ in plan} - {rel for rel, _, _ in todo}
    for stale in set(out_dir.glob("*/shard-*.tar")) - {dst for _, _, dst in plan}:
        if in_scope(str(stale.relative_to(out_dir))):
            stale.unlink()  # audio shard gone: its mirror must go too
    start, computed, reused, busy_s = time.perf_counter(), 0, 0, 0.0
    # where the stage's wall time goes (a report-only "timing", never in the index)
    timing = {"plan_s": start - stage_start, "ray_start_s": 0.0, "actor_startup_s": [],
              "busy_s": 0.0, "encode_s": 0.0, "shutdown_s": 0.0}
    actors = min(actors, len(todo))
    if todo:
        started = connect_or_start_ray(ray_address, num_cpus=actors * cpus_per_actor,
                                       include_dashboard=False,
                                       runtime_env=ray_runtime_env())
        timing["ray_start_s"] = time.perf_counter() - start
        try:
            remote = ray.remote(num_cpus=cpus_per_actor)(worker_cls)
            pool = [remote.remote(*worker_args) for _ in range(actors)]
            pool_created_at = time.time()
            bar = tqdm(total=len(todo), unit="shard", desc=desc, disable=not progress)
            for rel, record in _run_pool(pool, todo, borrows, out_dir, done):
                busy_s += record.pop("seconds")  # timings: report only, never in the index
                timing["encode_s"] += record.pop("encode_s", 0.0)
                if "startup_s" in record:  # process spawn + module imports until __init__ ran
                    startup = record.pop("startup_s")
                    startup["spawn_s"] = max(startup.pop("started_at") - pool_created_at, 0.0)
                    timing["actor_startup_s"].append(startup)
                index["shards"][rel] = record
                write_json(out_dir / INDEX_NAME, index)
                computed += record["computed"]
                reused += record["reused"]
                bar.update()
                bar.set_postfix(clips_per_s=f"{computed / (time.perf_counter() - start):.2f}")
            bar.close()
        finally:
            stopping = time.perf_counter()
            if started:
                shutdown_ray()
            timing["shutdown_s"] = time.perf_counter() - stopping
    wall_s = time.perf_counter() - start
    timing.update(busy_s=busy_s, stage_wall_s=time.perf_counter() - stage_start)
    index["shards"] = {**{rel: index["shards"][rel] for rel, _, _ in plan}, **others}  # plan order
    index["complete"] = True
    write_json(out_dir / INDEX_NAME, index)
    return {"clips": sum(index["shards"][rel]["clips"] for rel in planned),
            "shards": len(plan), "computed_shards": len(todo), "skipped_shards": len(plan) - len(todo),
            "computed_clips": computed, "reused_clips": reused, "wall_s": round(wall_s, 3),
            "clips_per_s": round(computed / wall_s, 3) if computed else None, "actors": actors,
            # per actor once started (Ray and model start-up excluded): the scaling unit
            "clips_per_actor_s": round(computed / busy_s, 3) if busy_s else None,
            "timing": round_timing(timing)}


def round_timing(timing: dict) -> dict:
    """Seconds rounded to ms, nested lists and dicts included (JSON-friendly)."""
    if isinstance(timing, dict):
        return {k: round_timing(v) for k, v in timing.items()}
    if isinstance(timing, list):
        return [round_timing(v) for v in timing]
    return round(timing, 3) if isinstance(timing, float) else timing


def run_features(shards_dir: str | Path, out_dir: str | Path, cfg: FeaturesParams, *,
                 ray_address: str | None = None, progress: bool = True,
                 splits: list[str] | None = None, worker: type | None = None,
                 worker_args: tuple = (), extra_settings: dict | None = None) -> dict:
    """Write a feature shard for every audio shard not already done; returns the report.

    ``worker`` (default ``FeatureWorker``) is built as ``worker(cfg, *worker_args)`` in each
    actor; ``extra_settings`` join the index's settings (``pipelines.whisper.views``).

    Returns:
        model, variant, clips (all shards), computed clips/shards, skipped shards, wall
        seconds, clips/s over the computed clips (start-up included), actors, clips/s of
        one busy actor.
    """
    settings = {**settings_of(cfg), **(extra_settings or {})}  # model as given: a moved checkout keeps its shards
    worker_cfg = cfg  # actors may run in another working directory: give them absolute paths
    if Path(cfg.model).is_dir():
        worker_cfg = dataclasses.replace(cfg, model=str(Path(cfg.model).resolve()))
    report = run_shard_actors(shards_dir, out_dir, settings, worker or FeatureWorker,
                              (worker_cfg, *worker_args), actors=cfg.actors,
                              cpus_per_actor=cfg.threads_per_actor, ray_address=ray_address,
                              progress=progress, splits=splits)
    return {"model": cfg.model, "variant": cfg.variant, "num_samples": cfg.num_samples,
            "rm_sil": cfg.rm_sil, **report}


def main(params: Path = typer.Option(Path("params.yaml"), help="params file"),
         shards_dir: Path | None = typer.Option(None, help="default: <data_dir>/shards"),
         out_dir: Path | None = typer.Option(None, help="default: <data_dir>/features"),
         report: Path | None = typer.Option(None, help="also write the report here"),
         model: str | None = typer.Option(None, help="overrides features.model"),
         variant: str | None = typer.Option(None, help="overrides features.variant"),
         actors: int | None = typer.Option(None, help="overrides features.actors"),
         threads_per_actor: int | None = typer.Option(None,
                                                         help="overrides features.threads_per_actor"),
         batch_size: int | None = typer.Option(None, help="overrides features.batch_size"),
         num_samples: int | None = typer.Option(None, help="overrides features.num_samples"),
         splits: list[str] | None = typer.Option(
             None, help="only this split (repeat the option for more); default: all"),
         rm_sil: bool | None = typer.Option(
             None, "--rm-sil", help="features of the speech-only view (use another --out-dir)"),
         ) -> None:
    """Whisper features for every audio shard, as a Ray job (params.yaml `features`)."""
    from pipelines.params import load_params

    loaded = load_params(params)
    overrides = {k: v for k, v in (("model", model), ("variant", variant), ("actors", actors),
                                   ("threads_per_actor", threads_per_actor),
                                   ("batch_size", batch_size), ("num_samples", num_samples),
                                   ("rm_sil", rm_sil)) if v is not None}
    cfg = dataclasses.replace(loaded.features, **overrides)
    data_dir = Path(loaded.common.data_dir)
    result = run_features(shards_dir or data_dir / "shards", out_dir or data_dir / "features",
                          cfg, splits=splits)
    if report:
        write_json(report, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    with stage_process("features"):
        typer.run(main)
