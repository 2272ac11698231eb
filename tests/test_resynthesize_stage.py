"""The ``resynthesize`` stage module, run in a scratch folder with its own params.yaml."""

import json

import pandas as pd
import yaml

from pipelines.params import PROFILES_DIR
from stages import resynthesize as stage
from tests.test_resynthesize import _corpus


def test_codecfake_plus_manifest_passes_through(tmp_path, monkeypatch):
    params = yaml.safe_load((PROFILES_DIR / "default.yaml").read_text())
    params["corpus"]["source"] = "codecfake_plus"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    corpus = _corpus(tmp_path)
    (tmp_path / "data" / "corpus").mkdir(parents=True)
    corpus.to_parquet(tmp_path / "data" / "corpus" / "manifest.parquet")
    monkeypatch.chdir(tmp_path)
    stage.main()  # no codec zoo needed: nothing is resynthesized
    out = pd.read_parquet(tmp_path / "data" / "resynth" / "manifest.parquet")
    assert out["key"].tolist() == corpus["key"].tolist()
    report = json.loads((tmp_path / "reports" / "resynth.json").read_text())
    assert report["clips"] == len(corpus) and "codecfake_plus" in report["note"]
