"""The VAD's local Ray follows the machine (issue 39: the paper profile asked for 16 VAD CPUs
whatever the machine, so a 4-core machine ran 16 silero-vad processes at once)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.params import PROFILES_DIR, load_params


@pytest.mark.parametrize("cores,expected", [(4, 4), (64, 16), (None, 1)])
def test_the_paper_profiles_vad_cpus_are_capped_by_the_cores(monkeypatch, cores, expected):
    vad = load_params(PROFILES_DIR / "paper.yaml").vad
    assert vad.num_cpus == 16
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    assert vad.local_num_cpus() == expected


def test_run_vad_starts_its_ray_with_the_capped_count(monkeypatch):
    from pipelines.dataset import vad as vad_module

    asked = {}

    def fake_start(**kwargs):
        asked.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(vad_module, "connect_or_start_ray", fake_start)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    cfg = load_params(PROFILES_DIR / "paper.yaml").vad
    with pytest.raises(RuntimeError, match="stop here"):
        vad_module.run_vad(pd.DataFrame({"key": ["a"], "path": ["a.wav"]}), cfg)
    assert asked["num_cpus"] == 2
