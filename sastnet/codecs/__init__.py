"""The codec zoo: small neural speech codecs trained here, spanning the VQ x AUX x DEC taxonomy.

    from sastnet.codecs import load_codec
    codec = load_codec("data/codecs/zoo_mvq_none_time/late.pt")
    y = codec.resynthesize(wave)  # (B, T) -> (B, T)

See ``docs/codec_zoo.md``; the zoo itself is listed in ``sastnet.codecs.zoo_spec``.
"""

from sastnet.codecs.codec import (
                                  CodecCodes,
                                  CodecConfig,
                                  NeuralCodec,
                                  build_codec,
                                  load_codec,
                                  save_codec,
)

__all__ = ["CodecCodes", "CodecConfig", "NeuralCodec", "build_codec", "load_codec", "save_codec"]
