"""``common``: settings every stage shares."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.params.core import check
from sastnet.audio import SAMPLE_RATE_HZ


@dataclass(frozen=True)
class CommonParams:
    profile: str = "default"  # name of the profile this file was made from (profiles/<name>.yaml)
    seed: int = 1234  # official release's seed
    data_dir: str = "data"  # DVC outputs live under here (git-ignored)
    reports_dir: str = "reports"  # human-readable reports (DESIGN.md: "What a run leaves")
    sample_rate_hz: int = SAMPLE_RATE_HZ  # CodecFake+ and the models work at 16 kHz

    def __post_init__(self) -> None:
        check(self.sample_rate_hz == SAMPLE_RATE_HZ, "sample_rate_hz",
              f"{self.sample_rate_hz} is not supported; allowed values: {SAMPLE_RATE_HZ}")
        check(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
