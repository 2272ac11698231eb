"""The paper shape on a GPU: peak memory, seconds per step, samples per second, CPU parity,
and what the paper profile would cost (issue #37). One short prepared call on a lent GPU:

    python -m benchmarks.gpu_check --out "$OUT"                       # CUDA: paper shapes
    python -m benchmarks.gpu_check --device cpu --size tiny --out /tmp/g   # anywhere (smoke)

Needs only torch, transformers, numpy and this checkout's ``sastnet`` package (no Ray, MLflow,
DVC or WebDataset: the GPU machine has none of them). Random weights of the paper's sizes
(``benchmarks.steps.build``: XLS-R 300M-shaped wav2vec 2.0, ViT-B-shaped MAE; a
Whisper-small-shaped encoder), no download.

For each of W2V2-AASIST and SASTNet it measures training steps (forward with labels, backward,
AdamW step, as ``pipelines.train.loop`` does; bf16 autocast on CUDA, as ``train.mixed_precision``)
at batch ``--batch`` (12, the release's SASTNet batch) on precomputed Whisper features, SASTNet
also with the Whisper encoder run online in every step; then the largest batch that fits
(doubling from ``--batch`` until CUDA runs out of memory, at most ``--max-batch``). Parity: the
same weights and inputs in eval mode, logits on the device (fp32 and bf16 autocast) against
the CPU in fp32; tolerances below. Writes ``gpu_check.json`` and ``gpu_check.md`` (with the
cost table: GPU-hours of the paper profile per task and for the Tables I-IV matrix, from the
measured step times and the release's list sizes and schedules) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.steps import batches, build, whisper_small_shaped

# parity: |device logits - CPU logits| / max(1, |CPU logits|), worst element
FP32_TOLERANCE = 1e-3  # TF32 is off for the check (allow_tf32 False): fp32 kernels only differ in order
BF16_TOLERANCE = 5e-2  # bf16 keeps 8 bits of mantissa: ~0.4 % per op, a few % after 24 layers

# the release's CodecFake+ training list per task (85,930 lines: 42,965 bona fide + 42,965
# spoof; ../shared/reference/official-sastnet.md) and the paper profile's schedules
TRAIN_CLIPS = 85_930
SCHEDULES = {"w2v2_aasist": {"epochs": 20, "batch": 8}, "sastnet": {"epochs": 40, "batch": 12}}
TASKS = ("vq", "aux", "dec", "bin")
SCHEDULE_LR = {"w2v2_aasist": 1e-6, "sastnet": 5e-6}  # profiles/paper.yaml (official)
# the paper profile's variants per task besides the baseline (profiles/paper.yaml): the MAE
# variants cost at most a SASTNet step (they are SASTNet without Whisper or fusion), so the
# matrix is bounded by (1 baseline + 7 variants at SASTNet's step) per task and seed
MATRIX_VARIANTS = 7


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def whisper_small_online(device: torch.device, dtype_autocast: bool):
    """(encoder on ``device``, a function wave (B, N) -> features (B, 128, 768)): the
    Whisper-small-shaped encoder with random weights, run as the release does in every step."""
    from sastnet.whisper import log_mel, pooled_features

    encoder, fe = whisper_small_shaped()
    encoder = encoder.to(device)

    def features(wave: torch.Tensor) -> torch.Tensor:
        mel = log_mel(fe, [w.numpy() for w in wave.cpu()]).to(device)
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16,
                                             enabled=dtype_autocast):
            return pooled_features(encoder, mel).float()

    return encoder, features


def train_steps(model, data, device, amp: bool, lr: float, online=None) -> list[float]:
    """Seconds of each training step (the loop's step: forward with labels, backward, AdamW)."""
    from sastnet.models import param_groups

    opt = torch.optim.AdamW(param_groups(model, 1e-4), lr=lr)
    model.train()
    times = []
    for wave, feats, labels in data:
        sync(device)
        start = time.perf_counter()
        if online is not None:
            feats = online(wave)
        wave, labels = wave.to(device), labels.to(device)
        feats = feats.to(device) if feats is not None else None
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(wave, feats, labels)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def measure(variant: str, size: str, device: torch.device, batch: int, steps: int,
            num_samples: int, online: bool) -> dict:
    """Steady step time (first step left out), samples/s and peak device memory at ``batch``."""
    model, cfg = build(variant, size, num_samples)
    model.to(device)
    amp = device.type == "cuda"
    runner = None
    if online and cfg.uses_whisper:
        _, runner = whisper_small_online(device, amp) if size == "paper" else (None, None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    data = batches(cfg, batch, steps + 1, whisper=cfg.uses_whisper)
    times = train_steps(model, data, device, amp, SCHEDULE_LR[variant], runner)
    steady = times[1:] or times
    step_s = float(np.median(steady))
    result = {"variant": variant, "batch": batch, "steps": len(steady), "online_whisper":
              runner is not None, "step_s_median": round(step_s, 4),
              "step_s_best": round(min(steady), 4), "samples_per_s": round(batch / step_s, 2),
              "bf16_autocast": amp}
    if device.type == "cuda":
        result["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result



def largest_batch(variant: str, size: str, device: torch.device, start: int, limit: int,
                  num_samples: int) -> dict:
    """Double the batch from ``start`` until CUDA runs out of memory (or ``limit``)."""
    fits, tried = None, []
    batch = start
    while batch <= limit:
        try:
            fits = measure(variant, size, device, batch, 2, num_samples, online=False)
            tried.append(batch)
            batch *= 2
        except torch.cuda.OutOfMemoryError:
            tried.append(f"{batch}: out of memory")
            torch.cuda.empty_cache()
            break
    return {"variant": variant, "tried": tried, "largest": fits}


@torch.no_grad()
def parity(variant: str, size: str, device: torch.device, num_samples: int) -> dict:
    """Eval-mode logits on ``device`` (fp32, and bf16 autocast on CUDA) against the CPU, fp32."""
    model, cfg = build(variant, size, num_samples)
    model.eval()
    wave, feats, _ = batches(cfg, 2, 1, whisper=cfg.uses_whisper)[0]
    cpu = model(wave, feats).logits.float()
    model.to(device)
    feats_d = feats.to(device) if feats is not None else None
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        out = {"fp32": model(wave.to(device), feats_d).logits.float().cpu()}
        if device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out["bf16"] = model(wave.to(device), feats_d).logits.float().cpu()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    scale = cpu.abs().clamp(min=1.0)
    result = {"variant": variant, "logits_cpu": cpu.tolist()}
    for name, logits in out.items():
        err = float(((logits - cpu).abs() / scale).max())
        tol = FP32_TOLERANCE if name == "fp32" else BF16_TOLERANCE
        result[name] = {"max_rel_err": err, "tolerance": tol, "ok": err <= tol,
                        "same_argmax": bool((logits.argmax(-1) == cpu.argmax(-1)).all())}
    return result


def cost_table(steps: dict[str, dict], seeds: int) -> list[dict]:
    """GPU-hours of the paper profile from measured steps, the release's list sizes and
    schedules (an extrapolation from measured step times, labelled as such)."""
    rows = []
    for variant, sched in SCHEDULES.items():
        measured = steps.get(variant)
        if not measured:
            continue
        # a step at the schedule's batch: scaled linearly from the measured batch (upper bound
        # when the measured batch is larger, since bigger batches use the card better)
        step_s = measured["step_s_median"] * sched["batch"] / measured["batch"]
        n_steps = sched["epochs"] * math.ceil(TRAIN_CLIPS / sched["batch"])
        rows.append({"variant": variant, "epochs": sched["epochs"], "batch": sched["batch"],
                     "steps": n_steps, "gpu_h_per_task": round(n_steps * step_s / 3600, 2)})
    by = {r["variant"]: r["gpu_h_per_task"] for r in rows}
    if len(by) == 2:
        per_task = by["w2v2_aasist"] + by["sastnet"]
        rows.append({"variant": "baseline + SASTNet, 4 tasks, 1 seed",
                     "gpu_h": round(len(TASKS) * per_task, 2)})
        matrix = len(TASKS) * seeds * (by["w2v2_aasist"] + MATRIX_VARIANTS * by["sastnet"])
        rows.append({"variant": f"Tables I-IV matrix (paper profile: 4 tasks x {seeds} seeds x "
                                f"(baseline + {MATRIX_VARIANTS} variants)), upper bound",
                     "gpu_h": round(matrix, 2)})
    return rows


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"# GPU check ({env['device_name']}, {env['date']})", "",
             f"torch {env['torch']}, transformers {env['transformers']}, CUDA {env['cuda']}, "
             f"size {report['size']}, {report['num_samples']} samples per clip.", "",
             "| variant | batch | Whisper | s/step (median) | samples/s | peak GiB |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in report["steps"]:
        lines.append(f"| {r['variant']} | {r['batch']} | {'online' if r['online_whisper'] else 'precomputed'} "
                     f"| {r['step_s_median']} | {r['samples_per_s']} | {r.get('peak_mem_gib', '-')} |")
    lines += ["", "Largest batch that fits:", ""]
    for r in report["largest_batch"]:
        best = r["largest"]
        lines.append(f"- {r['variant']}: tried {r['tried']}; largest {best['batch'] if best else '-'}"
                     + (f" ({best['samples_per_s']} samples/s, {best.get('peak_mem_gib')} GiB)" if best else ""))
    lines += ["", "Parity with the CPU (eval-mode logits, max relative error):", ""]
    for r in report["parity"]:
        parts = [f"{k} {v['max_rel_err']:.2e} (tol {v['tolerance']}, {'ok' if v['ok'] else 'FAILED'})"
                 for k, v in r.items() if isinstance(v, dict)]
        lines.append(f"- {r['variant']}: " + "; ".join(parts))
    unit = "GPU-hours" if report["environment"]["device"].startswith("cuda") else "hours on this CPU"
    lines += ["", "Cost of the paper profile, extrapolated from the measured steps (not measured "
              "runs):", "", f"| what | epochs | batch | steps | {unit} |", "| --- | --- | --- | --- | --- |"]
    for r in report["cost"]:
        lines.append(f"| {r['variant']} | {r.get('epochs', '')} | {r.get('batch', '')} | "
                     f"{r.get('steps', '')} | {r.get('gpu_h_per_task', r.get('gpu_h'))} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="auto", help="auto | cuda | cpu")
    ap.add_argument("--size", default="paper", choices=["paper", "tiny"])
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--steps", type=int, default=5, help="timed steps after one warm-up step")
    ap.add_argument("--max-batch", type=int, default=96)
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the matrix (paper profile: 3)")
    args = ap.parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    num_samples = 82_200 if args.size == "paper" else 24_000
    import transformers

    report = {"size": args.size, "num_samples": num_samples, "environment": {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "torch": torch.__version__,
        "transformers": transformers.__version__, "cuda": torch.version.cuda,
        "device": str(device), "device_name": (torch.cuda.get_device_name(device)
                                               if device.type == "cuda" else platform.processor() or "cpu"),
        "bf16_supported": device.type == "cuda" and torch.cuda.is_bf16_supported()}}
    print(json.dumps(report["environment"]), flush=True)
    steps, largest, checks = [], [], []
    for variant in ("w2v2_aasist", "sastnet"):
        steps.append(measure(variant, args.size, device, args.batch, args.steps, num_samples, False))
        print(json.dumps(steps[-1]), flush=True)
        if variant == "sastnet" and args.size == "paper":
            steps.append(measure(variant, args.size, device, args.batch, args.steps, num_samples, True))
            print(json.dumps(steps[-1]), flush=True)
        if device.type == "cuda":
            largest.append(largest_batch(variant, args.size, device, args.batch * 2,
                                         args.max_batch, num_samples))
            print(json.dumps(largest[-1]), flush=True)
        checks.append(parity(variant, args.size, device, num_samples))
        print(json.dumps({k: v for k, v in checks[-1].items() if k != "logits_cpu"}), flush=True)
    precomputed = {s["variant"]: s for s in steps if not s["online_whisper"]}
    report.update(steps=steps, largest_batch=largest, parity=checks,
                  cost=cost_table(precomputed, args.seeds),
                  ok=all(v["ok"] for c in checks for v in c.values() if isinstance(v, dict)))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    (args.out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    raise SystemExit(0 if main()["ok"] else 1)
