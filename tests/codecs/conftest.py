import pytest

from sastnet.codecs.codec import CodecConfig


def tiny_config(**overrides) -> CodecConfig:
    """A codec small enough for unit tests (hop 8)."""
    base = dict(strides=(2, 2, 2), channels=4, dim=8, dec_channels=4, codebook_size=16,
                num_quantizers=2, fsq_levels=(3, 3), semantic_dim=16, speaker_codebook_size=4)
    return CodecConfig(**{**base, **overrides})


FAMILIES = [(vq, aux, dec) for vq in ("mvq", "svq", "sq") for aux in ("none", "semantic", "disentangle")
            for dec in ("time", "freq")]


@pytest.fixture
def make_config():
    return tiny_config
