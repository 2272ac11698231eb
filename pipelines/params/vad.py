"""``vad``: silero-vad speech timestamps for every clip (stage ``vad``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipelines.params.core import check


@dataclass(frozen=True)
class VadParams:
    # silero-vad settings. The release used WebRTC VAD (aggressiveness 3) on 30 ms frames and
    # kept every speech frame with no padding; these values keep that frame-level logic.
    threshold: float = 0.5  # silero-vad default speech probability threshold
    min_speech_duration_ms: int = 30  # one WebRTC frame: keep short speech bursts like the release
    min_silence_duration_ms: int = 30  # one WebRTC frame: every non-speech frame is dropped
    speech_pad_ms: int = 0  # the release pads nothing around speech frames
    batch_clips: int = 64  # clips per Ray task (the model is loaded once per task)
    forward_batch: int = 32  # clips scored together in a task (same output, 3-6x faster than one by one)
    # local Ray only (ignored when RAY_ADDRESS points to a cluster): at most this many VAD
    # tasks at once, never more than the machine's cores (local_num_cpus)
    num_cpus: int = 2
    # "clip": every clip keeps its own VAD (the release). "pair": a resynthesis as long as its
    # bona fide source (within pair_max_length_diff_ms: time-aligned) takes the source's speech
    # regions, so rm_sil cuts the same silence from both; silero misses speech in degraded
    # outputs of small codecs (docs/shards.md). Generated (CoSG) clips always keep their own.
    segments_from: str = "clip"
    pair_max_length_diff_ms: float = 20.0

    def local_num_cpus(self) -> int:
        """CPUs of a local Ray for the VAD: ``num_cpus``, but no more than this machine has (the
        paper profile's 16 would run 16 silero-vad processes on a 4-core machine)."""
        return max(1, min(self.num_cpus, os.cpu_count() or 1))

    def __post_init__(self) -> None:
        check(0.0 < self.threshold < 1.0, "threshold", f"must be in (0, 1), got {self.threshold}")
        for name in ("min_speech_duration_ms", "min_silence_duration_ms", "speech_pad_ms"):
            check(getattr(self, name) >= 0, name, f"must be >= 0, got {getattr(self, name)}")
        check(self.batch_clips >= 1, "batch_clips", f"must be >= 1, got {self.batch_clips}")
        check(self.forward_batch >= 1, "forward_batch", f"must be >= 1, got {self.forward_batch}")
        check(self.num_cpus >= 1, "num_cpus", f"must be >= 1, got {self.num_cpus}")
        check(self.segments_from in ("clip", "pair"), "segments_from",
              f"must be 'clip' or 'pair', got {self.segments_from!r}")
        check(self.pair_max_length_diff_ms >= 0, "pair_max_length_diff_ms",
              f"must be >= 0, got {self.pair_max_length_diff_ms}")
