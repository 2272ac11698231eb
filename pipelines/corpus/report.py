"""``reports/corpus.json``: what a clip manifest holds, for people to read (DESIGN.md)."""

from __future__ import annotations

import pandas as pd

from sastnet.taxonomy import CLASS_NAMES, TASKS


def _durations(seconds: pd.Series) -> dict:
    if seconds.empty:
        return {"clips": 0, "hours": 0.0}
    return {"clips": int(seconds.size), "hours": round(float(seconds.sum()) / 3600, 3),
            "mean_s": round(float(seconds.mean()), 3), "min_s": round(float(seconds.min()), 3),
            "max_s": round(float(seconds.max()), 3)}


def summarize_manifest(df: pd.DataFrame) -> dict:
    """Speakers, utterances, clips per split and label, durations of a clip manifest.

    Groups are ``<subset>/<split>`` (e.g. ``CoRS/train``); labels are counted by class name.
    """
    out: dict = {"clips": len(df), "groups": {}}
    for (subset, split), part in df.groupby(["subset", "split"], sort=True):
        bona = part[part["label_bin"] == 0]
        group = {
            "clips": len(part),
            "speakers": int(part["speaker"].nunique()),
            "utterances": int(part["pair_key"].nunique()),
            "bonafide_clips": len(bona),
            "codecs": int(part.loc[part["label_bin"] == 1, "codec"].nunique()),
            "seen_content_clips": int(part["seen"].eq(True).sum()),
            "unseen_content_clips": int(part["seen"].eq(False).sum()),
            "codec_seen_clips": int(part["codec_seen"].astype(bool).sum()),
            "labels": {task: {CLASS_NAMES[task][int(k)]: int(v) for k, v in
                              part[f"label_{task}"].value_counts().sort_index().items()}
                       for task in TASKS},
            "duration": _durations(part["duration_s"].astype(float)),
        }
        out["groups"][f"{subset}/{split}"] = group
    out["clips_per_codec"] = {str(k): int(v) for k, v in df["codec"].value_counts().items()}
    out["duration"] = _durations(df["duration_s"].astype(float))
    return out
