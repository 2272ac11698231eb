"""Ray job: Whisper features of K seeded RawBoost views of every training clip.

    python -m stages.features_views     # params: features.augmented_views (K), train.rawboost_algo,
                                        # train.tasks, common.seed -> data/features_views/v<k>/

The release runs Whisper on the RawBoost-augmented batch. To keep Whisper computed once, this
job encodes, for each training shard ``train-<task>`` and each view ``k < K``, the clip
augmented by ``sastnet.augment.rawboost_view(wave, algo, seed, key, k)`` and writes a feature
shard mirroring the audio shard (``data/features_views/v<k>/<split>/shard-N.tar``, same keys,
same order, its own ``index.json``; resumable like ``pipelines.whisper.features``). The training
loader then draws one view per clip and epoch (``pick_view``), augments the waveform with that
same view and reads that view's features, so both branches see one augmented waveform.
With K = 0 nothing is computed (the acoustic branch gets fresh RawBoost, Whisper clean audio).
"""

from __future__ import annotations

from pathlib import Path

from pipelines.common.io import split_volatile, write_json
from pipelines.params.features import FeaturesParams
from pipelines.whisper.features import FeatureWorker, run_features
from sastnet.augment import rawboost_view

VIEWS_DIR = "features_views"  # under common.data_dir


class ViewFeatureWorker(FeatureWorker):
    """A frozen Whisper encoder that encodes one RawBoost view of every clip it is given."""

    def __init__(self, cfg: FeaturesParams, view: int, algo: int, seed: int) -> None:
        super().__init__(cfg)
        self.view, self.algo, self.seed = view, algo, seed

    def augment(self, key: str, wave):
        return rawboost_view(wave, self.algo, self.seed, key, self.view)

    def transform(self, key: str, wave):  # FeatureWorker.extract's hook: encode the view
        return self.augment(key, wave)


def view_dirs(out_root: str | Path, num_views: int) -> list[Path]:
    """``<out_root>/v<k>`` for each view: the roots ``make_dataset(view_dirs=...)`` reads."""
    return [Path(out_root) / f"v{k}" for k in range(num_views)]


def run_view_features(shards_dir: str | Path, out_root: str | Path, cfg: FeaturesParams, *,
                      algo: int, seed: int, tasks: tuple[str, ...], progress: bool = True) -> dict:
    """Feature shards of every view of every ``train-<task>`` shard; returns the report."""
    if cfg.rm_sil:
        raise ValueError("features.augmented_views: views are of the full clip; rm_sil features "
                         "have no views")
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    splits = [f"train-{t}" for t in tasks]
    reports = []
    for k, out_dir in enumerate(view_dirs(out_root, cfg.augmented_views)):
        reports.append(run_features(shards_dir, out_dir, cfg, progress=progress, splits=splits,
                                    worker=ViewFeatureWorker, worker_args=(k, algo, seed),
                                    extra_settings={"view": k, "rawboost_algo": algo,
                                                    "seed": seed}))
    for stale in out_root.glob("v*"):  # views beyond K from an earlier run
        if stale.is_dir() and stale not in view_dirs(out_root, cfg.augmented_views):
            for f in sorted(stale.rglob("*"), reverse=True):
                f.unlink() if f.is_file() else f.rmdir()
            stale.rmdir()
    report = {"views": cfg.augmented_views, "rawboost_algo": algo, "splits": splits,
              "computed_clips": sum(r["computed_clips"] for r in reports),
              "wall_s": round(sum(r["wall_s"] for r in reports), 3), "per_view": reports}
    write_json(out_root / "report.json", split_volatile(report)[0])  # DVC-hashed: no timings
    return report

