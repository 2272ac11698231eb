"""The codec taxonomy of CodecFake+: codec -> (VQ, AUX, DEC) family, and label indices per task.

This is the one place the table lives. Label indices follow the official release
(``../shared/reference/official-sastnet.md``): index 0 is always bona fide.

    VQ  {0 REAL, 1 MVQ, 2 SVQ, 3 SQ}
    AUX {0 REAL, 1 None ("Trad"), 2 Semantic ("SEM"), 3 Disentanglement ("Disent")}
    DEC {0 REAL, 1 TIME, 2 FREQ}
    BIN {0 bonafide, 1 spoof}

Codec strings are matched exactly as they appear in the real file names, misspellings
included (``xcodec_hubert_libirispeech``, ``xocdec_hubert_general_audio``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

TASKS: tuple[str, ...] = ("vq", "aux", "dec", "bin")
# The source tracing tasks (BIN is plain spoof detection): the rows of the paper's Table II.
TRACING_TASKS: tuple[str, ...] = TASKS[:3]

# Class names per task, in label-index order. Index 0 is bona fide everywhere.
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "vq": ("REAL", "MVQ", "SVQ", "SQ"),
    "aux": ("REAL", "None", "SEM", "Disent"),
    "dec": ("REAL", "TIME", "FREQ"),
    "bin": ("bonafide", "spoof"),
}

BONAFIDE = "bonafide"  # codec name used for bona fide clips in manifests

# Values a family attribute may take (lower-case, our spelling).
VQ_VALUES = ("mvq", "svq", "sq")
AUX_VALUES = ("none", "semantic", "disentangle")
DEC_VALUES = ("time", "freq")


@dataclass(frozen=True)
class CodecFamily:
    """Where a codec sits in the taxonomy."""

    vq: str  # one of VQ_VALUES
    aux: str  # one of AUX_VALUES
    dec: str  # one of DEC_VALUES

    def __post_init__(self) -> None:
        for attr, allowed in (("vq", VQ_VALUES), ("aux", AUX_VALUES), ("dec", DEC_VALUES)):
            value = getattr(self, attr)
            if value not in allowed:
                raise ValueError(f"CodecFamily.{attr}={value!r}; allowed: {', '.join(allowed)}")

    def labels(self) -> dict[str, int]:
        """Label index per task for a spoofed clip of this family."""
        return {
            "vq": 1 + VQ_VALUES.index(self.vq),
            "aux": 1 + AUX_VALUES.index(self.aux),
            "dec": 1 + DEC_VALUES.index(self.dec),
            "bin": 1,
        }


BONAFIDE_LABELS: dict[str, int] = {task: 0 for task in TASKS}


def _family(aux: str, dec: str, vq: str) -> CodecFamily:
    return CodecFamily(vq=vq, aux=aux, dec=dec)


def _table(rows: list[tuple[tuple[str, ...], CodecFamily]]) -> dict[str, CodecFamily]:
    out: dict[str, CodecFamily] = {}
    for names, family in rows:
        for name in names:
            if name in out:
                raise AssertionError(f"codec {name!r} listed twice in the taxonomy table")
            out[name] = family
    return out


# CoRS codec strings (the suffix after ``pSSS_UUU_`` in CoRS utterance ids).
CORS_CODECS: dict[str, CodecFamily] = _table([
    (("DAC24", "Encodec_6b24k", "Encodec_24b24k", "HiFi_Codec_16k_320d_large_universal",
      "FunCodec_zh_en-general-16k-nq32ds320", "snac_24khz", "snac_44khz", "hilcodec_speech"),
     _family("none", "time", "mvq")),
    (("bigcodec",), _family("none", "time", "svq")),
    (("sqcodec50dim9",), _family("none", "time", "sq")),
    (("FunCodec_en-libritts-16k-gr1nq32ds320", "languagecodec", "vocos_encodec_6",
      "vocos_encodec_12", "audiodec_24k_320d"), _family("none", "freq", "mvq")),
    (("wavtokenizer_small_320_24k_4096", "wavtokenizer_medium_320_24k_4096"),
     _family("none", "freq", "svq")),
    (("spectralcodecs",), _family("none", "freq", "sq")),
    (("SpeechTokenizer_hubert_avg", "llm_codec", "mini", "xcodec_hubert_libirispeech",
      "xocdec_hubert_general_audio"), _family("semantic", "time", "mvq")),
    (("SemantiCodec_0.35kbps_16k", "SemantiCodec_0.70kbps_16k", "SemantiCodec_1.40kbps_16k"),
     _family("semantic", "freq", "mvq")),
    (("FACodec_encodec-decoder-v2_16k", "ticodec_1g2r", "ticodec_1g4r"),
     _family("disentangle", "time", "mvq")),
    (("ticodec_1g1r",), _family("disentangle", "time", "svq")),
    (("socodec_16384x4_120ms_16khz_chinese",), _family("disentangle", "freq", "mvq")),
])

# CoSG generation models (first column of CoSG_ALL / CoSG_SEEN).
COSG_MODELS: dict[str, CodecFamily] = _table([
    (("ELLAV", "VALLE", "GPST", "UNIAUDIO", "TACOLM", "SPEECHX", "RALLE", "VIOLA", "NS2"),
     _family("none", "time", "mvq")),
    (("CLAMTTS", "MASKGCT"), _family("none", "freq", "mvq")),
    (("NS3",), _family("disentangle", "time", "mvq")),
    (("USLM",), _family("semantic", "time", "mvq")),
    (("SIMPLESPEECH1", "SIMPLESPEECH2"), _family("none", "time", "sq")),
    (("TI1G1R",), _family("disentangle", "time", "svq")),
    (("SINGLECODEC",), _family("disentangle", "freq", "svq")),
])

# CoSG models whose codec is not among the CoRS training codecs (left out of CoSG_SEEN).
COSG_UNSEEN_MODELS: frozenset[str] = frozenset({"MASKGCT", "NS2", "SINGLECODEC"})

# Other spellings of the same codec.
ALIASES: dict[str, str] = {"mimicodec": "mini"}

# Spellings of the protocol files' label columns -> our attribute values.
PROTOCOL_VALUES: dict[str, dict[str, str]] = {
    "aux": {"Trad": "none", "SEM": "semantic", "Disent": "disentangle"},
    "dec": {"TIME": "time", "FREQ": "freq"},
    "vq": {"MVQ": "mvq", "SVQ": "svq", "SQ": "sq"},
}


class UnknownCodecError(KeyError):
    """A codec or model name that is not in the taxonomy."""

    def __init__(self, name: str, known: list[str]):
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; closest known: {', '.join(close)}" if close else ""
        super().__init__(f"unknown codec {name!r}{hint}")
        self.name = name
        self.closest = close

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


class Taxonomy:
    """Lookup of codec families: the CodecFake+ table plus any extra codecs (e.g. a codec zoo).

    Args:
        extra: additional ``name -> CodecFamily`` entries; a name may not shadow the table.
    """

    def __init__(self, extra: Mapping[str, CodecFamily] | None = None):
        self._families: dict[str, CodecFamily] = {**CORS_CODECS, **COSG_MODELS}
        for name, family in (extra or {}).items():
            if name in self._families and self._families[name] != family:
                raise ValueError(f"codec {name!r} is already in the taxonomy with another family")
            self._families[name] = family

    @property
    def names(self) -> list[str]:
        return sorted(self._families)

    def family(self, name: str) -> CodecFamily:
        """Family of a codec/model name (aliases resolved); raises UnknownCodecError."""
        name = ALIASES.get(name, name)
        try:
            return self._families[name]
        except KeyError:
            raise UnknownCodecError(name, self.names + sorted(ALIASES)) from None

    def labels(self, name: str | None) -> dict[str, int]:
        """Label index per task; ``None`` or ``"bonafide"`` gives all zeros."""
        if name is None or name == BONAFIDE:
            return dict(BONAFIDE_LABELS)
        return self.family(name).labels()


DEFAULT_TAXONOMY = Taxonomy()


def labels_for(name: str | None) -> dict[str, int]:
    """Label index per task for a CodecFake+ codec/model name (see ``Taxonomy.labels``)."""
    return DEFAULT_TAXONOMY.labels(name)


def num_classes(task: str) -> int:
    """Number of classes of a task, bona fide included (VQ 4, AUX 4, DEC 3, BIN 2)."""
    try:
        return len(CLASS_NAMES[task])
    except KeyError:
        raise ValueError(f"unknown task {task!r}; allowed: {', '.join(TASKS)}") from None


def family_from_protocol(aux: str, dec: str, vq: str) -> CodecFamily | None:
    """Family from the label columns of a training list; ``None`` for REAL rows."""
    if "REAL" in (aux, dec, vq):
        if not aux == dec == vq == "REAL":
            raise ValueError(f"mixed REAL and spoof labels: {aux} {dec} {vq}")
        return None
    values = {"aux": aux, "dec": dec, "vq": vq}
    parsed = {}
    for task, raw in values.items():
        try:
            parsed[task] = PROTOCOL_VALUES[task][raw]
        except KeyError:
            allowed = ", ".join(PROTOCOL_VALUES[task])
            raise ValueError(f"{task.upper()} label {raw!r} not one of REAL, {allowed}") from None
    return CodecFamily(**parsed)


def split_cors_utterance(utt: str, known: list[str] | None = None) -> tuple[str, str | None]:
    """Split a CoRS utterance id ``pSSS_UUU[_codec]`` into (bona fide key, codec or None)."""
    parts = utt.split("_", 2)
    if len(parts) < 2:
        raise ValueError(f"utterance id {utt!r} is not of the form pSSS_UUU[_codec]")
    base = f"{parts[0]}_{parts[1]}"
    codec = parts[2] if len(parts) == 3 else None
    if codec is not None and known is not None and ALIASES.get(codec, codec) not in known:
        raise UnknownCodecError(codec, known)
    return base, codec


# Each class in words, for people reading a trace (``describe_family``).
CLASS_WORDS: dict[str, dict[str, str]] = {
    "vq": {"MVQ": "multi-codebook VQ", "SVQ": "single-codebook VQ", "SQ": "scalar quantiser"},
    "aux": {"None": "no auxiliary objective", "SEM": "semantic distillation",
            "Disent": "disentanglement"},
    "dec": {"TIME": "time-domain decoder", "FREQ": "frequency-domain decoder"},
    "bin": {},
}
_REAL_CLASSES = frozenset({"REAL", "bonafide"})


def describe_family(decisions: Mapping[str, str]) -> str:
    """Decided classes per task in words, e.g. ``{"vq": "MVQ", "aux": "SEM", "dec": "TIME"}`` ->
    ``"spoof: multi-codebook VQ, semantic distillation, time-domain decoder"``.

    Tasks that call the clip bona fide while others call it spoof are named, so a split verdict
    is visible rather than averaged away.
    """
    for task, cls in decisions.items():
        if task not in CLASS_NAMES or cls not in CLASS_NAMES[task]:
            raise ValueError(f"{task}={cls!r} is not a class of that task")
    real = [t for t in TASKS if t in decisions and decisions[t] in _REAL_CLASSES]
    spoof = [t for t in TASKS if t in decisions and decisions[t] not in _REAL_CLASSES]
    if not spoof:
        return "bona fide"
    words = [CLASS_WORDS[t][decisions[t]] for t in spoof if CLASS_WORDS[t]]
    text = "spoof" + (f": {', '.join(words)}" if words else "")
    if real:
        text += f" ({', '.join(t.upper() for t in real)} says bona fide)"
    return text
