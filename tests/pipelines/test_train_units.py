"""Fast checks of the training pieces that need no Ray cluster."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pipelines.evaluate.predict import predict_clips
from pipelines.params import PROFILES_DIR, ParamsError, parse_params
from pipelines.train import toy
from pipelines.train.checkpoint import latest_run_id, load_best, save_training_state, write_best
from pipelines.train.data import train_batches
from pipelines.train.export import ScoringModule, pack_inputs
from pipelines.train.job import TrainJob


def _default() -> dict:
    return yaml.safe_load((PROFILES_DIR / "default.yaml").read_text())


def test_train_params_name_bad_variant_and_duplicated_baseline():
    data = _default()
    data["train"]["variants"] = ["sastnet", "nope"]
    from pipelines.params.model_check import check_model_params

    with pytest.raises(ParamsError, match="train.variants: 'nope' is not a variant"):
        check_model_params(parse_params(data))  # variant names: checked against the models
    data["train"]["variants"] = ["w2v2_aasist"]
    with pytest.raises(ParamsError, match="train.variants: 'w2v2_aasist' is the baseline_variant"):
        parse_params(data)
    data = _default()
    data["train"]["main"]["lr"] = 0
    with pytest.raises(ParamsError, match=r"train.main.lr: must be in \(0, 1\)"):
        parse_params(data)


def test_train_seeds_are_validated():
    data = _default()
    assert parse_params(data).train.seeds == (0, 1, 2, 3, 4)
    for bad, message in (([], "must list at least one seed"), ([0, 0], "lists a seed twice"),
                         ([-1], "is not a seed"), ([True], "expected an integer|int")):
        data["train"]["seeds"] = bad
        with pytest.raises(ParamsError, match=f"train.seeds.*({message})"):
            parse_params(data)


def test_paper_profile_has_the_papers_schedules():
    params = parse_params(yaml.safe_load((PROFILES_DIR / "paper.yaml").read_text()))
    tp = params.train
    assert (tp.main.batch_size, tp.main.epochs, tp.main.lr) == (12, 40, 5e-6)
    assert (tp.baseline.batch_size, tp.baseline.epochs, tp.baseline.lr) == (8, 20, 1e-6)
    assert (tp.weight_decay, tp.num_samples, tp.rawboost_algo) == (1e-4, 82200, 5)
    assert set(tp.tasks) == {"vq", "aux", "dec", "bin"}


def _job(**kw) -> TrainJob:
    base = dict(task="aux", variant="toy", model_builder="pipelines.train.toy",
                data_source="synthetic", num_train_clips=40, batch_size=8, num_samples=2000)
    return TrainJob(**{**base, **kw})


def test_job_fingerprint_follows_settings_not_fault_injection():
    job = _job()
    assert job.fingerprint() == dataclasses.replace(job, fault_injection={"x": 1}).fingerprint()
    assert job.fingerprint() != dataclasses.replace(job, lr=0.5).fingerprint()
    assert job.run_name.startswith("aux-toy-")


def test_job_run_name_follows_data_model_code_and_baseline(tmp_path, monkeypatch):
    """New shards, another model config or a retrained baseline must not resume a stale run."""
    from pipelines.train.job import job_from_params

    shards = tmp_path / "data" / "shards"
    for split in ("train-aux", "dev"):
        (shards / split).mkdir(parents=True)
        (shards / split / "shard-000000.tar").write_bytes(b"")
    index = {"splits": {s: {"shards": [{"path": f"{s}/shard-000000.tar", "samples": 8,
                                        "sha256": "a"}]} for s in ("train-aux", "dev")}}
    (shards / "index.json").write_text(json.dumps(index))
    best = tmp_path / "models" / "aux" / "w2v2_aasist" / "seed0" / "best"
    best.mkdir(parents=True)
    (best / "metrics.json").write_text('{"mlflow_run_id": "run1", "epoch": 4}')
    data = _default()
    data["common"]["data_dir"] = str(tmp_path / "data")
    data["train"]["models_dir"] = str(tmp_path / "models")
    data["model"]["audiomae_checkpoint"] = None  # random MAE weights: no pretrain_mae output here
    params = parse_params(data)

    def names() -> tuple[str, str]:
        return (job_from_params(params, "aux", "w2v2_aasist", 0).run_name,
                job_from_params(params, "aux", "sastnet", 0).run_name)

    first = names()
    assert names() == first  # deterministic: a rerun of the same job resumes
    (best / "metrics.json").write_text('{"mlflow_run_id": "run2", "epoch": 3}')
    second = names()
    assert second[0] == first[0] and second[1] != first[1]  # only the fine-tuned one changes
    index["splits"]["dev"]["shards"][0]["sha256"] = "b"
    (shards / "index.json").write_text(json.dumps(index))
    third = names()
    assert third[0] != second[0] and third[1] != second[1]
    seed1 = job_from_params(params, "aux", "sastnet", 1)
    assert seed1.seed == 1 and seed1.init_from.endswith("w2v2_aasist/seed1/best")
    assert seed1.run_name != third[1]  # another seed is another run
    with pytest.raises(ValueError, match=r"seed 7 is not in train.seeds \[0, 1, 2, 3, 4\]"):
        job_from_params(params, "aux", "sastnet", 7)
    import sastnet.models.config as config

    monkeypatch.setitem(config._TINY, "aasist", dataclasses.replace(
        config.AASISTConfig(), dropout=0.3))  # a code default changes
    assert names()[0] != third[0]


def test_each_rank_gets_the_same_number_of_disjoint_batches():
    job = _job(num_train_clips=30)  # 30 // 8 = 3 steps; 15 clips per rank, 4 per batch
    keys = []
    for rank in range(2):
        batches = list(train_batches(job, rank=rank, world=2, epoch=0, needs_whisper=False))
        assert len(batches) == job.steps_per_epoch == 3
        assert all(b["wave"].shape == (4, 2000) and b["whisper"] is None for b in batches)
        keys.append({k for b in batches for k in b["key"]})
    assert not keys[0] & keys[1]


def test_steps_per_epoch_cap():
    assert _job(num_train_clips=1000, max_steps_per_epoch=5).steps_per_epoch == 5


def test_best_folder_roundtrip_and_latest_run_id(tmp_path):
    model = toy.build_model(toy.model_config("toy", "aux"))
    for epoch, run_id in ((1, "run-a"), (2, "run-b")):
        ckpt = tmp_path / "ray" / f"checkpoint_{epoch}"
        ckpt.mkdir(parents=True)
        save_training_state(ckpt, {"model": model.state_dict(), "history": []},
                            {"mlflow_run_id": run_id, "epoch": epoch, "metrics": {}})
    assert latest_run_id(tmp_path / "ray") == "run-b"
    assert latest_run_id(tmp_path / "nothing") is None
    write_best(tmp_path / "ray" / "checkpoint_2", tmp_path / "best", {"job": {"task": "aux"}})
    state, config = load_best(tmp_path / "best")
    assert config["job"]["task"] == "aux"
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with pytest.raises(FileNotFoundError, match="train that model first"):
        load_best(tmp_path / "missing")


def test_predict_clips_gives_probabilities_and_all_labels():
    model = toy.build_model(toy.model_config("toy", "aux")).eval()
    clips = toy.synthetic_clips("aux", count=10, num_samples=2000, seed=0, split="dev")
    df = predict_clips(model, clips, "aux", batch_size=4)
    assert len(df) == 10 and df["key"].is_unique
    assert {"label_aux", "label_bin", "label_vq", "label_dec", "pred"} <= set(df.columns)
    probs = df[[f"prob_{c}" for c in range(4)]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (df["pred"] == probs.argmax(axis=1)).all()


def test_scoring_module_takes_one_packed_tensor():
    model = toy.build_model(toy.model_config("toy", "aux"))
    scoring = ScoringModule(model, num_samples=2000, whisper_dim=None)
    example = scoring.input_example(batch=3)
    assert example.shape == (3, 2000)
    probs = scoring(torch.from_numpy(pack_inputs(example, None)))
    assert probs.shape == (3, 4)
    packed = pack_inputs(np.zeros((2, 5), np.float32), np.ones((2, 128, 3), np.float32))
    assert packed.shape == (2, 5 + 128 * 3)
    assert json.dumps(scoring.num_samples)


def test_scoring_module_folds_weight_norm_and_keeps_outputs():
    import pickle

    from sastnet.models import build_model, model_config

    model = build_model(model_config("w2v2_aasist", "aux", "tiny", num_samples=4000)).eval()
    scoring = ScoringModule(model, num_samples=4000, whisper_dim=None)
    wave = torch.randn(2, 4000)
    with torch.no_grad():
        expected = torch.softmax(model(wave).logits, dim=-1)
        torch.testing.assert_close(scoring(wave), expected, atol=1e-5, rtol=1e-4)
    assert pickle.loads(pickle.dumps(scoring)) is not None



def test_an_epochs_batches_depend_on_seed_epoch_and_rank_only():
    """A resumed training (fresh process, other RNG history) gets the same batches for an epoch."""
    job = _job(num_train_clips=30, rawboost_algo=5)

    def keys_and_waves(epoch: int, rank: int, seed_job=job):
        batches = list(train_batches(seed_job, rank=rank, world=2, epoch=epoch, needs_whisper=False))
        return [b["key"] for b in batches], torch.cat([b["wave"] for b in batches])

    first = keys_and_waves(1, 0)
    np.random.seed(3), torch.manual_seed(3)  # global RNGs elsewhere must not matter
    again = keys_and_waves(1, 0)
    assert first[0] == again[0] and torch.equal(first[1], again[1])
    assert not torch.equal(keys_and_waves(2, 0)[1], first[1])
    assert not torch.equal(keys_and_waves(1, 0, dataclasses.replace(job, seed=99))[1], first[1])


def test_best_config_paths_are_relative_to_the_checkout_and_resolve_back(tmp_path, monkeypatch):
    """Two clones in different folders write the same best/config.json (and DVC hash)."""
    from pipelines.train.job import TrainJob, job_from_dict

    def job_in(root: Path) -> TrainJob:
        return TrainJob(task="aux", variant="sastnet",
                        train_shards=(str(root / "data/shards/train-aux-000000.tar"),),
                        dev_shards=(str(root / "data/shards/dev-000000.tar"),),
                        feature_dir=str(root / "data/features"),
                        init_from=str(root / "models/aux/w2v2_aasist/seed0/best"),
                        mae_init="/models/audiomae/pretrained.pth")  # outside: kept absolute

    dicts = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        monkeypatch.chdir(root)
        job = job_in(root.resolve())
        portable = job.portable_dict()
        assert portable["train_shards"] == ["data/shards/train-aux-000000.tar"]
        assert portable["init_from"] == "models/aux/w2v2_aasist/seed0/best"
        assert portable["mae_init"] == "/models/audiomae/pretrained.pth"
        assert job_from_dict(json.loads(json.dumps(portable))) == job
        dicts.append((json.dumps(portable, sort_keys=True), job.fingerprint()))
        # a Ray worker runs in its own folder: the run name it writes into best/metrics.json
        # is still the driver's (two clean clones once differed only there)
        monkeypatch.chdir(tmp_path)
        assert job.run_name.endswith(dicts[-1][1]) and job.portable_dict() == portable
    assert dicts[0] == dicts[1]
