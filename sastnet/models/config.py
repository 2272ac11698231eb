"""Typed, frozen configurations of SASTNet, its baselines and its ablations.

One dataclass per component; ``model_config(variant, task, size)`` assembles them. Numbers
marked "paper" come from the SASTNet paper (``../shared/papers/000_*.txt``), "release" from the
authors' code as summarised in ``../shared/reference/official-sastnet.md``, "AASIST" from the
AASIST paper / SSL-AASIST code, "tiny" are ours (small enough to train on 2 CPU cores).

    from sastnet.models import model_config
    cfg = model_config("sastnet", "aux", "tiny", num_samples=16000, mae={"depth": 1})
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.taxonomy import TASKS, num_classes

VARIANTS: tuple[str, ...] = ("w2v2_aasist", "s_mae", "m_mae", "whisper_m_mae", "w2v2_m_mae",
                             "sastnet", "w2v2_m_mae_pretrained", "sastnet_pretrained")
# Paper Tables III-IV: "Pretrained W2V2" rows are the same networks as their "Tuned W2V2" rows
# with wav2vec 2.0 left at the SSL checkpoint (W2V2Config.pretrained) instead of being
# initialised from the task's trained W2V2-AASIST baseline.
MAE_BACKENDS: tuple[str, ...] = ("aasist", "mean_linear")
PRETRAINED_W2V2_VARIANTS: tuple[str, ...] = ("w2v2_m_mae_pretrained", "sastnet_pretrained")
# The networks with a wav2vec 2.0 front end; as variant names, the "Tuned W2V2" rows (a
# training starts them from the task's trained baseline)
W2V2_ARCHITECTURES: tuple[str, ...] = ("w2v2_aasist", "w2v2_m_mae", "sastnet")
SIZES: tuple[str, ...] = ("tiny", "paper")

# Cross-entropy class weights per task (release; index 0 = bona fide).
CLASS_WEIGHTS: dict[str, tuple[float, ...]] = {
    "vq": (0.1, 0.3, 0.3, 0.3),
    "aux": (0.1, 0.3, 0.3, 0.3),
    "dec": (0.2, 0.4, 0.4),
    "bin": (0.5, 0.5),
}


def _require(cond: bool, name: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"{name}: {msg}")


@dataclass(frozen=True)
class W2V2Config:
    """wav2vec 2.0 acoustic encoder (transformers ``Wav2Vec2Model``), trainable."""

    pretrained: str | None = None  # local dir or hub id; None = random init from the sizes below
    hidden_size: int = 1024  # XLS-R 300M (paper: "Wav2Vec 2.0 XLS-R (0.3B)")
    num_layers: int = 24  # XLS-R 300M
    num_heads: int = 16  # XLS-R 300M
    intermediate_size: int = 4096  # XLS-R 300M
    conv_dim: tuple[int, ...] = (512,) * 7  # wav2vec 2.0 feature encoder
    conv_kernel: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)  # 25 ms receptive field
    conv_stride: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)  # hop 320 samples = 20 ms
    num_conv_pos_embeddings: int = 128  # wav2vec 2.0 conv positional embedding
    num_conv_pos_embedding_groups: int = 16  # wav2vec 2.0
    dropout: float = 0.1  # XLS-R hidden/attention dropout
    image_bins: int = 128  # release: Linear(1024 -> 128) -> 1 x T x 128 "image"

    def __post_init__(self) -> None:
        _require(len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride),
                 "w2v2.conv_*", "conv_dim, conv_kernel and conv_stride need the same length")
        _require(self.hidden_size % self.num_heads == 0, "w2v2.num_heads",
                 "must divide hidden_size")


@dataclass(frozen=True)
class MelConfig:
    """Log-mel input of the MAE-only ablations (paper Sec. V-B: "mel-spectrograms")."""

    n_fft: int = 400  # 25 ms window at 16 kHz (AudioMAE's Kaldi fbank framing)
    hop_length: int = 160  # 10 ms shift (AudioMAE)
    n_mels: int = 128  # AudioMAE: 128 mel bins
    f_min_hz: float = 0.0
    f_max_hz: float = 8000.0  # Nyquist at 16 kHz


@dataclass(frozen=True)
class MAEConfig:
    """Multi-decoder AudioMAE over a 1 x T x F image (paper Sec. III-B, release sizes)."""

    patch_size: int = 16  # paper Sec. IV-A: "patch size of 16"
    embed_dim: int = 768  # release: ViT-B encoder
    depth: int = 12  # release: ViT-B
    num_heads: int = 12  # release: ViT-B
    decoder_dim: int = 512  # release: AudioMAE decoder
    decoder_depth: int = 8  # release
    decoder_heads: int = 16  # release
    mlp_ratio: float = 4.0  # ViT / AudioMAE
    mask_ratio: float = 0.4  # paper Sec. IV-A; split equally between time and frequency
    margin: float = 0.1  # paper Eq. 2, m = 0.1
    margin_reduce: Literal["mean_of_relu", "relu_of_mean"] = "mean_of_relu"  # release / paper
    feedback_heads: int = 16  # release: MultiheadAttention(768, 16 heads)
    single_decoder: bool = False  # True = S-MAE ablation (one class-agnostic decoder)
    # Reconstruction target. The release regresses the raw image (both False). The image of a
    # W2V2 front end is trainable, so the cheapest way to lower that loss is to shrink the image:
    # the tiny model trained from scratch cut its image std 8x in 3 epochs and its classifier
    # starved (docs/model.md). norm_pix_loss standardises each target patch (MAE / AudioMAE's
    # option of that name); detach_target stops the loss from moving the target itself.
    norm_pix_loss: bool = False
    detach_target: bool = False
    # Decoder feedback as a residual block: O_a = Q + MHA(Q, K, V) (ours). The release passes
    # the MHA output alone, so the classifier sees the encoder tokens only through attention
    # weights over the decoders' predictions; False = release (the paper size), True in the
    # tiny size (chosen on dev: docs/training.md, "SASTNet variants on dev").
    feedback_residual: bool = False

    def __post_init__(self) -> None:
        _require(0.0 <= self.mask_ratio < 1.0, "mae.mask_ratio", "must be in [0, 1)")
        _require(self.embed_dim % 4 == 0, "mae.embed_dim", "2-D sin-cos needs a multiple of 4")
        _require(self.decoder_dim % 4 == 0, "mae.decoder_dim", "needs a multiple of 4")
        _require(self.embed_dim % self.num_heads == 0, "mae.num_heads", "must divide embed_dim")
        _require(self.embed_dim % self.feedback_heads == 0, "mae.feedback_heads",
                 "must divide embed_dim")
        _require(self.decoder_dim % self.decoder_heads == 0, "mae.decoder_heads",
                 "must divide decoder_dim")
        _require(self.margin >= 0, "mae.margin", "must be >= 0")


@dataclass(frozen=True)
class FusionConfig:
    """SA / AS / Fusion cross-attention transformer encoders (paper Sec. III-C)."""

    dim: int = 768  # release: 768-d
    num_heads: int = 16  # release
    num_layers: int = 2  # paper: "two-layer cross-modal Transformers"
    ffn_mult: int = 4  # Transformer default
    dropout: float = 0.1  # release
    whisper_dim: int = 768  # Whisper-small d_model (release); tiny.en = 384

    def __post_init__(self) -> None:
        _require(self.dim % self.num_heads == 0, "fusion.num_heads", "must divide dim")
        _require(self.dim % 2 == 0, "fusion.dim", "sinusoidal positions need an even dim")


@dataclass(frozen=True)
class AASISTConfig:
    """AASIST back end (AASIST paper; sizes of the SSL-AASIST / SASTNet release)."""

    filts: tuple[Any, ...] = (128, (1, 32), (32, 32), (32, 64), (64, 64))  # release
    gat_dims: tuple[int, int] = (64, 32)  # release
    pool_ratios: tuple[float, ...] = (0.5, 0.5, 0.5, 0.5)  # release
    temperatures: tuple[float, ...] = (2.0, 2.0, 100.0, 100.0)  # release
    dropout: float = 0.5  # AASIST: before the output layer
    branch_dropout: float = 0.2  # AASIST: "drop_way" on the two HS-GAL branches

    def __post_init__(self) -> None:
        _require(len(self.filts) == 5, "aasist.filts", "expects [in_dim, b1, b2, b3, b4]")
        _require(len(self.pool_ratios) == 4 and len(self.temperatures) == 4, "aasist",
                 "pool_ratios and temperatures need 4 values")


@dataclass(frozen=True)
class LossConfig:
    """Classification + reconstruction losses (paper Sec. III-D)."""

    class_weights: tuple[float, ...] = ()  # release CE weights per task; () = unweighted
    awl: bool = True  # paper Eq. 1: automatic weighted loss over (recon, CE)


@dataclass(frozen=True)
class ModelConfig:
    """Everything ``build_model`` needs. ``num_samples`` fixes the acoustic image's length."""

    variant: str
    task: str
    size: str
    num_classes: int
    num_samples: int = 82_200  # paper Sec. IV-A: 82,200 samples at 16 kHz
    sample_rate_hz: int = SAMPLE_RATE_HZ  # CodecFake+
    w2v2: W2V2Config = field(default_factory=W2V2Config)
    mel: MelConfig = field(default_factory=MelConfig)
    mae: MAEConfig = field(default_factory=MAEConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    aasist: AASISTConfig = field(default_factory=AASISTConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    # Back end of the MAE variants (the baseline keeps AASIST on its W2V2 frames in every size).
    # "aasist": the paper's (release). "mean_linear" (ours): mean over the O_fusion / O_a tokens,
    # LayerNorm, Linear. In the tiny size AASIST on the MAE's 16 tokens does not train: every
    # SASTNet / W2V2+M-MAE / Whisper+M-MAE locked to bona fide vs spoof on train and dev, while the
    # same networks with this head fit both (docs/training.md, "Why SASTNet lost: its back end").
    mae_backend: str = "aasist"

    def __post_init__(self) -> None:
        _require(self.variant in VARIANTS, "variant",
                 f"{self.variant!r} is unknown; allowed: {', '.join(VARIANTS)}")
        _require(self.task in TASKS, "task", f"{self.task!r}; allowed: {', '.join(TASKS)}")
        _require(self.size in SIZES, "size", f"{self.size!r}; allowed: {', '.join(SIZES)}")
        _require(self.num_classes >= 2, "num_classes", "needs at least 2 classes")
        _require(self.mae_backend in MAE_BACKENDS, "mae_backend",
                 f"{self.mae_backend!r}; allowed: {', '.join(MAE_BACKENDS)}")
        _require(not self.loss.class_weights or len(self.loss.class_weights) == self.num_classes,
                 "loss.class_weights", f"needs {self.num_classes} values")

    @property
    def architecture(self) -> str:
        """The network of ``variant`` (a "Pretrained W2V2" row builds its tuned row's network)."""
        return self.variant.removesuffix("_pretrained")

    @property
    def uses_w2v2(self) -> bool:
        return self.architecture in W2V2_ARCHITECTURES

    @property
    def uses_mae(self) -> bool:
        return self.architecture != "w2v2_aasist"

    @property
    def uses_whisper(self) -> bool:
        return self.architecture in ("whisper_m_mae", "sastnet")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of ``to_dict`` (a checkpoint's resolved config json)."""
        subs = {"w2v2": W2V2Config, "mel": MelConfig, "mae": MAEConfig, "fusion": FusionConfig,
                "aasist": AASISTConfig, "loss": LossConfig}
        kwargs = dict(data)
        for name, sub_cls in subs.items():
            if name in kwargs and isinstance(kwargs[name], dict):
                kwargs[name] = sub_cls(**_tuplify(kwargs[name]))
        return cls(**kwargs)


def _tuplify(d: dict[str, Any]) -> dict[str, Any]:
    """json turns tuples into lists; frozen configs keep tuples (hashable, immutable)."""
    def conv(v: Any) -> Any:
        return tuple(conv(x) for x in v) if isinstance(v, list) else v
    return {k: conv(v) for k, v in d.items()}


# Tiny sizes: ~0.3-1.3 M parameters, a training step on 2 CPU cores in well under a second.
_TINY = {
    "num_samples": 32_000,  # 2 s clips: 99 W2V2 frames -> a 96 x 64 image (6 x 4 patches)
    "w2v2": W2V2Config(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128,
                       conv_dim=(32,) * 7, num_conv_pos_embeddings=16,
                       num_conv_pos_embedding_groups=4, dropout=0.0, image_bins=64),
    "mel": MelConfig(n_fft=400, hop_length=320, n_mels=64),  # 20 ms hop: same frame rate as W2V2
    "mae": MAEConfig(embed_dim=64, depth=2, num_heads=2, decoder_dim=48, decoder_depth=1,
                     decoder_heads=2, feedback_heads=2, norm_pix_loss=True, detach_target=True,
                     feedback_residual=True),  # chosen on dev (docs/training.md, issue #15)
    "fusion": FusionConfig(dim=64, num_heads=2, num_layers=2, ffn_mult=2, whisper_dim=384),
    "mae_backend": "mean_linear",  # measured on dev (docs/training.md, issue #15)
    # Half the release's widths, on 64 bins as the tiny W2V2 (64 dims) gives: the baseline's
    # step costs half the release AASIST's on one core and its dev F1 rose faster on the
    # hardest seed (docs/training.md, "A tiny AASIST", issue #32).
    "aasist": AASISTConfig(filts=(64, (1, 16), (16, 16), (16, 32), (32, 32)), gat_dims=(32, 16)),
}
_PAPER_W2V2_ID = "facebook/wav2vec2-xls-r-300m"  # paper: XLS-R 0.3B


def model_config(variant: str, task: str, size: str = "tiny", **overrides: Any) -> ModelConfig:
    """The configuration of ``variant`` for ``task`` at ``size`` ("tiny" or "paper").

    ``overrides`` replace top-level fields (``num_samples=16000``, ``num_classes=7``); a dict
    for a sub-config (``mae={"depth": 1}``) replaces only the fields it names.
    """
    _require(size in SIZES, "size", f"{size!r}; allowed: {', '.join(SIZES)}")
    _require(task in TASKS, "task", f"{task!r}; allowed: {', '.join(TASKS)}")
    n_classes = int(overrides.pop("num_classes", num_classes(task)))
    base: dict[str, Any] = dict(_TINY) if size == "tiny" else {
        "w2v2": W2V2Config(pretrained=_PAPER_W2V2_ID)}
    # The release's class weights belong to the task's own label set; another class count
    # (e.g. a finer taxonomy) trains with unweighted CE unless loss= says otherwise.
    weights = CLASS_WEIGHTS[task] if n_classes == num_classes(task) else ()
    base["loss"] = LossConfig(class_weights=weights, awl=variant != "w2v2_aasist")
    if variant == "s_mae":
        base["mae"] = dataclasses.replace(base.get("mae", MAEConfig()), single_decoder=True)
    for key, value in overrides.items():
        current = base.get(key)
        if isinstance(value, dict):
            sub = current if current is not None else _default_sub(key)
            base[key] = dataclasses.replace(sub, **value)
        else:
            base[key] = value
    return ModelConfig(variant=variant, task=task, size=size, num_classes=n_classes, **base)


def _default_sub(key: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    if key not in fields or fields[key].default_factory is dataclasses.MISSING:
        raise ValueError(f"override {key!r}: not a sub-config of ModelConfig")
    return fields[key].default_factory()
