"""``corpus.synthetic``: the offline bona fide corpus spoken by Debian's synthesizers."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.params.core import check

MAX_SPEAKERS = 24  # len(pipelines.corpus.synthesis.voices.SPEAKER_POOL); a test keeps them equal


def _range(lo_hi: tuple[float, float], name: str, low: float, high: float) -> None:
    lo, hi = lo_hi
    check(low <= lo <= hi <= high, name, f"need {low} <= min <= max <= {high}, got {lo_hi}")


@dataclass(frozen=True)
class SyntheticCorpusParams:
    num_speakers: int = 12  # distinct voices; >= 12 so speaker-disjoint splits mean something
    utts_per_speaker: int = 40  # 12 x 40 = 480 clips keeps the default run ~2 min on 2 cores
    num_sentences: int = 400  # prompts 1..N; VCTK speakers read ~400 numbered prompts
    seen_max_utt_id: int = 250  # paper, Sec. V: utt id <= 250 is content seen in training
    test_unseen_fraction: float = 0.5  # share of a test speaker's prompts with id > seen_max_utt_id
    dev_speakers: int = 2  # speaker-disjoint splits; the rest of the speakers are train
    test_speakers: int = 3
    silence_s: tuple[float, float] = (0.2, 1.2)  # leading and trailing silence, each drawn per clip
    noise_floor_dbfs: tuple[float, float] = (-65.0, -50.0)  # per-speaker room noise, VCTK-like
    peak_dbfs: tuple[float, float] = (-6.0, -1.0)  # per-clip speech peak level
    # The CoSG world (docs/corpus.md, "The generated set"): clips of the voices the corpus does
    # not use (the pool after num_speakers) saying unseen prompts (id > seen_max_utt_id), with
    # the short boundary silences of generated speech. They are the CoSG bona fide class and
    # the prompts and plans the generators continue (stage resynthesize).
    cosg_clips: int = 0  # the default profile: 48
    cosg_silence_s: tuple[float, float] = (0.03, 0.15)
    seed: int = 1234  # official release's seed (as common.seed)
    workers: int = 2  # parallel synthesizer processes (the machine has 2 cores)

    def __post_init__(self) -> None:
        check(1 <= self.num_speakers <= MAX_SPEAKERS, "num_speakers",
              f"must be in 1..{MAX_SPEAKERS} (the speaker pool's size), got {self.num_speakers}")
        check(self.dev_speakers >= 0 and self.test_speakers >= 1, "test_speakers",
              "need test_speakers >= 1 and dev_speakers >= 0")
        check(self.dev_speakers + self.test_speakers < self.num_speakers, "num_speakers",
              f"{self.num_speakers} speakers leave none for train after {self.dev_speakers} dev "
              f"+ {self.test_speakers} test speakers")
        check(self.seen_max_utt_id >= 1, "seen_max_utt_id", "must be >= 1")
        check(self.utts_per_speaker >= 1, "utts_per_speaker", "must be >= 1")
        n_seen = min(self.num_sentences, self.seen_max_utt_id)
        check(self.utts_per_speaker <= n_seen, "utts_per_speaker",
              f"{self.utts_per_speaker} > {n_seen} seen prompts (ids 1..{n_seen}) that train "
              "speakers draw from; raise num_sentences/seen_max_utt_id or lower this")
        check(0.0 <= self.test_unseen_fraction <= 1.0, "test_unseen_fraction", "must be in [0, 1]")
        n_unseen = self.num_sentences - self.seen_max_utt_id
        need_unseen = round(self.utts_per_speaker * self.test_unseen_fraction)
        check(need_unseen <= max(n_unseen, 0), "num_sentences",
              f"test speakers need {need_unseen} unseen prompts (id > {self.seen_max_utt_id}) "
              f"but there are {max(n_unseen, 0)}; raise num_sentences or lower test_unseen_fraction")
        _range(self.silence_s, "silence_s", 0.0, 10.0)
        _range(self.cosg_silence_s, "cosg_silence_s", 0.0, 10.0)
        check(self.cosg_clips >= 0, "cosg_clips", "must be >= 0")
        check(not self.cosg_clips or self.num_speakers < MAX_SPEAKERS, "cosg_clips",
              f"CoSG clips need voices the corpus does not use: num_speakers must be < "
              f"{MAX_SPEAKERS}, or set cosg_clips: 0")
        check(self.cosg_clips <= max(n_unseen, 0), "cosg_clips",
              f"{self.cosg_clips} CoSG clips need as many unseen prompts (id > "
              f"{self.seen_max_utt_id}), there are {max(n_unseen, 0)}; raise num_sentences")
        _range(self.noise_floor_dbfs, "noise_floor_dbfs", -120.0, -20.0)
        _range(self.peak_dbfs, "peak_dbfs", -40.0, 0.0)
        check(self.seed >= 0, "seed", "must be >= 0")
        check(self.workers >= 1, "workers", "must be >= 1")
