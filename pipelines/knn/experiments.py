"""The kNN attribution experiments of the paper's Table 1, on the stored embeddings.

    python -m stages.knn      # reports/knn/knn.md, metrics/knn.json, the F1-vs-k plot, MLflow run

Every figure is a mean +- std over ``splits`` random splits of the source clips (split ``i``
seeded by ``[seed, i]``) into support / validation / query (``sastnet.knn.split_parts``);
classes are balanced by subsampling in every part. Known codecs (``held_out`` false) make the
classes; the held-out codecs are the "unknown" systems of the open-set figures.

* layer: the swept layer whose checkpoint-level validation curve peaks highest;
* k per level: the peak of the mean validation F1-vs-k curve (in-domain, prompts disjoint);
* in-domain, prompts disjoint: checkpoint, architecture and taxonomy (VQ / AUX / DEC) level;
* prompts mixed: every (class, clip) item split on its own (paper, Table 1 row 5);
* out-of-domain: support and query from disjoint checkpoints (rows 2-3), architecture level;
* open set: the known codecs and the bona fide clips (one more system, the reference for real
  speech) as support; threshold on the kNN distance at the ``open_set_quantile`` of their
  validation clips; detection of the held-out codecs' query clips, false alarms on the known
  codecs' and on the bona fide ones; their taxonomy-level attribution (the fallback for an
  unknown codec); enrolment of each held-out codec from its support clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from pipelines.knn.clips import BONAFIDE
from pipelines.params.knn import KnnAttributionParams
from sastnet import knn

LEVELS = ("checkpoint", "architecture", "vq", "aux", "dec")
LEVEL_COLUMN = {"checkpoint": "class", "architecture": "codec", "vq": "vq", "aux": "aux",
                "dec": "dec"}
OOD_CONDITIONS = {  # id -> (support checkpoints, query checkpoints); paper Table 1 rows 2-3
    "support_late_query_early_mid": (("late",), ("early", "mid")),
    "support_early_late_query_mid": (("early", "late"), ("mid",)),
}


@dataclass
class Parts:
    """Item indices (rows of the clip table) of one split, before balancing."""

    support: np.ndarray
    validation: np.ndarray
    query: np.ndarray


def source_parts(table: pd.DataFrame, seed, cfg: KnnAttributionParams) -> np.ndarray:
    """Part (0 support, 1 validation, 2 query, -1 out) of every row, by its source clip."""
    sources = table.drop_duplicates("source_key").sort_values("source_key")
    prompts = sources["text"].where(sources["text"].notna(), sources["source_key"])
    parts = knn.split_parts(sources["speaker"].to_numpy(), prompts.to_numpy(), seed,
                            fractions=cfg.fractions, speaker_disjoint=cfg.speaker_disjoint)
    part_of = dict(zip(sources["source_key"], parts))
    return table["source_key"].map(part_of).to_numpy()


def _codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    names = sorted(values.unique())
    return values.map({n: i for i, n in enumerate(names)}).to_numpy(), names


def _balanced(idx: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return idx[knn.balanced(labels[idx], rng)]


class Experiment:
    """The clip table and its embeddings at one layer; runs conditions over the splits."""

    def __init__(self, table: pd.DataFrame, vectors: np.ndarray, cfg: KnnAttributionParams,
                 seed: int) -> None:
        self.table = table.reset_index(drop=True)
        self.x = vectors
        self.cfg, self.seed = cfg, seed
        # known spoof systems make the attribution classes; bona fide clips (a table from
        # before #40 has none) join only the open set, as its reference for real speech
        self.bona = (self.table["codec"] == BONAFIDE).to_numpy(bool)
        self.known = ~self.table["held_out"].to_numpy(bool) & ~self.bona
        self.parts = [source_parts(self.table, [seed, i], cfg) for i in range(cfg.splits)]

    def rng(self, split: int, *tags: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, split, *tags])

    def labels(self, level: str) -> tuple[np.ndarray, list[str]]:
        return _codes(self.table[LEVEL_COLUMN[level]])

    def split(self, i: int, mask: np.ndarray, level: str, tag: int) -> Parts:
        """Balanced support / validation / query indices of split ``i`` among ``mask`` rows."""
        y, _ = self.labels(level)
        rng = self.rng(i, tag)
        part = self.parts[i]
        return Parts(*(_balanced(np.flatnonzero(mask & (part == p)), y, rng) for p in range(3)))

    def bona_parts(self, i: int) -> Parts:
        """Split ``i``'s bona fide clips, all of them (one class: nothing to balance; cutting
        every spoof class to its count would cut their support to a third)."""
        part = self.parts[i]
        return Parts(*(np.flatnonzero(self.bona & (part == p)) for p in range(3)))

    def mixed_split(self, i: int, mask: np.ndarray, level: str) -> Parts:
        """Every item split on its own: a prompt may be in support and query (Table 1 row 5)."""
        y, _ = self.labels(level)
        idx = np.flatnonzero(mask)
        part = knn.split_items_mixed(len(idx), [self.seed, i, 99], self.cfg.fractions)
        rng = self.rng(i, 98)
        return Parts(*(_balanced(idx[part == p], y, rng) for p in range(3)))

    def curve(self, parts: Parts, level: str) -> dict[int, float]:
        y, _ = self.labels(level)
        per_class = np.bincount(y[parts.support]).max()
        ks = [k for k in self.cfg.k_grid if k <= per_class]
        return knn.f1_vs_k(self.x[parts.support], y[parts.support], self.x[parts.validation],
                           y[parts.validation], ks)

    def query_f1(self, parts: Parts, level: str, k: int) -> float:
        y, _ = self.labels(level)
        k = min(k, len(parts.support))
        pred = knn.knn_predict(self.x[parts.support], y[parts.support], self.x[parts.query], k)
        return knn.macro_f1(y[parts.query], pred.labels)


def mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}


def mean_curve(curves: list[dict[int, float]]) -> dict[int, dict[str, float]]:
    ks = sorted(set.intersection(*(set(c) for c in curves)))
    return {k: mean_std([c[k] for c in curves]) for k in ks}


def levels_of(table: pd.DataFrame) -> list[str]:
    """Checkpoint level only where some codec has more than one checkpoint."""
    known = table[~table["held_out"].astype(bool) & (table["codec"] != BONAFIDE)]
    several = known.groupby("codec")["checkpoint"].nunique().max() > 1
    return [lv for lv in LEVELS if lv != "checkpoint" or several]


def choose_layer(table: pd.DataFrame, vectors: np.ndarray, layers: list[int],
                 cfg: KnnAttributionParams, seed: int) -> tuple[int, dict]:
    """The layer (position in ``vectors``' layer axis) of the highest peak of the mean
    validation F1-vs-k curve at the finest level; returns it and every layer's peak."""
    level = levels_of(table)[0]
    peaks = {}
    for pos, layer in enumerate(layers):
        exp = Experiment(table, vectors[:, pos], cfg, seed)
        curves = [exp.curve(exp.split(i, exp.known, level, 0), level) for i in range(cfg.splits)]
        peaks[layer] = max(v["mean"] for v in mean_curve(curves).values())
    if cfg.layer is not None:
        if cfg.layer not in layers:
            raise ValueError(f"knn.attribution.layer {cfg.layer} was not embedded (layers: "
                             f"{layers}); add it to knn.embeddings.layers")
        return layers.index(cfg.layer), {"level": level, "validation_peak_f1": peaks}
    best = max(peaks, key=lambda layer: (peaks[layer], -layer))
    return layers.index(best), {"level": level, "validation_peak_f1": peaks}


def run_experiments(table: pd.DataFrame, vectors: np.ndarray, layers: list[int],
                    cfg: KnnAttributionParams, seed: int) -> dict:
    """Every condition at the chosen layer; a JSON-able result dict (F1 in [0, 1])."""
    pos, layer_search = choose_layer(table, vectors, layers, cfg, seed)
    exp = Experiment(table, vectors[:, pos], cfg, seed)
    out: dict = {"layer": layers[pos], "layer_search": layer_search, "splits": cfg.splits,
                 "levels": {}, "curves": {}, "k": {}}
    level_parts = {}
    for tag, level in enumerate(levels_of(table)):
        parts = [exp.split(i, exp.known, level, tag) for i in range(cfg.splits)]
        level_parts[level] = parts
        curve = mean_curve([exp.curve(p, level) for p in parts])
        k = knn.choose_k({k: v["mean"] for k, v in curve.items()})
        out["curves"][level] = curve
        out["k"][level] = k
        out["levels"][level] = {
            **mean_std([exp.query_f1(p, level, k) for p in parts]),
            "classes": int(len(np.unique(exp.labels(level)[0][exp.known]))),
            "support_per_class": int(np.bincount(exp.labels(level)[0][parts[0].support]).max()),
            "query_items": int(len(parts[0].query))}
    out["prompts_mixed"] = {
        level: mean_std([exp.query_f1(exp.mixed_split(i, exp.known, level), level, out["k"][level])
                         for i in range(cfg.splits)])
        for level in ("checkpoint", "architecture") if level in out["k"]}
    out["ood_checkpoints"] = ood_checkpoints(exp, out["k"]["architecture"])
    out["open_set"] = open_set(exp, out["k"])
    return out


def ood_checkpoints(exp: Experiment, k: int) -> dict:
    """Architecture attribution with support and query from disjoint checkpoints."""
    ckpt = exp.table["checkpoint"].to_numpy()
    out = {}
    for name, (sup, qry) in OOD_CONDITIONS.items():
        if not set(sup + qry) <= set(ckpt[exp.known]):
            continue
        scores = []
        for i in range(exp.cfg.splits):
            s = exp.split(i, exp.known & np.isin(ckpt, sup), "architecture", 10)
            q = exp.split(i, exp.known & np.isin(ckpt, qry), "architecture", 11)
            scores.append(exp.query_f1(Parts(s.support, s.validation, q.query), "architecture",
                                       min(k, np.bincount(exp.labels("architecture")[0][s.support]).max())))
        out[name] = {**mean_std(scores), "support": list(sup), "query": list(qry)}
    return out


def bonafide_threshold(x: np.ndarray, speakers: np.ndarray, k: int, center: np.ndarray,
                       quantile: float) -> float:
    """The bona fide system's own open-set threshold: the ``quantile`` of its support clips'
    mean distances to their ``k`` nearest support clips *of other speakers*.

    Real speech varies by speaker far more than one codec's clips do, so the one threshold fitted
    on the validation clips flagged most real clips of unseen speakers (default-profile data:
    0.73 of them, threshold fitted on the codecs' and bona fide validation clips together); and
    the bona fide validation part is one or two speakers. Leaving each speaker out of its own
    neighbours is the unseen-speaker case, on every support clip.
    """
    speakers = np.asarray(speakers).astype(str)
    dist = knn.cosine_distances(x, x, center)
    same = speakers[:, None] == speakers[None, :]
    others = (~same).sum(axis=1).min()
    if others == 0:
        raise ValueError("the bona fide support clips come from one speaker: no threshold")
    near = np.sort(np.where(same, np.inf, dist), axis=1)[:, :min(k, int(others))]
    return knn.fit_threshold(near.mean(axis=1), quantile)


def open_set(exp: Experiment, ks: dict[str, int]) -> dict:
    """Unknown-codec detection, taxonomy fallback and enrolment, at the architecture level.

    The support set holds the known codecs and, when the clip table has them, the bona fide
    clips as one more system. A clip is flagged when its distance is above the threshold of the
    system the vote chose: the codecs' one (fitted on their validation clips, as before #40) or
    bona fide's own (``bonafide_threshold``). So the flag means "unknown spoof system", and the
    bona fide figures say how often real speech is
    flagged (``bonafide_false_alarm_rate``) or called a codec, and how often an unknown codec's
    clip passes as bona fide; ``bonafide_false_alarm_rate_without_reference`` is the same real
    speech against an index of spoof systems only (the index before #40).
    """
    held = ~exp.known & ~exp.bona
    if not held.any():
        return {}
    y, names = exp.labels("architecture")
    bona_label = names.index(BONAFIDE) if exp.bona.any() else -2
    k = ks["architecture"]
    figures: dict[str, list] = {"auroc": [], "detection_rate": [], "false_alarm_rate": [],
                                "f1_unknown": [], "open_set_macro_f1": [], "threshold": [],
                                "enrolled_accuracy": [], "enrolled_flagged": []}
    if exp.bona.any():
        figures.update({"bonafide_false_alarm_rate": [], "bonafide_called_spoof": [],
                        "bonafide_threshold": [],
                        "unknown_called_bonafide": [],
                        "bonafide_false_alarm_rate_without_reference": []})
    fallback: dict[str, list] = {t: [] for t in ("vq", "aux", "dec")}
    used = 0
    for i in range(exp.cfg.splits):
        known = exp.split(i, exp.known, "architecture", 1)
        unknown = exp.split(i, held, "architecture", 20)
        bona = exp.bona_parts(i)
        if not (len(known.validation) and len(known.query) and len(unknown.query)):
            continue  # too few clips for this split (tiny corpora): no figure from it
        used += 1
        spoof_support = exp.x[known.support]
        use_bona = len(bona.support) > 0 and "bonafide_false_alarm_rate" in figures
        sup = np.r_[known.support, bona.support] if use_bona else known.support
        xs, ys = exp.x[sup], y[sup]
        kk = min(k, len(sup))
        center = knn.support_center(spoof_support)  # one centre for every distance held to the threshold
        kk_s = min(k, len(known.support))
        val = knn.knn_predict(spoof_support, y[known.support], exp.x[known.validation], kk_s, center)
        threshold = knn.fit_threshold(val.distances, exp.cfg.open_set_quantile)  # the codecs'
        limits = np.full(len(names), threshold)  # per system: the codecs' one, bona fide its own
        if use_bona:
            limits[bona_label] = bonafide_threshold(
                exp.x[bona.support], exp.table["speaker"].to_numpy()[bona.support], k, center,
                exp.cfg.open_set_quantile)
        q_known = knn.knn_predict(xs, ys, exp.x[known.query], kk, center)
        q_unknown = knn.knn_predict(xs, ys, exp.x[unknown.query], kk, center)

        def flags(r, limits=limits):  # distance above the threshold of the system the vote chose
            return r.distances > limits[r.labels]

        scores = knn.open_set_scores(q_known.distances, q_unknown.distances, threshold)
        scores["detection_rate"] = float(flags(q_unknown).mean())
        scores["false_alarm_rate"] = float(flags(q_known).mean())
        both = np.r_[np.zeros(len(q_known.labels)), np.ones(len(q_unknown.labels))]
        scores["f1_unknown"] = float(f1_score(both, np.r_[flags(q_known), flags(q_unknown)],
                                               zero_division=0))
        for key, value in scores.items():
            figures[key].append(value)
        figures["threshold"].append(threshold)
        # one label space: the known codecs, bona fide, and "unknown" (-1)
        q_bona = (knn.knn_predict(xs, ys, exp.x[bona.query], kk, center)
                  if use_bona and len(bona.query) else None)
        truth = np.r_[y[known.query], y[bona.query] if q_bona is not None else [],
                      np.full(len(unknown.query), -1)]
        flagged = [np.where(flags(r), -1, r.labels)
                   for r in (q_known, q_bona, q_unknown) if r is not None]
        figures["open_set_macro_f1"].append(knn.macro_f1(truth, np.concatenate(flagged)))
        if q_bona is not None:
            flag_b = flags(q_bona)
            figures["bonafide_threshold"].append(float(limits[bona_label]))
            figures["bonafide_false_alarm_rate"].append(float(flag_b.mean()))
            figures["bonafide_called_spoof"].append(
                float(np.mean(~flag_b & (q_bona.labels != bona_label))))
            figures["unknown_called_bonafide"].append(float(np.mean(
                ~flags(q_unknown) & (q_unknown.labels == bona_label))))
            # the index before #40: spoof systems only, the codecs' threshold
            old = knn.knn_predict(spoof_support, y[known.support], exp.x[bona.query], kk_s, center)
            figures["bonafide_false_alarm_rate_without_reference"].append(
                float(np.mean(old.distances > threshold)))
        for tag, task in enumerate(fallback, start=30):
            # the unknown codec's family by a vote of the known codecs' clips, balanced per
            # family as in the taxonomy-level rows
            yt, _ = exp.labels(task)
            fam = exp.split(i, exp.known, task, tag).support
            pred_t = knn.knn_predict(exp.x[fam], yt[fam], exp.x[unknown.query],
                                     min(ks[task], len(fam))).labels
            fallback[task].append(knn.macro_f1(yt[unknown.query], pred_t))
        # enrolment: each held-out codec's support clips join the index, nothing else changes
        xe = np.r_[xs, exp.x[unknown.support]]
        ye = np.r_[ys, y[unknown.support]]
        after = knn.knn_predict(xe, ye, exp.x[unknown.query], kk, center)
        flagged_after = after.distances > limits[after.labels]
        figures["enrolled_accuracy"].append(
            float(np.mean((after.labels == y[unknown.query]) & ~flagged_after)))
        figures["enrolled_flagged"].append(float(np.mean(flagged_after)))
    if not used:
        return {}  # no split had known and unknown query clips: the report leaves the section out
    figures = {key: v for key, v in figures.items() if v}  # no bona fide query clips: no figure
    return {"k": k, "quantile": exp.cfg.open_set_quantile, "splits": used,
            "unknown_codecs": sorted(exp.table.loc[held, "codec"].unique()),
            "bonafide_reference": bool(exp.bona.any()),
            **{key: mean_std(v) for key, v in figures.items()},
            "taxonomy_fallback": {t: mean_std(v) for t, v in fallback.items()}}


def build_support_index(table: pd.DataFrame, vectors: np.ndarray, layer: int, k: int,
                        cfg: KnnAttributionParams, seed: int, meta: dict):
    """The deployable index: split 0's balanced known support clips (architecture level) plus
    its bona fide support clips as the system ``bonafide``; the open-set threshold fitted on the
    codecs' validation clips and bona fide's own (``bonafide_threshold``), as in the open-set
    figures."""
    from pipelines.knn.index import FIELDS, SupportIndex

    exp = Experiment(table, vectors, cfg, seed)
    parts = exp.split(0, exp.known, "architecture", 1)
    bona = exp.bona_parts(0)
    y, _ = exp.labels("architecture")
    sup = np.r_[parts.support, bona.support]
    kk = min(k, len(sup))
    # the centre of the known codecs, as in the open-set figures; kept through enrolments
    center = knn.support_center(vectors[parts.support])
    val = knn.knn_predict(vectors[parts.support], y[parts.support], vectors[parts.validation],
                          min(k, len(parts.support)), center)
    threshold = knn.fit_threshold(val.distances, cfg.open_set_quantile)
    own = {}  # systems with their own threshold (SupportIndex.attribute)
    if len(bona.support):
        own[BONAFIDE] = bonafide_threshold(vectors[bona.support],
                                           exp.table["speaker"].to_numpy()[bona.support], k,
                                           center, cfg.open_set_quantile)
    rows = exp.table.iloc[sup]
    columns = dict(zip(FIELDS, (rows["codec"], rows["class"], rows["vq"], rows["aux"], rows["dec"],
                                rows["key"])))
    return SupportIndex(vectors[sup].astype(np.float32),
                        {f: c.astype(str).to_numpy() for f, c in columns.items()},
                        center=center,
                        meta={**meta, "layer": layer, "k": kk, "threshold": threshold,
                              "open_set_quantile": cfg.open_set_quantile,
                              "system_thresholds": own, "bonafide_clips": int(len(bona.support))})
