"""The paper profile through every DVC stage, on a fake CodecFake+ release, in a copy of the repo.

Slow. The release is built from the real protocol samples (tests/codecfake_release.py, tiny
audio at every listed path). ``profiles/paper.yaml`` is used as it ships - official lists,
``train.experiment``, the "Pretrained W2V2" SASTNet, AudioMAE weights from a file in the official
layout - with only sizes and lengths capped so it runs on 2 CPU cores: tiny model sizes, the
offline Whisper tiny.en, one or two steps, short clips. The paper-size networks themselves are
checked (every task x variant, shapes) in tests/test_paper_profile_params.py.
"""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.codecfake_release import build_fake_release, list_utts
from tests.models.test_audiomae_load import official_state
from tests.repo_copy import _copy_repo, _run

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3000)]
# capped for CI time (every task x variant is shape-checked in test_paper_profile_params.py);
# the shard stage still writes all four tasks' lists
TASKS = ["aux"]
VARIANTS = ["sastnet_pretrained"]  # the tuned-W2V2 SASTNet: tests/test_pipeline_repro.py


def _capped_paper_params(release: dict, mae_ckpt: Path) -> dict:
    p = yaml.safe_load((ROOT / "profiles" / "paper.yaml").read_text())
    p["corpus"]["codecfake_plus"].update(release)
    p["vad"].update(num_cpus=2, batch_clips=64)
    p["shard"]["samples_per_shard"] = 6
    p["features"].update(model="data/whisper/tiny.en", variant="fast", actors=2, batch_size=4,
                         num_samples=16000, augmented_views=2)
    p["codecs"].update(codecs=["zoo_mvq_none_time"], steps=6, lm_steps=6, batch_size=4,
                       dev_clips=1, max_train_clips=50)
    p["model"].update(size="tiny", audiomae_checkpoint=str(mae_ckpt))
    # kNN: the offline Whisper tiny.en encoder (layer 2 of 0-4) for the paper's XLS-R 2B
    p["knn"]["clips"].update(clips_per_speaker=2, max_seconds=1.0, workers=2)
    p["knn"]["embeddings"].update(model="data/whisper/tiny.en", layers=[2], threads_per_actor=1,
                                  batch_size=8)
    p["knn"]["attribution"].update(layer=2, k_grid=[1, 3, 5])
    p["train"].update(tasks=TASKS, variants=VARIANTS, seeds=[0], num_samples=16000, num_workers=2,
                      cpus_per_worker=1.0, use_gpu=False, shuffle_buffer=10,
                      baseline={"epochs": 1, "batch_size": 4, "lr": 1e-3, "max_steps_per_epoch": 1},
                      main={"epochs": 1, "batch_size": 4, "lr": 1e-3, "max_steps_per_epoch": 2})
    return p


def _paper_run(tmp_path_factory) -> tuple[Path, dict, Path]:
    """The capped paper profile from nothing through the stage clock (scripts/run.sh)."""
    tmp_path = tmp_path_factory.mktemp("paper")
    repo = tmp_path / "repo"
    _copy_repo(repo)
    release = build_fake_release(tmp_path / "codecfake_plus")
    # the tiny MAE's AudioMAE weights, written in the official checkpoint layout
    mae_ckpt = tmp_path / "audiomae_tiny.pth"
    torch.save({"model": official_state(64, 2, 48, dec_depth=1)}, mae_ckpt)
    params = _capped_paper_params(release, mae_ckpt)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "RAY_AUTH_MODE": "disabled",
           "PYTHONPATH": str(repo)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)

    _run([sys.executable, "-m", "pipelines.repro"], repo, env)
    shutil.rmtree(repo / "ray_results", ignore_errors=True)
    return repo, release, mae_ckpt


# started beside tests/test_pipeline_repro.py's runs by ``whole_runs`` (tests/conftest.py)
WHOLE_RUNS = {"paper": _paper_run}


def test_paper_profile_every_stage_on_a_fake_release(whole_runs):
    repo, release, mae_ckpt = whole_runs["paper"].result()
    # the official lists, row for row, in every task's shards
    index = json.loads((repo / "data" / "shards" / "index.json").read_text())
    proto = Path(release["protocol_dir"])
    for task, name in (("aux", "mult_learn.txt"), ("vq", "mult_learn_bal_vq.txt"),
                       ("dec", "mult_learn_bal_dec.txt"), ("bin", "mult_learn.txt")):
        assert index["splits"][f"train-{task}"]["samples"] == len(list_utts(proto / f"train_{name}"))
        assert index["splits"][f"test_list-{task}"]["samples"] == len(list_utts(proto / f"test_{name}"))
    # every model trained, with the experiment in its run name and the AudioMAE weights loaded
    for task in TASKS:
        for variant in ["w2v2_aasist", *VARIANTS]:
            run = json.loads((repo / "models" / task / variant / "seed0" / "run.json").read_text())
            assert run["job"].startswith(f"{task}-{variant}-full-"), run["job"]
    config = json.loads((repo / "models" / "aux" / "sastnet_pretrained" / "seed0" / "best"
                         / "config.json").read_text())
    assert config["job"]["mae_init"] == str(mae_ckpt)
    assert not config["job"]["init_from"]  # wav2vec 2.0 from the SSL checkpoint, not the baseline
    # Whisper features of two RawBoost views of every training clip, used by the Whisper variants
    views = json.loads((repo / "data" / "features_views" / "report.json").read_text())
    assert views["views"] == 2 and len(views["per_view"]) == 2
    assert all(v["clips"] > 0 for v in views["per_view"])  # what was computed now: untracked
    assert config["job"]["feature_views"] == 2
    # predictions under the experiment, the official test list among the sets, tables captioned
    preds = repo / "predictions" / "aux" / "sastnet_pretrained" / "seed0" / "full"
    assert (preds / "test_list.parquet").exists() and (preds / "cosg_all.parquet").exists()
    table_iv = (repo / "reports" / "tables" / "table_iv.md").read_text()
    assert "Experiment: full." in table_iv and "SASTNet (Pretrained W2V2)" in table_iv
    metrics = json.loads((repo / "metrics" / "evaluation.json").read_text())
    assert "full_aux" in set(metrics)
