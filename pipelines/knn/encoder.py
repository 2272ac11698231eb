"""A frozen transformers speech encoder -> one time-mean-pooled vector per hidden layer.

Any encoder ``AutoModel`` loads (wav2vec 2.0 / XLS-R, w2v-BERT 2.0, HuBERT, WavLM, ...) from a
local directory or a hub id in the local cache, and Whisper (its encoder only). The paper's
vectors (``../shared/papers/002_*``, Sec. 2.2) are one layer's hidden states averaged over time:
1920-d from layer 8 of ``facebook/wav2vec2-xls-r-2b``, 1024-d from layer 4 of
``facebook/w2v-bert-2.0``. All requested layers are pooled in one forward pass, so the layer
sweep costs one encoder call per clip.

Clips reach the encoder at one fixed length (cut, or repeat-tiled like the training loader,
``sastnet.crop.repeat_crop``), so a batch needs no padding and every frame is speech-or-
silence of the clip itself; Whisper gets an encoder of exactly that many positions instead
of 30 s of padding (``sastnet.whisper``'s fast path).
"""

from __future__ import annotations

import numpy as np
import torch

from sastnet.pretrained import not_in_cache, resolve_source

SAMPLE_RATE_HZ = 16000


class PooledEncoder:
    """Callable: ``(N, T)`` equal-length 16 kHz waves -> float32 ``(N, layers, d)``.

    Args:
        model: transformers directory or hub id.
        num_samples: the fixed clip length the encoder sees.
        layers: hidden-state indices to keep (0 = input embeddings, i = after block i);
            empty = all.
        local_files_only: False lets transformers download a hub id (never the default).
    """

    def __init__(self, model: str, num_samples: int, layers: tuple[int, ...] = (),
                 local_files_only: bool = True) -> None:
        from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

        fix = "set knn.embeddings.model to a directory (default run: `dvc repro whisper_convert`)"
        source, _ = resolve_source(model, what="encoder", fix=fix,
                                   allow_download=not local_files_only)
        try:
            config = AutoConfig.from_pretrained(source, local_files_only=local_files_only)
            self.feature_extractor = AutoFeatureExtractor.from_pretrained(
                source, local_files_only=local_files_only)
            if config.model_type == "whisper":
                from sastnet.whisper import load_whisper_encoder

                self.encoder = load_whisper_encoder(
                    source, max_source_seconds=num_samples / SAMPLE_RATE_HZ,
                    allow_download=not local_files_only, min_seconds=0.0)
            else:
                net = AutoModel.from_pretrained(source, local_files_only=local_files_only,
                                                dtype=torch.float32)
                self.encoder = net.get_encoder() if config.is_encoder_decoder else net
        except OSError as err:
            raise not_in_cache(model, "encoder", f"{fix}, or knn.embeddings.local_files_only: "
                               "false to download it", err) from None
        self.encoder.eval().requires_grad_(False)
        self.whisper = config.model_type == "whisper"
        self.num_samples = num_samples
        n_hidden = config.num_hidden_layers if not self.whisper else config.encoder_layers
        self.layers = tuple(layers) or tuple(range(n_hidden + 1))
        bad = [i for i in self.layers if not 0 <= i <= n_hidden]
        if bad:
            raise ValueError(f"knn.embeddings.layers {bad}: {model} has hidden states "
                             f"0..{n_hidden} (0 = input embeddings)")

    @torch.inference_mode()
    def __call__(self, waves: list[np.ndarray]) -> np.ndarray:
        lengths = {len(w) for w in waves}
        if lengths != {self.num_samples}:
            raise ValueError(f"expected clips of {self.num_samples} samples, got lengths "
                             f"{sorted(lengths)} (cut or repeat-tile them first)")
        waves = [np.asarray(w, dtype=np.float32) for w in waves]
        if self.whisper:
            # the log-mel of the clip itself, not of 30 s of padding (30x cheaper; the frames
            # differ from the padded ones only by the last STFT window's padding)
            positions = self.encoder.config.max_source_positions
            mel = self.feature_extractor(waves, sampling_rate=SAMPLE_RATE_HZ, return_tensors="pt",
                                         padding="max_length", truncation=True,
                                         max_length=2 * positions * self.feature_extractor.hop_length
                                         ).input_features
            hidden = self.encoder(mel.float(), output_hidden_states=True).hidden_states
        else:
            inputs = self.feature_extractor(waves, sampling_rate=SAMPLE_RATE_HZ,
                                            return_tensors="pt")
            hidden = self.encoder(**inputs, output_hidden_states=True).hidden_states
        pooled = torch.stack([hidden[i].mean(dim=1) for i in self.layers], dim=1)
        return pooled.float().numpy()
