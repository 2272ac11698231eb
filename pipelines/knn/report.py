"""The kNN results for people: a markdown table, flat DVC metrics and the F1-vs-k plot."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display (must precede pyplot)
import matplotlib.pyplot as plt  # noqa: E402

LEVEL_NAMES = {"checkpoint": "Checkpoint", "architecture": "Architecture", "vq": "Taxonomy VQ",
               "aux": "Taxonomy AUX", "dec": "Taxonomy DEC"}


def _pm(stat: dict) -> str:
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def render_table(res: dict, meta: dict) -> str:
    """``reports/knn/knn.md``: every figure as mean ± std over the splits (F1 in [0, 1])."""
    n = res["splits"]
    lines = [
        "# Training-free kNN source attribution",
        "",
        f"Encoder `{meta['model']}`, hidden state {res['layer']} (chosen on validation; "
        f"0 = input embeddings), clips of {meta['num_samples'] / 16000:g} s, cosine kNN with "
        f"classes balanced by subsampling. Macro F1 on the query set, mean ± std over {n} "
        "random splits (support / validation / query "
        f"{' / '.join(f'{f:.0%}' for f in meta['fractions'])} of the source clips, disjoint "
        f"prompts{' and speakers' if meta['speaker_disjoint'] else ''}); k chosen on the "
        "validation F1-vs-k curve (`knn_f1_vs_k.png`). Method: docs/knn.md.",
        "",
        "## In-domain attribution (support and query from the same systems)",
        "",
        "| level | classes | support / class | k | prompts disjoint | prompts mixed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for level, stat in res["levels"].items():
        mixed = res["prompts_mixed"].get(level)
        lines.append(f"| {LEVEL_NAMES[level]} | {stat['classes']} | {stat['support_per_class']} "
                     f"| {res['k'][level]} | {_pm(stat)} | {_pm(mixed) if mixed else 'n/a'} |")
    if res["ood_checkpoints"]:
        lines += ["", "## Out-of-domain: support and query from disjoint checkpoints "
                  "(architecture level)", "",
                  "| support checkpoints | query checkpoints | macro F1 |", "| --- | --- | --- |"]
        for stat in res["ood_checkpoints"].values():
            lines.append(f"| {' + '.join(stat['support'])} | {' + '.join(stat['query'])} "
                         f"| {_pm(stat)} |")
    ood = res["open_set"]
    if ood:
        bona = "bonafide_false_alarm_rate" in ood
        reference = (" The support set holds the bona fide clips as one more system (the "
                     "reference for real speech), so the flag means an unknown *spoof* system; a "
                     "clip the vote calls bona fide is held to bona fide's own threshold (the "
                     f"{ood['quantile']:.0%} quantile of its support clips' distances to other "
                     "speakers' clips: real speech varies by speaker more than a codec's clips "
                     "do)." if bona else " The support set holds spoof systems only: real "
                     "speech has no reference and is flagged like an unknown system.")
        lines += ["", "## Open set: held-out codecs as unknown systems", "",
                  f"Unknown: {', '.join(ood['unknown_codecs'])}. Flag: mean cosine distance to the "
                  f"k = {ood['k']} nearest support clips above the {ood['quantile']:.0%} quantile "
                  f"of the known validation clips' distances.{reference}", "",
                  "| figure | value |", "| --- | --- |",
                  f"| AUROC (unknown vs known codecs' query clips) | {_pm(ood['auroc'])} |",
                  f"| detection rate (unknown clips flagged) | {_pm(ood['detection_rate'])} |",
                  f"| false-alarm rate (known codecs' clips flagged) "
                  f"| {_pm(ood['false_alarm_rate'])} |"]
        if bona:
            lines += [f"| **bona fide false-alarm rate** (bona fide clips of unseen speakers "
                      f"flagged unknown) | {_pm(ood['bonafide_false_alarm_rate'])} |",
                      f"| bona fide clips called a codec (unflagged) "
                      f"| {_pm(ood['bonafide_called_spoof'])} |",
                      f"| unknown codecs' clips passed as bona fide (unflagged) "
                      f"| {_pm(ood['unknown_called_bonafide'])} |",
                      f"| bona fide false-alarm rate without the bona fide class (spoof-only "
                      f"index) | {_pm(ood['bonafide_false_alarm_rate_without_reference'])} |"]
        classes = "known codecs + bona fide + unknown" if bona else "known codecs + unknown"
        lines += [f"| F1 of the unknown flag | {_pm(ood['f1_unknown'])} |",
                  f"| open-set macro F1 ({classes}) | {_pm(ood['open_set_macro_f1'])} |",
                  f"| threshold (cosine distance) | {ood['threshold']['mean']:.4f} ± "
                  f"{ood['threshold']['std']:.4f} |"]
        if bona:
            lines.append(f"| bona fide threshold (cosine distance) | "
                         f"{ood['bonafide_threshold']['mean']:.4f} ± "
                         f"{ood['bonafide_threshold']['std']:.4f} |")
        for task, stat in ood["taxonomy_fallback"].items():
            lines.append(f"| unknown codecs' {task.upper()} class (taxonomy fallback), macro F1 "
                         f"| {_pm(stat)} |")
        lines += [f"| after enrolment: unknown codecs' clips attributed to themselves, unflagged "
                  f"| {_pm(ood['enrolled_accuracy'])} |",
                  f"| after enrolment: still flagged unknown | {_pm(ood['enrolled_flagged'])} |"]
    search = res["layer_search"]
    lines += ["", f"## Layer sweep ({search['level']} level, best mean validation F1 over k)", "",
              "| hidden state | validation F1 |", "| --- | --- |"]
    lines += [f"| {layer}{' (chosen)' if int(layer) == res['layer'] else ''} | {f1:.3f} |"
              for layer, f1 in search["validation_peak_f1"].items()]
    return "\n".join(lines) + "\n"


def flat_metrics(res: dict) -> dict:
    """``metrics/knn.json``: the headline numbers for `dvc metrics show`."""
    out = {"layer": res["layer"], "k": dict(res["k"])}
    out["in_domain"] = {lv: {"f1_mean": s["mean"], "f1_std": s["std"]}
                        for lv, s in res["levels"].items()}
    out["prompts_mixed"] = {lv: {"f1_mean": s["mean"], "f1_std": s["std"]}
                            for lv, s in res["prompts_mixed"].items()}
    out["ood_checkpoints"] = {name: {"f1_mean": s["mean"], "f1_std": s["std"]}
                              for name, s in res["ood_checkpoints"].items()}
    if res["open_set"]:
        ood = res["open_set"]
        out["open_set"] = {key: ood[key]["mean"] for key in
                           ("auroc", "detection_rate", "false_alarm_rate", "f1_unknown",
                            "open_set_macro_f1", "enrolled_accuracy", "bonafide_false_alarm_rate",
                            "bonafide_called_spoof", "unknown_called_bonafide")
                           if key in ood}
        out["open_set"].update({f"fallback_{t}_f1": s["mean"]
                                for t, s in ood["taxonomy_fallback"].items()})
    return out


def plot_f1_vs_k(res: dict, path: str | Path) -> None:
    """Validation macro F1 vs k per level (mean ± std over splits), chosen k marked."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for level, curve in res["curves"].items():
        ks = sorted(curve)
        mean = [curve[k]["mean"] for k in ks]
        std = [curve[k]["std"] for k in ks]
        line, = ax.plot(ks, mean, marker="o", ms=3, label=f"{LEVEL_NAMES[level]} (k={res['k'][level]})")
        ax.fill_between(ks, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                        color=line.get_color(), alpha=0.15)
        ax.plot([res["k"][level]], [curve[res["k"][level]]["mean"]], marker="*", ms=11,
                color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("k (neighbours)")
    ax.set_ylabel("validation macro F1")
    ax.set_title(f"kNN attribution, hidden state {res['layer']}, {res['splits']} splits")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
