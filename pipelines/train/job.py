"""``TrainJob``: everything one training run needs, resolved from params into one picklable record.

The driver builds it (``job_from_params``), Ray ships it to every worker inside
``train_loop_config``, and its hash names the Ray run, so a rerun of the same job resumes
from its latest checkpoint while a changed job starts fresh. "Changed" includes what the
params do not show: ``inputs_digest`` hashes the resolved model configuration (code defaults
included), the shard and feature indexes (content checksums) and the baseline checkpoint the
job starts from, so new data, new model code or a retrained baseline never resume a stale run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipelines.common.io import canonical_json, json_sha256
from pipelines.params.train import model_dir
from sastnet.models.config import W2V2_ARCHITECTURES

# TrainJob fields holding file paths (absolute while running: Ray workers have their own cwd)
PATH_FIELDS = ("train_shards", "dev_shards", "feature_dir", "views_dir", "init_from", "mae_init")


@dataclass(frozen=True)
class TrainJob:
    task: str  # vq | aux | dec | bin
    variant: str  # sastnet.models variant (w2v2_aasist, m_mae, sastnet, ...)
    size: str = "tiny"  # sastnet.models size
    model_overrides: dict[str, Any] = field(default_factory=dict)
    model_builder: str = "sastnet.models"  # module with model_config/build_model/param_groups
    epochs: int = 2
    batch_size: int = 8  # global batch (split over workers)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    max_steps_per_epoch: int | None = None
    grad_clip: float | None = None  # max global gradient L2 norm; None = no clipping
    num_samples: int = 16000
    rawboost_algo: int = 0
    rm_sil: bool = False
    shuffle_buffer: int = 0
    seed: int = 1234
    experiment: str = "full"  # train.experiment (full | seen250): which clips the shards hold
    # Data: "shards" reads WebDataset shards (+ Whisper feature shards); "synthetic" makes
    # learnable in-memory clips (smoke tests of the Ray/MLflow machinery, no files needed).
    data_source: Literal["shards", "synthetic"] = "shards"
    train_shards: tuple[str, ...] = ()
    dev_shards: tuple[str, ...] = ()
    feature_dir: str | None = None
    # K precomputed Whisper views of RawBoost-augmented training clips (pipelines.whisper.views)
    # under views_dir/v<k>; 0 = Whisper features of the clean clip
    feature_views: int = 0
    views_dir: str | None = None
    views_seed: int = 0  # the seed the views were made with (common.seed), not the training seed
    num_train_clips: int = 0  # steps per epoch = num_train_clips // batch_size (capped)
    init_from: str | None = None  # baseline best/ dir: wav2vec 2.0 initialised from it
    mae_init: str | None = None  # AudioMAE checkpoint (official layout) for the MAE's weights
    use_gpu: bool = False
    mixed_precision: bool = True
    select_metric: str = "dev_macro_f1"
    inputs_digest: str = ""  # see the module docstring; part of the run name's hash
    fault_injection: dict[str, Any] = field(default_factory=dict)  # tests only, see loop.py
    # The checkout the paths are relative to (the driver's working directory); a Ray worker
    # runs elsewhere, and its run name must still be the driver's. Not part of the fingerprint.
    root: str = ""

    def __post_init__(self) -> None:
        if not self.root:  # made in the driver: its working directory is the checkout
            object.__setattr__(self, "root", str(Path.cwd().resolve()))

    @property
    def steps_per_epoch(self) -> int:
        steps = max(1, self.num_train_clips // self.batch_size)
        return min(steps, self.max_steps_per_epoch) if self.max_steps_per_epoch else steps

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def portable_dict(self) -> dict[str, Any]:
        """``to_dict`` with the paths inside the working directory (the checkout) made relative
        to it: what ``best/config.json`` stores, so two clones in different folders write the
        same bytes (and DVC hashes). ``job_from_dict`` resolves them again."""
        root = Path(self.root).resolve()

        def rel(path: str) -> str:
            p = Path(path)
            return str(p.relative_to(root)) if p.is_absolute() and p.is_relative_to(root) else path

        data = self.to_dict()
        data.pop("root")
        for name in PATH_FIELDS:
            value = data[name]
            if isinstance(value, (list, tuple)):
                data[name] = [rel(v) for v in value]
            elif value is not None:
                data[name] = rel(value)
        return data

    def fingerprint(self) -> str:
        """Short hash of everything that changes the result (not fault injection)."""
        data = self.portable_dict()
        data.pop("fault_injection")
        return json_sha256(data, 10)

    @property
    def run_name(self) -> str:
        return f"{self.task}-{self.variant}-{self.experiment}-s{self.seed}-{self.fingerprint()}"


def job_model_config(job: TrainJob) -> tuple[Any, Any]:
    """(model config, builder module) of ``job``: what ``build_job_model`` builds."""
    builder = importlib.import_module(job.model_builder)
    cfg = builder.model_config(job.variant, job.task, job.size, num_samples=job.num_samples,
                               **job.model_overrides)
    return cfg, builder


def build_job_model(job: TrainJob) -> tuple[Any, Any]:
    """(model, builder module) for ``job``: ``builder.build_model(builder.model_config(...))``."""
    cfg, builder = job_model_config(job)
    return builder.build_model(cfg), builder


def job_from_dict(data: dict[str, Any]) -> TrainJob:
    """Inverse of ``TrainJob.to_dict`` (e.g. from a ``best/config.json``)."""
    fields = {f.name for f in dataclasses.fields(TrainJob)}
    data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields}
    root = Path.cwd().resolve()  # portable_dict's relative paths are relative to the checkout

    def absolute(path: str) -> str:
        return path if Path(path).is_absolute() else str(root / path)

    for name in PATH_FIELDS:
        value = data.get(name)
        if isinstance(value, tuple):
            data[name] = tuple(absolute(v) for v in value)
        elif value is not None:
            data[name] = absolute(value)
    return TrainJob(**data)


def read_shard_index(shards_dir: str | Path, split: str) -> tuple[list[str], int]:
    """Shard paths and clip count of one split, from ``<shards_dir>/index.json``."""
    from pipelines.dataset.loader import shard_paths_for

    index_path = Path(shards_dir) / "index.json"
    if not index_path.exists():
        raise FileNotFoundError(f"{index_path}: shard index not found; run `dvc repro shard` first")
    paths = shard_paths_for(shards_dir, split)
    entry = json.loads(index_path.read_text())["splits"][split]
    return paths, int(sum(s["samples"] for s in entry["shards"]))


def inputs_digest(model_config: dict[str, Any], files: list[Path]) -> str:
    """Hash of a resolved model config and the bytes of ``files`` (missing ones count as absent)."""
    h = hashlib.sha256(canonical_json(model_config))
    for path in files:
        h.update(f"\0{path.name}\0".encode())
        h.update(path.read_bytes() if path.is_file() else b"<absent>")
    return h.hexdigest()[:16]


def model_config_uses_mae(variant: str) -> bool:
    return variant.removesuffix("_pretrained") != "w2v2_aasist"


def resolve_mae_init(model_params: Any, uses_mae: bool) -> str | None:
    """The AudioMAE checkpoint to start the MAE from (absolute), or None for random weights.

    Raises FileNotFoundError naming ``model.audiomae_checkpoint`` when ``model.size`` is paper
    and the weights are missing, unless ``model.audiomae_random_init`` is true.
    """
    path = model_params.audiomae_checkpoint
    if not uses_mae:
        return None
    if path and Path(path).is_file():
        return str(Path(path).resolve())
    if model_params.size == "paper" and not model_params.audiomae_random_init:
        where = f"{path!r} does not exist" if path else "is not set"
        raise FileNotFoundError(
            f"model.audiomae_checkpoint {where}: the paper profile starts the MAE encoder and "
            f"decoders from AudioSet AudioMAE ViT-B weights (facebookresearch/AudioMAE "
            f"'pretrained.pth'). Put the file there and set the key, or set "
            f"model.audiomae_random_init: true to train from random weights.")
    if path:
        raise FileNotFoundError(f"model.audiomae_checkpoint: {path!r} does not exist; fix the "
                                f"path or set it to null (random MAE weights)")
    return None


def job_from_params(params: Any, task: str, variant: str, seed: int) -> TrainJob:
    """Resolve the ``model`` and ``train`` sections (and data paths) into the ``TrainJob`` of
    one (task, variant, seed); ``seed`` must be one of ``train.seeds``."""
    from pipelines.params.model_check import check_model_params, check_overrides

    check_model_params(params)
    tp, mp = params.train, params.model
    if seed not in tp.seeds:
        raise ValueError(f"seed {seed} is not in train.seeds {list(tp.seeds)} of "
                         f"{params.source}; add it there (every seed trains every model)")
    baseline = variant == tp.baseline_variant
    schedule = tp.baseline if baseline else tp.main
    # Absolute paths: Ray Train workers do not run in the driver's working directory.
    shards_dir = (Path(params.common.data_dir) / "shards").resolve()
    train_shards, num_train = read_shard_index(shards_dir, f"train-{task}")
    # the task's own official dev list when the shards have one (shard.train_lists: official)
    splits = json.loads((shards_dir / "index.json").read_text())["splits"]
    dev_shards, _ = read_shard_index(shards_dir, f"dev-{task}" if f"dev-{task}" in splits else "dev")
    features_dir = (Path(params.common.data_dir) / "features").resolve()
    # "Tuned W2V2": variants with a wav2vec 2.0 front end start from the task's baseline of
    # the same seed, so the seeds are independent replicates of the whole recipe.
    # (W2V2_ARCHITECTURES as variant names; the *_pretrained rows keep the SSL checkpoint)
    init_from = None if baseline or variant not in W2V2_ARCHITECTURES else str(
        (model_dir(tp.models_dir, task, tp.baseline_variant, seed) / "best").resolve())
    mae_init = resolve_mae_init(mp, model_config_uses_mae(variant))
    job = TrainJob(
        task=task, variant=variant, size=mp.size, model_overrides=check_overrides(mp.overrides),
        epochs=schedule.epochs, batch_size=schedule.batch_size, lr=schedule.lr,
        weight_decay=tp.weight_decay, max_steps_per_epoch=schedule.max_steps_per_epoch,
        grad_clip=schedule.grad_clip,
        num_samples=tp.num_samples, rawboost_algo=tp.rawboost_algo, rm_sil=tp.rm_sil,
        shuffle_buffer=tp.shuffle_buffer, seed=seed, experiment=tp.experiment, mae_init=mae_init,
        train_shards=tuple(train_shards), dev_shards=tuple(dev_shards),
        feature_dir=str(features_dir) if features_dir.exists() else None,
        num_train_clips=num_train, init_from=init_from, use_gpu=tp.use_gpu,
        mixed_precision=tp.mixed_precision, select_metric=tp.select_metric)
    # the config the workers will build (code defaults included), not a second resolution of it
    model_cfg, _ = job_model_config(job)
    watched = [shards_dir / "index.json"]
    if model_cfg.uses_whisper:
        watched.append(features_dir / "index.json")
        views = params.features.augmented_views if tp.rawboost_algo else 0
        if views:
            views_dir = (Path(params.common.data_dir) / "features_views").resolve()
            job = dataclasses.replace(job, feature_views=views, views_dir=str(views_dir),
                                      views_seed=params.common.seed)
            watched += [views_dir / f"v{k}" / "index.json" for k in range(views)]
    if mae_init:
        watched.append(Path(mae_init))
    if init_from:  # the baseline's best epoch: its metrics name its MLflow run and epoch
        watched += [Path(init_from) / "metrics.json", Path(init_from) / "config.json"]
    return dataclasses.replace(job, inputs_digest=inputs_digest(model_cfg.to_dict(), watched))
