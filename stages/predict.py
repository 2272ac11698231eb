"""DVC stage ``predict``: class probabilities of one trained model on every evaluation set.

    python -m stages.predict --task aux --variant sastnet --seed 0

Writes ``predictions/<task>/<variant>/seed<k>/<experiment>/<eval_set>[.rm_sil].parquet`` (the layout
``pipelines.evaluate.scoring`` reads): CoRS test seen / unseen in the original and the silence-removed
(``rm_sil``) view, CoSG known-codec and all. ``experiment`` is ``train.experiment``: ``full``
when the models were trained on the whole train split and ``seen250`` when trained on utterance
ids <= ``shard.seen_max_utt_id`` only (the paper's Tables II and III protocol). With official
CodecFake+ lists (``shard.train_lists: official``) the task's own test list is one more set,
``test_list`` (shard split ``test_list-<task>``). With ``launder.enabled`` the model is also
predicted on every laundered set of stage ``launder`` (``pipelines/evaluate/robustness.py``:
``.../<experiment>/launder/<condition>/<eval_set>.parquet``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipelines.common.io import atomic_path
from pipelines.common.process import stage_process
from pipelines.dataset.loader import shard_paths_for
from pipelines.evaluate.predict import load_trained_model, predict
from pipelines.evaluate.robustness import predict_laundered
from pipelines.params import load_params
from pipelines.params.train import model_dir
from stages._cli import Seed, Task, Variant

# (evaluation set, rm_sil view): silence removal is the CoRS experiment of Table II.
EVAL_VIEWS: tuple[tuple[str, bool], ...] = (
    ("test_seen", False), ("test_unseen", False), ("test_seen", True), ("test_unseen", True),
    ("cosg_known", False), ("cosg_all", False), ("test_list", False),
)
PER_TASK_SETS = ("test_list",)  # shard split <set>-<task>: the task's official list


def available_splits(shards_dir: str) -> set[str]:
    index = Path(shards_dir) / "index.json"
    return set(json.loads(index.read_text())["splits"]) if index.exists() else set()


def predict_all(task: str, variant: str, seed: int, *, models_dir: str, shards_dir: str,
                features_dir: str, out_root: str, experiment: str,
                launder_dir: str | None = None) -> list[Path]:
    """Predict every evaluation view of ``models_dir/<task>/<variant>/seed<k>/best`` (and the
    laundered sets under ``launder_dir``, if any); returns the files written."""
    best = model_dir(models_dir, task, variant, seed) / "best"
    loaded = load_trained_model(best)  # once for all views
    written = []
    for eval_set, rm_sil in EVAL_VIEWS:
        split = f"{eval_set}-{task}" if eval_set in PER_TASK_SETS else eval_set
        if eval_set in PER_TASK_SETS and split not in available_splits(shards_dir):
            continue  # only with shard.train_lists: official (the paper profile)
        shards = shard_paths_for(shards_dir, split)
        if not shards:
            print(f"predict: {eval_set} has no shards, skipped")
            continue
        # Whisper features of the rm_sil view are computed from the silence-removed audio.
        feature_dir = f"{features_dir}_rm_sil" if rm_sil else features_dir
        df = predict(best, shards, feature_dir, rm_sil=rm_sil, loaded=loaded)
        out = Path(out_root) / task / variant / f"seed{seed}" / experiment / (
            f"{eval_set}{'.rm_sil' if rm_sil else ''}.parquet")
        with atomic_path(out) as tmp:
            df.to_parquet(tmp, index=False)
        written.append(out)
        print(f"predict {task}/{variant}/seed{seed} {eval_set}{' rm_sil' if rm_sil else ''}: "
              f"{len(df)} clips, accuracy {(df['pred'] == df[f'label_{task}']).mean():.3f}")
    if launder_dir is not None:
        out_dir = Path(out_root) / task / variant / f"seed{seed}" / experiment
        laundered = predict_laundered(best, loaded, launder_dir, out_dir)
        written += laundered
        if laundered:
            print(f"predict {task}/{variant}/seed{seed}: {len(laundered)} laundered sets")
    return written


def main(task: Task, variant: Variant, seed: Seed) -> None:
    """Class probabilities of one trained model on every evaluation set."""
    params = load_params()
    data = Path(params.common.data_dir)
    predict_all(task, variant, seed, models_dir=params.train.models_dir,
                shards_dir=str(data / "shards"), features_dir=str(data / "features"),
                out_root="predictions", experiment=params.train.experiment,
                launder_dir=str(data / "launder"))


if __name__ == "__main__":
    with stage_process("predict"):
        typer.run(main)
