"""The exported network: audio windows (+ their Whisper log-mel) -> class probabilities.

One module holds what SASTNet computes after the audio is cut into windows: the frozen
Whisper encoder (for models that use it; its first 256 frames, average-pooled by 2, exactly
as the ``features`` stage computed them) and the trained model, ending in a softmax. PyTorch
runs it from the export folder's safetensors, and ``torch.onnx.export`` turns the very same
module into ``model.onnx``, so the two backends compute one function
(``tests/test_export_onnx.py`` checks they agree within 1e-4).

What stays outside the network is Whisper's log-mel front end: Whisper's own feature
extractor (numpy, from ``whisper/preprocessor_config.json``), padded to 30 s as in the paper,
cut to the frames the bundled encoder takes (``faithful``: all 3000; ``fast``: the first
``2 * positions``). Both backends share it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.torch import load_model as load_safetensors
from torch import nn

from pipelines.train.export import fold_parametrizations
from sastnet.whisper import log_mel, pooled_features

if TYPE_CHECKING:
    from transformers import WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

WHISPER_DIR = "whisper"  # the bundled encoder, a transformers folder inside the export


class ExportedNetwork(nn.Module):
    """(B, T) 16 kHz windows [+ (B, mels, frames) Whisper log-mel] -> (B, C) softmax.

    Takes ownership of ``model`` (its parametrizations are folded into plain weights: same
    outputs, and a state dict safetensors can hold).
    """

    def __init__(self, model: nn.Module, whisper: WhisperEncoder | None = None) -> None:
        super().__init__()
        if model.needs_whisper and whisper is None:
            raise ValueError(f"variant {model.cfg.variant!r} needs a Whisper encoder")
        self.model = fold_parametrizations(model)
        self.whisper = whisper.requires_grad_(False) if model.needs_whisper else None
        # eval as a whole: torch.onnx.export puts the top module back into the mode it found
        # it in, and a default (training) top module would switch dropout back on inside
        self.eval()

    def forward(self, waveform: torch.Tensor, mel: torch.Tensor | None = None) -> torch.Tensor:
        features = pooled_features(self.whisper, mel) if self.whisper is not None else None
        return torch.softmax(self.model(waveform, features).logits.float(), dim=-1)

    def example_inputs(self, mel: WhisperMel | None, batch: int = 2) -> tuple[torch.Tensor, ...]:
        """Zero inputs of the right shapes (what ``torch.onnx.export`` traces with)."""
        wave = torch.zeros(batch, self.model.cfg.num_samples)
        if self.whisper is None:
            return (wave,)
        return wave, torch.zeros(batch, mel.num_mels, mel.num_frames)


class WhisperMel:
    """16 kHz windows -> the log-mel input of the bundled encoder (numpy, float32)."""

    def __init__(self, feature_extractor: WhisperFeatureExtractor, num_frames: int) -> None:
        self.feature_extractor = feature_extractor
        self.num_frames = num_frames  # encoder_mel_frames of the bundled encoder
        self.num_mels = int(feature_extractor.feature_size)

    def __call__(self, waves: np.ndarray) -> np.ndarray:
        mel = log_mel(self.feature_extractor, list(waves), num_frames=self.num_frames)
        return np.ascontiguousarray(mel.numpy(), dtype=np.float32)


def save_whisper(encoder: WhisperEncoder, feature_extractor: WhisperFeatureExtractor,
                 folder: Path) -> None:
    """The encoder as a transformers folder (``config.json``, ``model.safetensors``) plus
    Whisper's ``preprocessor_config.json``: JSON and safetensors, nothing pickled."""
    encoder.save_pretrained(folder)  # safetensors: the default (only format in transformers 5)
    feature_extractor.save_pretrained(folder)


def load_whisper_encoder(folder: Path) -> WhisperEncoder:
    """The bundled encoder (eval, frozen), from ``save_whisper``'s folder: built from its
    config, weights from its safetensors (strict: every tensor, nothing else)."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    encoder = WhisperEncoder(WhisperConfig.from_pretrained(folder, local_files_only=True))
    load_safetensors(encoder, folder / "model.safetensors")
    return encoder.float().eval().requires_grad_(False)


def load_whisper_mel(folder: Path, num_frames: int) -> WhisperMel:
    """The log-mel front end of the bundled encoder (``num_frames``: its ``encoder_mel_frames``,
    recorded in the export's config.json)."""
    from transformers import WhisperFeatureExtractor

    return WhisperMel(WhisperFeatureExtractor.from_pretrained(folder, local_files_only=True),
                      num_frames)
