"""``launder``: the laundering conditions of the robustness axis (issue #35, docs/laundering.md).

    launder:
      enabled: true                 # false (the default): no laundered sets, no extra predictions
      conditions: [mp3_64k, opus_16k, telephone, noise_20db, noise_10db, gain_m12db, gain_p6db]
      sets: [test_seen, test_unseen, cosg_known, cosg_all]
      max_clips_per_set: null       # or N: a deterministic codec-balanced subset of each set
      seed: 1234
      custom:                       # optional: more conditions, each checked against its kind
        noise_5db_white: {kind: noise, snr_db: 5, colour_exponent: 0}

A condition name is one of ``sastnet.launder.CONDITIONS`` (the catalogue, with its
parameters) or a key of ``custom``. The axis runs when ``enabled`` (stage ``launder``, the
laundered predictions of the predict stages, the robustness tables of ``evaluate``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from pipelines.common.determinism import derive_seed
from pipelines.params.core import check, from_dict
from sastnet.launder import (
    CONDITIONS,
    MP3_KBPS_16K,
    OPUS_KBPS_RANGE,
    TRANSFORM_KINDS,
    Mp3,
    Noise,
    Opus,
    Telephone,
    Transform,
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")  # becomes a folder / metric name: keep it plain
# the evaluation sets a laundered copy can be made of (shard splits; CoRS = the two test halves)
LAUNDER_SETS = ("test_seen", "test_unseen", "cosg_known", "cosg_all")
# view names the metrics files already use for something else (<model>/<set>/<view>/<metric>)
_RESERVED = ("rm_sil", "clean")


@dataclass(frozen=True)
class LaunderParams:
    # the switch: laundered sets + their predictions + the robustness tables (docs/laundering.md,
    # "Cost" says what they add to a run)
    enabled: bool = False
    # names from the catalogue (sastnet/launder.py) or from ``custom``, in table order
    conditions: tuple[str, ...] = ()
    # which evaluation sets get laundered copies (shard splits of LAUNDER_SETS)
    sets: tuple[str, ...] = LAUNDER_SETS
    # None: every clip of each set; N: N clips per set, as many per codec (system) as N allows,
    # chosen by a hash of the clip key (never by order), so every class of every task stays
    max_clips_per_set: int | None = None
    # processes laundering clips (a 2-core machine: 2); the output does not depend on it
    workers: int = 2
    # a clip's noise comes from derive_seed(seed, "launder", condition, key): its own identity,
    # never the order clips are processed in. Separate from common.seed, so the laundered sets
    # stay the same when the training seeds change.
    seed: int = 1234
    # extra named conditions: {name: {kind: mp3|opus|telephone|noise|gain, <that kind's fields>}}
    custom: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        for name, spec in self.custom.items():
            check(bool(_NAME.match(name)), f"custom.{name}",
                  "a condition name uses lower-case letters, digits and _ only")
            check(name not in CONDITIONS, f"custom.{name}",
                  "is already a built-in condition; pick another name")
            check(name not in _RESERVED, f"custom.{name}",
                  f"{', '.join(_RESERVED)} name other views of a set; pick another name")
            _build_custom(name, spec)  # raises ParamsError naming the key
        known = [*CONDITIONS, *self.custom]
        for i, name in enumerate(self.conditions):
            check(name in known, f"conditions[{i}]",
                  f"unknown condition {name!r}; known: {', '.join(known)}")
        repeated = sorted({n for n in self.conditions if self.conditions.count(n) > 1})
        check(not repeated, "conditions", f"{', '.join(repeated)} listed more than once")
        check(not self.enabled or bool(self.conditions), "conditions",
              "launder.enabled is true but no condition is listed; name at least one (known: "
              f"{', '.join(known)}) or set enabled: false")
        for i, name in enumerate(self.sets):
            check(name in LAUNDER_SETS, f"sets[{i}]",
                  f"unknown evaluation set {name!r}; allowed: {', '.join(LAUNDER_SETS)}")
        check(not self.enabled or bool(self.sets), "sets", "enabled with no set to launder")
        repeated = sorted({n for n in self.sets if self.sets.count(n) > 1})
        check(not repeated, "sets", f"{', '.join(repeated)} listed more than once")
        check(self.workers >= 1, "workers", f"must be >= 1, got {self.workers}")
        check(self.max_clips_per_set is None or self.max_clips_per_set >= 1, "max_clips_per_set",
              f"must be null (every clip) or >= 1, got {self.max_clips_per_set}")

    @property
    def active(self) -> bool:
        """True when the stage makes laundered sets (enabled, with conditions)."""
        return self.enabled and bool(self.conditions)

    def transforms(self) -> dict[str, Transform]:
        """The chosen conditions, in params order: name -> transform (sastnet.launder)."""
        return {name: CONDITIONS[name] if name in CONDITIONS
                else _build_custom(name, self.custom[name]) for name in self.conditions}

    def clip_seed(self, condition: str, key: str) -> int:
        """The seed of one clip's laundered copy under ``condition``: from identity only."""
        return derive_seed(self.seed, "launder", condition, key)


def _build_custom(name: str, spec: Any) -> Transform:
    where = f"custom.{name}"
    check(isinstance(spec, dict), where, f"expected a mapping with a kind, got {spec!r}")
    kind = spec.get("kind")
    check(kind in TRANSFORM_KINDS, f"{where}.kind",
          f"{kind!r} is not a laundering kind; allowed: {', '.join(TRANSFORM_KINDS)}")
    cls = TRANSFORM_KINDS[kind]
    allowed = ["kind", *(f.name for f in dataclasses.fields(cls))]
    unknown = sorted(set(spec) - set(allowed))
    check(not unknown, where, f"unknown key(s) {', '.join(unknown)} for kind {kind}; allowed keys: "
          + ", ".join(allowed))
    transform = from_dict(cls, {k: v for k, v in spec.items() if k != "kind"}, where)
    check_transform(transform, where)
    return transform


def check_transform(t: Transform, where: str) -> None:
    """Raise ParamsError (naming ``where``) for a transform whose parameters cannot run."""
    if isinstance(t, Mp3):
        check(t.bitrate_kbps in MP3_KBPS_16K, f"{where}.bitrate_kbps",
              f"MP3 at 16 kHz has no {t.bitrate_kbps} kbit/s; allowed: "
              + ", ".join(map(str, MP3_KBPS_16K)))
    elif isinstance(t, Opus):
        low, high = OPUS_KBPS_RANGE
        check(low <= t.bitrate_kbps <= high, f"{where}.bitrate_kbps",
              f"must be in [{low}, {high}] kbit/s, got {t.bitrate_kbps}")
    elif isinstance(t, Telephone):
        check(t.rate_hz in (8_000, 12_000), f"{where}.rate_hz",
              f"must be 8000 or 12000 (narrow band below 16 kHz), got {t.rate_hz}")
        check(0 < t.low_hz < t.high_hz < t.rate_hz / 2, f"{where}.low_hz",
              f"need 0 < low_hz < high_hz < rate_hz/2, got {t.low_hz}, {t.high_hz}, {t.rate_hz}")
        check(1 <= t.filter_order <= 12, f"{where}.filter_order",
              f"must be in [1, 12], got {t.filter_order}")
    elif isinstance(t, Noise):
        check(-10.0 <= t.snr_db <= 60.0, f"{where}.snr_db", f"must be in [-10, 60], got {t.snr_db}")
        check(0.0 <= t.colour_exponent <= 2.0, f"{where}.colour_exponent",
              f"must be in [0 (white), 2 (brown)], got {t.colour_exponent}")
    else:
        check(-60.0 <= t.gain_db <= 40.0, f"{where}.gain_db", f"must be in [-60, 40], got {t.gain_db}")
