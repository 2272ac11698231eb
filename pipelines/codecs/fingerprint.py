"""Sanity check that the codecs leave a fingerprint: can a simple classifier see it?

    python -m stages.fingerprint       # reads data/resynth/manifest.parquet, writes reports/fingerprint.json

Features: the time-average of a 64-band log-mel spectrogram per clip (nothing the models use).
Classifiers: scikit-learn logistic regression, trained on the train split, scored on the test
split (CoRS, bona fide + spoofs):
- ``per_codec``: one bona fide vs codec classifier per codec (balanced accuracy), also on
  level-free features (each clip's mean log-mel subtracted); held-out codecs are scored with the
  bona fide vs all-seen-codecs classifier instead (generalisation);
- ``tasks``: one multi-class classifier per task (vq, aux, dec, bin) with per-class recall;
- ``cosg``: per task, the same CoRS-trained classifier scored on CoSG (kn. codec) and CoSG
  (All) (macro F1 %, as the models are), and a probe fitted on CoSG (All) itself, 5-fold and
  grouped by prompt (a prompt's bona fide clip and its generations in one fold): can a
  shallow log-mel probe separate the generated classes at all?
Expected: well above chance (codecs really differ from speech and from each other) but not
perfect everywhere; a perfect score on every class would mean a trivial give-away (e.g. a level
or length difference) that the real models could exploit instead of the codec traces.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.signal import stft
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm
from transformers.audio_utils import mel_filter_bank

from pipelines.common.audio_io import AudioError, load_audio
from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.taxonomy import TASKS

__all__ = ["clip_features", "fingerprint_report", "log_mel_mean"]


@lru_cache(maxsize=4)
def _mel_filters(n_mels: int, sample_rate_hz: int) -> np.ndarray:
    return mel_filter_bank(257, n_mels, 20.0, sample_rate_hz / 2, sample_rate_hz,
                           norm="slaney", mel_scale="slaney").T.astype(np.float32)


def log_mel_mean(wave: np.ndarray, n_mels: int = 64, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Mean over time of a log-mel spectrogram (25 ms windows, 10 ms hop)."""
    _, _, spec = stft(wave, fs=sample_rate_hz, nperseg=400, noverlap=240, nfft=512)
    power = (np.abs(spec) ** 2).astype(np.float32)  # (257, frames)
    log_mel = np.log(_mel_filters(n_mels, sample_rate_hz) @ power + 1e-10)
    return log_mel.mean(axis=1).astype(np.float32)


def clip_features(df: pd.DataFrame, n_mels: int = 64) -> tuple[pd.DataFrame, np.ndarray, list]:
    """Features of every readable clip; unreadable ones are dropped with a reason."""
    feats, keep, rejected = [], [], []
    for i, row in enumerate(tqdm(df.itertuples(), total=len(df), desc="fingerprint features",
                                 unit="clip", mininterval=2)):
        try:
            feats.append(log_mel_mean(load_audio(row.path), n_mels))
            keep.append(i)
        except AudioError as err:
            rejected.append({"key": row.key, **err.as_record()})
    return df.iloc[keep].reset_index(drop=True), np.stack(feats), rejected


def _classifier(seed: int):
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000,
                                                              random_state=seed))


def _fit_score(x_tr, y_tr, x_te, y_te, seed: int) -> tuple[float, np.ndarray]:
    model = _classifier(seed).fit(x_tr, y_tr)
    pred = model.predict(x_te)
    return float(balanced_accuracy_score(y_te, pred)), pred


def _macro_f1(y_true, y_pred, classes) -> float:
    return round(100 * float(f1_score(y_true, y_pred, labels=classes, average="macro",
                                      zero_division=0)), 2)


def _cosg_report(df: pd.DataFrame, feats: np.ndarray, train: np.ndarray, seed: int) -> dict:
    """The CoRS-trained probe on the CoSG sets, and a probe cross-validated inside CoSG (All)."""
    cosg = (df["subset"] == "CoSG").to_numpy()
    known = cosg & df["codec_seen"].astype(bool).to_numpy()
    groups = df["pair_key"].astype(str).to_numpy()
    out: dict = {"clips": {"cosg_known": int(known.sum()), "cosg_all": int(cosg.sum())}}
    for task in TASKS:
        y = df[f"label_{task}"].to_numpy()
        classes = sorted(set(y[train]))
        if len(classes) < 2:
            continue
        model = _classifier(seed).fit(feats[train], y[train])
        entry = {name: _macro_f1(y[mask], model.predict(feats[mask]), classes)
                 for name, mask in (("cors_trained_on_cosg_known", known),
                                    ("cors_trained_on_cosg_all", cosg))}
        x, yc, g = feats[cosg], y[cosg], groups[cosg]
        folds = min(5, len(set(g)))
        if folds >= 2 and len(set(yc)) >= 2:
            pred = np.empty_like(yc)
            for fit, score in GroupKFold(folds).split(x, yc, g):
                if len(set(yc[fit])) < 2:  # a fold with one class cannot fit a classifier
                    pred[score] = yc[fit][0]
                    continue
                pred[score] = _classifier(seed).fit(x[fit], yc[fit]).predict(x[score])
            entry["within_cosg_all_cv"] = _macro_f1(yc, pred, sorted(set(yc)))
        entry["chance"] = round(100 / len(classes), 2)
        out[task] = entry
    return out


def fingerprint_report(df: pd.DataFrame, feats: np.ndarray, seed: int = 0) -> dict:
    """Per-codec and per-task accuracies (see module docstring); ``df`` rows match ``feats``."""
    cors = (df["subset"] == "CoRS").to_numpy()
    train = cors & (df["split"] == "train").to_numpy()
    test = cors & (df["split"] == "test").to_numpy()
    is_bona = (df["codec"] == "bonafide").to_numpy()
    seen_codecs = sorted(set(df.loc[train & ~is_bona, "codec"]))
    report: dict = {"features": "log-mel (64 bands) mean over time", "classifier":
                    "logistic regression (standardised), train split -> test split",
                    "train_clips": int(train.sum()), "test_clips": int(test.sum()),
                    "per_codec": {}, "tasks": {}}
    # bona fide vs all seen codecs: scores the held-out codecs
    _, bin_pred = _fit_score(feats[train], (~is_bona[train]).astype(int), feats[test],
                             (~is_bona[test]).astype(int), seed)
    test_codecs = df.loc[test, "codec"].to_numpy()
    report["bonafide_recall_bin"] = round(float((bin_pred[test_codecs == "bonafide"] == 0).mean()), 4)
    for codec in sorted(set(df.loc[cors & ~is_bona, "codec"])):
        entry: dict = {"held_out": codec not in seen_codecs,
                       "spoof_recall_bin": round(float((bin_pred[test_codecs == codec] == 1).mean()), 4)}
        if codec in seen_codecs:
            tr = train & (is_bona | (df["codec"] == codec).to_numpy())
            te = test & (is_bona | (df["codec"] == codec).to_numpy())
            acc, _ = _fit_score(feats[tr], ~is_bona[tr], feats[te], ~is_bona[te], seed)
            entry["pairwise_balanced_acc"] = round(acc, 4)
            # the same without overall level (each clip's mean log-mel removed): spectral shape only
            shape = feats - feats.mean(axis=1, keepdims=True)
            acc, _ = _fit_score(shape[tr], ~is_bona[tr], shape[te], ~is_bona[te], seed)
            entry["pairwise_balanced_acc_level_free"] = round(acc, 4)
        report["per_codec"][codec] = entry
    for task in TASKS:
        y = df[f"label_{task}"].to_numpy()
        classes = sorted(set(y[train]))
        if len(classes) < 2:
            continue
        acc, pred = _fit_score(feats[train], y[train], feats[test], y[test], seed)
        recalls = recall_score(y[test], pred, labels=classes, average=None, zero_division=0)
        report["tasks"][task] = {"balanced_acc": round(acc, 4), "chance": round(1 / len(classes), 4),
                                 "per_class_recall": {int(c): round(float(r), 4)
                                                      for c, r in zip(classes, recalls)}}
    if (df["subset"] == "CoSG").any():
        report["cosg"] = _cosg_report(df, feats, train, seed)
    pairwise = [e["pairwise_balanced_acc"] for e in report["per_codec"].values()
                if "pairwise_balanced_acc" in e]
    report["summary"] = {
        "min_pairwise_acc": min(pairwise, default=None),
        "max_pairwise_acc": max(pairwise, default=None),
        "all_above_chance": bool(pairwise) and min(pairwise) > 0.6,
        "all_perfect": bool(pairwise) and min(pairwise) >= 0.999,
    }
    return report
