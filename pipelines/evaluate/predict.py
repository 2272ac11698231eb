"""Class probabilities for every clip of some shards, from a trained ``best/`` checkpoint.

    from pipelines.evaluate.predict import predict
    df = predict("models/aux/sastnet/seed0/best", shard_paths_for("data/shards", "test_seen"),
                 "data/features", rm_sil=False)

Columns: ``key``, ``codec`` (the clip's codec or CoSG system, ``bonafide`` for real clips; from
the shard's metadata), ``label_<task>`` for every task, ``prob_0 .. prob_{C-1}`` (softmax, not
raw logits), ``pred`` (argmax). Used by the evaluate stage.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pipelines.train.checkpoint import load_best
from pipelines.train.data import collate
from pipelines.train.job import TrainJob, build_job_model, job_from_dict


def load_trained_model(checkpoint_dir: str | Path) -> tuple[torch.nn.Module, TrainJob]:
    """Rebuild the model of a ``best/`` folder (eval mode) and return it with its job config."""
    state, config = load_best(checkpoint_dir)
    job = job_from_dict(config["job"])
    model, _ = build_job_model(job)
    model.load_state_dict(state)
    return model.eval(), job


def predict_clips(model: torch.nn.Module, clips: Iterable[dict], task: str, *,
                  batch_size: int = 16, desc: str = "predict") -> pd.DataFrame:
    """Probabilities for loader-style clip dicts (``key``, ``wave``, ``labels``[, ``whisper``])."""
    rows: list[dict] = []
    clips = iter(clips)
    with torch.no_grad(), tqdm(desc=desc, unit="clip", leave=False) as bar:
        while chunk := list(itertools.islice(clips, batch_size)):
            batch = collate(chunk, task)
            probs = torch.softmax(model(batch["wave"], batch["whisper"]).logits.float(), dim=-1)
            probs = probs.numpy()
            for i, key in enumerate(batch["key"]):
                row = {"key": key, "codec": chunk[i].get("meta", {}).get("codec")}
                row.update({f"label_{t}": int(v[i]) for t, v in batch["labels"].items()})
                row.update({f"prob_{c}": float(p) for c, p in enumerate(probs[i])})
                row["pred"] = int(np.argmax(probs[i]))
                rows.append(row)
            bar.update(len(chunk))
    return pd.DataFrame(rows)


def predict(checkpoint_dir: str | Path, shard_paths: list[str], feature_dir: str | None, *,
            rm_sil: bool, batch_size: int = 16,
            loaded: tuple[torch.nn.Module, TrainJob] | None = None) -> pd.DataFrame:
    """Predict every clip of ``shard_paths`` with the model in ``checkpoint_dir`` (a ``best/``).

    ``loaded``: that folder's ``load_trained_model`` result, to predict several sets without
    rebuilding the model each time.
    """
    from pipelines.dataset.loader import make_dataset

    model, job = loaded or load_trained_model(checkpoint_dir)
    if model.needs_whisper and feature_dir is None:
        raise ValueError(f"{checkpoint_dir}: {job.variant} needs Whisper features; pass "
                         "feature_dir (data/features, from `dvc repro features`)")
    dataset = make_dataset(list(shard_paths), num_samples=job.num_samples, rm_sil=rm_sil,
                           shuffle_buffer=0, seed=0,
                           feature_dir=feature_dir if model.needs_whisper else None,
                           split_by_node=False, split_by_worker=False, on_error="raise")
    return predict_clips(model, dataset, job.task, batch_size=batch_size,
                         desc=f"predict {job.task}/{job.variant}")
