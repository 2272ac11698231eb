"""``train_loop_per_worker``: the per-rank training loop Ray Train runs on every worker.

It touches Ray only through ``prepare_model``, ``get_context`` / ``get_checkpoint`` and
``report`` with a ``Checkpoint``; the data are this rank's part of the shards
(``pipelines.train.data``), the model comes from ``job.model_builder`` (``sastnet.models``).
MLflow is reached through the ``RunTracker`` in the config, from rank 0 only.

Determinism (``pipelines.common.determinism``): every epoch on every rank starts its RNGs
from ``(seed, "train", epoch, rank)`` and its data order from ``(seed, epoch)``, so a training
killed after an epoch and resumed from that checkpoint takes the same steps as one that never
stopped. The checkpoint also stores every RNG's state and the next epoch's seeds; on resume
they are restored and checked.
"""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from sklearn.metrics import confusion_matrix

from pipelines.common.determinism import configure_torch, seed_everything
from pipelines.common.io import write_json
from pipelines.train.checkpoint import (
    load_best,
    load_training_state,
    restore_rng_state,
    rng_state,
    save_training_state,
)
from pipelines.train.data import dev_batches, train_batches
from pipelines.train.job import TrainJob, build_job_model
from sastnet.metrics import macro_f1, weighted_f1


def _gather(obj: Any) -> list[Any]:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        out: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(out, obj)
        return out
    return [obj]


def param_checksum(model: torch.nn.Module) -> float:
    """Sum of all parameters (float64): equal on every rank iff DDP kept them in sync."""
    with torch.no_grad():
        return float(sum(p.detach().double().sum().item() for p in model.parameters()))


def dev_selection_score(macro_f1_pct: float, dev_loss: float) -> float:
    """Dev macro F1 (percent), ties broken by the lower dev cross-entropy: F1 - 0.01 x min(loss,
    10). The loss term (at most 0.1) is smaller than the F1 step of one clip on a dev set of
    up to ~1,000 clips, so it only orders epochs of equal F1; a saturated F1 (100 on every
    epoch) still picks the most confident epoch instead of the first."""
    return macro_f1_pct - 0.01 * min(dev_loss, 10.0)


def evaluate(model: torch.nn.Module, job: TrainJob, *, rank: int, world: int,
             device: torch.device, num_classes: int) -> dict[str, Any]:
    """Dev macro / weighted F1 (percent), mean cross-entropy, the selection score
    (``dev_selection_score``) and confusion matrix over all ranks' parts of dev."""
    model.eval()
    y_true, y_pred, nll = [], [], 0.0
    with torch.no_grad():
        for batch in dev_batches(job, rank=rank, world=world, needs_whisper=model.needs_whisper):
            whisper = batch["whisper"].to(device) if batch["whisper"] is not None else None
            logits = model(batch["wave"].to(device), whisper).logits.float()
            labels = batch["label"].to(device)
            nll += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
            y_true += batch["label"].tolist()
            y_pred += logits.argmax(dim=-1).cpu().tolist()
    parts = _gather((y_true, y_pred, nll))
    y_true = [y for part in parts for y in part[0]]
    y_pred = [y for part in parts for y in part[1]]
    dev_loss = sum(part[2] for part in parts) / max(len(y_true), 1)
    f1 = macro_f1(y_true, y_pred, num_classes)
    return {
        "dev_macro_f1": f1,
        "dev_weighted_f1": weighted_f1(y_true, y_pred, num_classes),
        "dev_loss": dev_loss,
        "dev_f1_then_loss": dev_selection_score(f1, dev_loss),
        "dev_clips": len(y_true),
        "confusion": confusion_matrix(y_true, y_pred, labels=list(range(num_classes))).tolist(),
    }


def _maybe_inject_fault(job: TrainJob, rank: int, epoch: int) -> None:
    """Tests only: SIGKILL one worker process once, right after a given epoch's checkpoint."""
    spec = job.fault_injection
    if not spec or rank != spec["kill_rank"] or epoch != spec["after_epoch"]:
        return
    marker = Path(spec["marker"])
    if marker.exists():
        return
    marker.write_text(str(os.getpid()))
    time.sleep(float(spec.get("delay_s", 2.0)))  # let the controller register the checkpoint
    os.kill(os.getpid(), signal.SIGKILL)


def _write_clock(path: str | None, clock: dict[str, float]) -> None:
    """Rank 0's wall-clock marks for the driver's timing record (``pipelines.common.timing``);
    a side file, never part of a checkpoint."""
    if path:
        write_json(path, clock)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    clock = {"loop_started": time.time(), "mlflow_s": 0.0}
    job: TrainJob = config["job"]
    tracker = config.get("tracker")
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    clock_file = config.get("clock_file") if rank == 0 else None
    # Ray gives each worker OMP_NUM_THREADS = its CPUs (train.cpus_per_worker): fixed by params
    numerics = configure_torch(threads=int(float(os.environ.get("OMP_NUM_THREADS") or 1)),
                               gpu=job.use_gpu)
    seed_everything(job.seed, "init")  # the same initial weights on every rank

    model, builder = build_job_model(job)
    num_classes = _num_classes(job.task)

    state = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as directory:
            state = load_training_state(directory)
        model.load_state_dict(state["model"])
    if checkpoint is None and job.mae_init:  # AudioMAE weights (official layout)
        loaded = builder.load_audiomae_file(model.mae, job.mae_init)
        if rank == 0 and tracker:
            tracker.set_tags({"mae_init": job.mae_init, "mae_init_keys": str(len(loaded.loaded))})
    if checkpoint is None and job.init_from:
        baseline_state, _ = load_best(job.init_from)
        changed = builder.load_w2v2_from_baseline(model, baseline_state)
        if rank == 0 and tracker:
            tracker.set_tags({"init_from": job.init_from, "init_keys": str(len(changed))})

    device = ray.train.torch.get_device()
    ddp_model = ray.train.torch.prepare_model(model)
    optimizer = torch.optim.AdamW(builder.param_groups(model, job.weight_decay), lr=job.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=job.epochs)
    start_epoch, history = 0, []
    best = {"epoch": 0, job.select_metric: -1.0}
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, history, best = state["epoch"], state["history"], state["best"]
        restore_rng_state(state.get("rng"), seed=job.seed, epoch=start_epoch)
    amp = job.use_gpu and job.mixed_precision and torch.cuda.is_available()

    clock["epochs_started"] = time.time()
    _write_clock(clock_file, clock)
    for epoch in range(start_epoch, job.epochs):
        # from the epoch's identity, not from what ran before in this process (a resume)
        seed_everything(job.seed, "train", epoch, rank)
        ddp_model.train()
        sums: dict[str, float] = defaultdict(float)
        steps = samples = 0
        whisper_dim = None
        started = time.perf_counter()
        for batch in train_batches(job, rank=rank, world=world, epoch=epoch,
                                   needs_whisper=model.needs_whisper):
            whisper = batch["whisper"].to(device) if batch["whisper"] is not None else None
            whisper_dim = None if whisper is None else int(whisper.shape[-1])
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = ddp_model(batch["wave"].to(device), whisper, batch["label"].to(device))
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if job.grad_clip:  # DDP has averaged the gradients: every rank clips the same norm
                torch.nn.utils.clip_grad_norm_(model.parameters(), job.grad_clip)
            optimizer.step()
            sums["train_loss"] += float(out.loss.detach())
            for name, value in out.terms.items():
                sums[f"train_{name}"] += float(value.detach().float().mean())
            steps += 1
            samples += batch["wave"].shape[0]
        elapsed = time.perf_counter() - started
        epoch_lr = scheduler.get_last_lr()[0]
        scheduler.step()

        dev = evaluate(model, job, rank=rank, world=world, device=device, num_classes=num_classes)
        workers = _gather({"rank": rank, "node_id": ray.get_runtime_context().get_node_id(),
                           "host": socket.gethostname(), "pid": os.getpid(),
                           "param_checksum": param_checksum(model)})
        metrics = {k: v / max(steps, 1) for k, v in sums.items()}
        metrics.update(epoch=epoch + 1, lr=epoch_lr,
                       samples_per_s=sum(_gather(samples)) / max(elapsed, 1e-9),
                       **{k: dev[k] for k in ("dev_macro_f1", "dev_weighted_f1", "dev_loss",
                                              "dev_f1_then_loss")})
        if metrics[job.select_metric] > best[job.select_metric]:
            best = {"epoch": epoch + 1, job.select_metric: metrics[job.select_metric]}
        history.append(dict(metrics))

        if rank == 0:
            if tracker:
                logging_started = time.perf_counter()
                tracker.log_metrics({k: v for k, v in metrics.items() if k != "epoch"},
                                    step=epoch + 1)
                clock["mlflow_s"] += time.perf_counter() - logging_started
            with tempfile.TemporaryDirectory() as directory:
                save_training_state(directory, {
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "epoch": epoch + 1,
                    "history": history, "best": best,
                    "rng": rng_state(seed=job.seed, next_epoch=epoch + 1),
                }, {"mlflow_run_id": tracker.run_id if tracker else None, "epoch": epoch + 1,
                    "metrics": metrics, "confusion": dev["confusion"], "dev_clips": dev["dev_clips"],
                    "workers": workers, "job": job.run_name,
                    "whisper_dim": whisper_dim, "numerics": numerics})
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory))
        else:
            ray.train.report(metrics, checkpoint=None)
        clock["epochs_finished"] = time.time()
        _write_clock(clock_file, clock)
        _maybe_inject_fault(job, rank, epoch + 1)


def _num_classes(task: str) -> int:
    from sastnet.taxonomy import CLASS_NAMES

    return len(CLASS_NAMES[task])
