"""DVC stage ``pretrain_mae``: self-supervised AudioMAE pretraining of the MAE (no labels).

    python -m stages.pretrain_mae   # -> data/pretrain_mae/mae.pt (official AudioMAE key layout),
                                    #    reports/pretrain_mae.json, reports/pretrain_mae.png

Trains on every clip of the ``train-<task>`` shard lists (shard.tasks), monitors a fixed-mask
loss on the dev clips, logs the run to MLflow (experiment ``<train.mlflow_experiment>-pretrain``).
The training stages load the weights through ``model.audiomae_checkpoint`` (the same loader as
the official AudioMAE checkpoint). When that key names another file (the paper profile's
AudioSet weights) or is null, nothing is trained and the report says why. Details:
``pipelines/pretrain/mae.py`` and docs/training.md.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import typer

from pipelines.common.io import atomic_path, json_sha256, timings_path, write_json, write_report
from pipelines.common.process import stage_process
from pipelines.dataset.loader import shard_paths_for
from pipelines.params import load_params
from pipelines.pretrain.mae import (
    PretrainSettings,
    checkpoint,
    load_clips,
    logmel_images,
    pretrain_mae,
)
from pipelines.tracking.runs import flatten, git_commit, start_or_resume_run
from sastnet.models import model_config


def plot_curve(history: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if not history:
        ax.text(0.5, 0.5, "skipped: model.audiomae_checkpoint names other weights",
                ha="center", va="center")
        history = [{"epoch": 0, "train_loss": float("nan")}]
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs[1:], [h["train_loss"] for h in history[1:]], label="train (random masks)")
    if "dev_loss" in history[0]:
        ax.plot(epochs, [h["dev_loss"] for h in history], label="dev (fixed masks)")
    ax.axhline(1.0, color="grey", ls=":", label="predict 0 (norm-pix target)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("masked-patch MSE")
    ax.set_title("MAE pretraining: reconstruction loss")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def main() -> None:
    params = load_params()
    pp, tp = params.pretrain_mae, params.train
    out_path = Path(pp.out_dir) / "mae.pt"
    reports = Path(params.common.reports_dir)
    wanted = params.model.audiomae_checkpoint
    if wanted is None or Path(wanted).resolve() != out_path.resolve():
        # the MAE starts from other weights (or random ones): pretraining here would be unused
        out_path.parent.mkdir(parents=True, exist_ok=True)
        why = (f"model.audiomae_checkpoint is {wanted!r}, not {str(out_path)!r}: the MAE "
               "variants do not load this stage's weights")
        write_json(out_path.parent / "skipped.json", {"skipped": why})
        write_json(reports / "pretrain_mae.json", {"skipped": why})
        plot_curve([], reports / "pretrain_mae.png")
        print(f"pretrain_mae: skipped ({why})")
        return
    shards_dir = Path(params.common.data_dir) / "shards"
    if not (shards_dir / "index.json").exists():
        raise SystemExit(f"{shards_dir / 'index.json'} not found: run `dvc repro shard` first")
    train_paths = [p for task in params.shard.tasks for p in shard_paths_for(shards_dir, f"train-{task}")]
    mae_cfg = model_config("m_mae", params.shard.tasks[0], params.model.size,
                           num_samples=tp.num_samples, **params.model.overrides)
    keys, waves = load_clips(train_paths, tp.num_samples, pp.max_clips)
    _, dev_waves = load_clips(shard_paths_for(shards_dir, "dev"), tp.num_samples)
    patch = mae_cfg.mae.patch_size
    train_images = logmel_images(waves, mae_cfg.mel, patch, params.common.sample_rate_hz)
    dev_images = logmel_images(dev_waves, mae_cfg.mel, patch, params.common.sample_rate_hz)
    settings = PretrainSettings(epochs=pp.epochs, batch_size=pp.batch_size, lr=pp.lr,
                                warmup_epochs=pp.warmup_epochs, weight_decay=pp.weight_decay,
                                mask_ratio=pp.mask_ratio, seed=params.common.seed, threads=pp.threads)
    clips_digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:12]
    run_name = "pretrain_mae-" + json_sha256([vars(settings), mae_cfg.mae.__dict__, clips_digest], 10)
    tracker = start_or_resume_run(f"{tp.mlflow_experiment}-pretrain", run_name,
                                  tags={"stage": "pretrain_mae", "git_commit": git_commit()})
    tracker.log_params({**flatten("pretrain_mae", vars(pp)), **flatten("mae", mae_cfg.mae.__dict__),
                        "train_clips": len(keys), "dev_clips": len(dev_waves),
                        "image": f"log-mel {tuple(train_images.shape[1:])}",
                        "clips_digest": clips_digest})

    def on_epoch(epoch: int, row: dict) -> None:
        tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch)
        print(f"epoch {epoch:3d}  " + "  ".join(f"{k} {v:.4f}" for k, v in row.items()
                                                if k != "epoch"), flush=True)

    print(f"pretrain_mae: {len(keys)} train clips, {len(dev_waves)} dev clips, log-mel images "
          f"{tuple(train_images.shape[1:])}, {pp.epochs} epochs")
    mae, history = pretrain_mae(train_images, dev_images, mae_cfg.mae, settings, on_epoch)

    meta = {"image": "logmel", "image_shape": list(train_images.shape[1:]),
            "mae": {k: v for k, v in mae.cfg.__dict__.items()}, "train_clips": len(keys),
            "clips_digest": clips_digest, "seed": params.common.seed}
    with atomic_path(out_path) as tmp:
        torch.save(checkpoint(mae, meta), tmp)
    first, last = history[0], history[-1]
    report = {
        "image": "log-mel (LogMelFrontend of the MAE variants), train.num_samples per clip",
        "image_shape": list(train_images.shape[1:]), "train_clips": len(keys),
        "dev_clips": len(dev_waves), "settings": {k: v for k, v in vars(pp).items()},
        "weights": str(out_path), "tensors": len(checkpoint(mae, meta)["model"]),
        "dev_loss_untrained": round(first.get("dev_loss", float("nan")), 4),
        "dev_loss_final": round(last.get("dev_loss", float("nan")), 4),
        "history": [{k: round(v, 5) for k, v in h.items()} for h in history],
        "mlflow_run_id": tracker.run_id,
    }
    write_report(reports / "pretrain_mae.json", report, timings_path(reports, "pretrain_mae"))
    plot_curve(history, reports / "pretrain_mae.png")
    tracker.log_artifact(reports / "pretrain_mae.png", "plots")
    tracker.log_artifact(out_path)
    tracker.finish()
    print(f"pretrain_mae: dev loss {report['dev_loss_untrained']} -> {report['dev_loss_final']}; "
          f"wrote {out_path}")


if __name__ == "__main__":
    with stage_process("pretrain_mae"):
        typer.run(main)
