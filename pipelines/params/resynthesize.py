"""``resynthesize``: which codecs make the spoofed clips (CoRS- and CoSG-style)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipelines.params.core import check

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class RealCodecParams:
    """A pretrained codec adapter (``pipelines/codecs/real.py``); weights must be on disk."""

    name: str  # CodecFake+ taxonomy name, e.g. "Encodec_24b24k", "DAC24", "mini", "snac_24khz"
    kind: Literal["encodec", "dac", "mimi", "snac"] = "encodec"
    source: str = ""  # local folder (or hub id, only with allow_download)
    bandwidth_kbps: float = 0.0  # EnCodec target bandwidth; 0 = the model's lowest
    held_out: bool = False  # adapters generate nothing, and held-out codecs make no CoRS clips
    allow_download: bool = False  # DESIGN.md: nothing is downloaded unless the user asks

    def __post_init__(self) -> None:
        check(bool(self.name), "name", "must name the codec as in sastnet.taxonomy")
        check(bool(self.source), "source", f"{self.name}: give the folder holding its weights")
        check(self.bandwidth_kbps >= 0, "bandwidth_kbps", "must be >= 0")
        check(not self.held_out, "held_out", f"{self.name}: a held-out codec appears only in "
              "CoSG (All), through a generator, and adapters have none; list it as a training "
              "codec or leave it out")


@dataclass(frozen=True)
class ResynthesizeParams:
    codecs: tuple[str, ...] = ()  # zoo codec names to use; empty = every codec in zoo.json
    checkpoint: Literal["early", "mid", "late"] = "late"  # zoo checkpoint (paper: final codecs)
    splits: tuple[str, ...] = SPLITS  # bona fide splits to resynthesize (held-out codecs: none)
    # Bona fide clips per codec and split (0 or missing = all, as in CodecFake+). The default
    # profile's budget: ~80 ms of CPU per second of audio per codec on 2 busy cores, so all 480
    # clips x 12 codecs would take ~20 min; each codec gets its own seeded, seen/unseen-stratified
    # subset, so together the codecs still cover most bona fide clips.
    max_clips_per_split: dict[str, int] = field(default_factory=dict)
    batch_size: int = 8  # clips per codec call, length-sorted so padding stays short
    threads: int = 2  # torch intra-op threads (the machine has 2 cores)
    # CoSG generation (docs/corpus.md): each generator keeps the first cosg_prompt_s of a CoSG
    # bona fide clip's tokens and samples the rest at cosg_temperature, following the clip's plan
    cosg_prompt_s: float = 0.25
    cosg_temperature: float = 1.0
    real_codecs: tuple[RealCodecParams, ...] = ()  # pretrained adapters; none in the default

    def __post_init__(self) -> None:
        bad = sorted(set(self.splits) - set(SPLITS))
        check(not bad, "splits", f"unknown split(s) {bad}; allowed: {', '.join(SPLITS)}")
        bad = sorted(set(self.max_clips_per_split) - set(SPLITS))
        check(not bad, "max_clips_per_split", f"unknown split(s) {bad}; allowed: {', '.join(SPLITS)}")
        check(all(n >= 0 for n in self.max_clips_per_split.values()), "max_clips_per_split",
              "counts must be >= 0 (0 = all clips)")
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(self.threads >= 1, "threads", "must be >= 1")
        check(0.0 <= self.cosg_prompt_s <= 10, "cosg_prompt_s", "must be in [0, 10] seconds")
        check(0.0 < self.cosg_temperature <= 10, "cosg_temperature", "must be in (0, 10]")
        names = [c.name for c in self.real_codecs]
        check(len(set(names)) == len(names), "real_codecs", "codec names must be unique")
