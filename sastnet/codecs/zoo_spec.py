"""The codec zoo: which small codecs exist, their family, and which are held out for testing.

Every class value of the taxonomy (VQ mvq/svq/sq, AUX none/semantic/disentangle, DEC time/freq)
is covered by at least two training codecs that differ in architecture or hyper-parameters;
the held-out codecs (``held_out=True``, used only at test time, like CodecFake+'s unseen
codecs) cover every class value again with architectures of their own. ``token_lm=True`` marks
the generation subset (CoSG analogue): a token LM is trained on that codec's tokens. Four known
generators span every AUX, VQ and DEC class (CoSG kn. codec); two held-out ones (a semantic and
a disentangled codec the models never see) make CoSG (All).
"""

from __future__ import annotations

from dataclasses import dataclass

from sastnet.codecs.codec import CodecConfig
from sastnet.taxonomy import CodecFamily, Taxonomy


@dataclass(frozen=True)
class ZooCodecSpec:
    name: str
    config: CodecConfig
    held_out: bool = False
    token_lm: bool = False  # part of the generation (CoSG-style) subset
    seed: int = 0  # added to the stage seed: every codec starts from its own initialisation

    @property
    def family(self) -> CodecFamily:
        return self.config.family


def _spec(name: str, held_out: bool = False, token_lm: bool = False, seed: int = 0,
          **config) -> tuple[str, ZooCodecSpec]:
    if not name.startswith("zoo_"):
        raise AssertionError(f"zoo codec names start with 'zoo_': {name}")
    return name, ZooCodecSpec(name, CodecConfig(**config), held_out, token_lm, seed)


HOP_320 = (4, 4, 4, 5)  # 50 frames/s
ZOO_CODECS: dict[str, ZooCodecSpec] = dict([
    # --- training codecs -------------------------------------------------------------------
    _spec("zoo_mvq_none_time", token_lm=True, seed=1, vq="mvq", aux="none", dec="time",
          strides=HOP_320, num_quantizers=4, codebook_size=256),
    _spec("zoo_svq_none_freq", seed=2, vq="svq", aux="none", dec="freq", strides=HOP_320,
          codebook_size=1024),
    _spec("zoo_sq_none_time", token_lm=True, seed=3, vq="sq", aux="none", dec="time",
          strides=(2, 4, 4, 5), fsq_levels=(8, 5, 5, 5), channels=12),
    _spec("zoo_mvq_sem_freq", seed=4, vq="mvq", aux="semantic", dec="freq", strides=HOP_320,
          num_quantizers=6, codebook_size=128, dec_channels=24),
    _spec("zoo_svq_sem_time", token_lm=True, seed=5, vq="svq", aux="semantic", dec="time",
          strides=(8, 5, 4, 2), codebook_size=512, channels=24, dim=48),
    _spec("zoo_sq_dis_freq", seed=6, vq="sq", aux="disentangle", dec="freq",
          strides=(4, 4, 4, 4), fsq_levels=(7, 5, 5, 5, 5), n_fft_per_hop=2),
    _spec("zoo_mvq_dis_time", seed=7, vq="mvq", aux="disentangle", dec="time", strides=HOP_320,
          num_quantizers=2, codebook_size=512, res_depth=2),
    _spec("zoo_svq_dis_freq", token_lm=True, seed=8, vq="svq", aux="disentangle", dec="freq",
          strides=HOP_320, codebook_size=1024, dim=48),
    # --- held-out codecs (test only) ------------------------------------------------------
    _spec("zoo_ho_mvq_sem_time", held_out=True, token_lm=True, seed=9, vq="mvq", aux="semantic", dec="time",
          strides=(3, 4, 4, 5), num_quantizers=3, codebook_size=256, channels=20),
    _spec("zoo_ho_svq_none_freq", held_out=True, seed=10, vq="svq", aux="none", dec="freq",
          strides=(4, 4, 4, 4), codebook_size=2048, n_fft_per_hop=2, dec_channels=40),
    _spec("zoo_ho_sq_dis_time", held_out=True, token_lm=True, seed=11, vq="sq", aux="disentangle",
          dec="time", strides=(4, 4, 4, 5), fsq_levels=(5, 5, 5, 5), res_depth=2),
    _spec("zoo_ho_mvq_none_freq", held_out=True, seed=12, vq="mvq", aux="none", dec="freq",
          strides=(2, 4, 4, 5), num_quantizers=3, codebook_size=256),
])


def zoo_taxonomy() -> Taxonomy:
    """The CodecFake+ taxonomy extended with every zoo codec."""
    return Taxonomy(extra={name: spec.family for name, spec in ZOO_CODECS.items()})


def training_codecs() -> list[str]:
    return [name for name, spec in ZOO_CODECS.items() if not spec.held_out]


def held_out_codecs() -> list[str]:
    return [name for name, spec in ZOO_CODECS.items() if spec.held_out]
