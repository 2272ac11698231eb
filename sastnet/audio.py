"""The one audio rate of the project.

CodecFake+ ships 16 kHz audio, and every model here (wav2vec 2.0 / XLS-R, Whisper, silero-vad,
the codec zoo) reads 16 kHz: every clip is stored, decoded and fed at this rate.
"""

SAMPLE_RATE_HZ: int = 16_000
