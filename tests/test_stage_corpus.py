import json

import yaml

from pipelines.params import parse_params
from stages import corpus as stage
from tests.test_codecfake_plus import FIXTURES, SAMPLE_LISTS, _fake_release


def test_corpus_stage_codecfake_plus_writes_manifest_and_report(tmp_path, monkeypatch):
    release = tmp_path / "release"
    _fake_release(release)
    cfp = {**{k: list(v) if isinstance(v, tuple) else v for k, v in SAMPLE_LISTS.items()},
           "audio_root": str(release), "protocol_dir": str(FIXTURES)}
    params = {"common": {"data_dir": "d", "reports_dir": "r"},
              "corpus": {"source": "codecfake_plus", "codecfake_plus": cfp}}
    parse_params(params)  # the params file is valid
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    stage.main()
    from pipelines.common.manifest import read_manifest
    df = read_manifest(tmp_path / "d" / "corpus" / "manifest.parquet")
    assert len(df) == 190
    report = json.loads((tmp_path / "r" / "corpus.json").read_text())
    assert report["source"] == "codecfake_plus" and report["clips"] == 190
    train = report["groups"]["CoRS/train"]
    assert train["labels"]["aux"] == {"REAL": 20, "None": 7, "SEM": 7, "Disent": 6}
    # awk "{print $1}" | sort -u: 19 speakers (p300 twice); 20 bona fide utterances
    assert train["speakers"] == 19 and train["utterances"] == 20
    assert report["release_defects"]["duplicate_rows"] == {"CoSG_ALL.sample40.txt": 10}
