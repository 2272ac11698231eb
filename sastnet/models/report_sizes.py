"""Parameter counts per module of every variant, tiny and paper size.

    python -m sastnet.models.report_sizes            # all variants, task aux
    python -m sastnet.models.report_sizes --task vq --json sizes.json

Paper-size models are built on the ``meta`` device (no memory, no weights loaded), so the
XLS-R 300M encoder costs nothing to count.
"""

from __future__ import annotations

import argparse
import json

import torch

from sastnet.models.config import SIZES, VARIANTS, model_config
from sastnet.models.network import build_model


def count_parameters(variant: str, task: str, size: str) -> dict[str, int]:
    """{module name: parameters} for the top-level parts of the model, plus "total"."""
    cfg = model_config(variant, task, size)
    with torch.device("meta"):
        model = build_model(cfg, load_weights=False)
    counts = {name: sum(p.numel() for p in child.parameters())
              for name, child in model.named_children()}
    counts = {k: v for k, v in counts.items() if v}
    if model.mae is not None:  # break the MAE down: encoder, decoders, feedback attention
        mae = model.mae
        counts["mae.encoder"] = sum(p.numel() for n, p in mae.named_parameters()
                                    if not n.startswith(("decoders.", "feedback")))
        counts["mae.decoders"] = sum(p.numel() for p in mae.decoders.parameters())
        counts["mae.feedback"] = counts["mae"] - counts["mae.encoder"] - counts["mae.decoders"]
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


def _fmt(n: int) -> str:
    return f"{n / 1e6:8.2f} M" if n >= 1e5 else f"{n / 1e3:8.1f} k"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="aux", choices=["vq", "aux", "dec", "bin"])
    parser.add_argument("--json", default=None, help="also write the counts to this file")
    args = parser.parse_args(argv)
    table = {size: {v: count_parameters(v, args.task, size) for v in VARIANTS} for size in SIZES}
    for size, rows in table.items():
        print(f"\n== {size} size, task {args.task} ==")
        for variant, counts in rows.items():
            parts = ", ".join(f"{k} {_fmt(v).strip()}" for k, v in counts.items() if k != "total")
            print(f"{variant:14s} total {_fmt(counts['total'])}   ({parts})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(table, fh, indent=2)
    return table


if __name__ == "__main__":
    main()
