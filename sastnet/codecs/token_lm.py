"""A tiny autoregressive token model over a codec's codes: speech *generated* through the codec.

The CoSG analogue: codec language models (VALL-E, SimpleSpeech, ...) produce new token
sequences which the codec decodes. Here a one-layer GRU reads, at each frame, the sum of the
embeddings of all K codebooks' tokens and predicts the K tokens of the next frame with K heads
(the "parallel" pattern of codec LMs; K = 1 for SVQ and FSQ). For codecs with a global speaker
stream the checkpoint keeps a bank of speaker tokens seen in training; each generated
utterance draws one, like a speaker prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.codecs.checkpoint import load_checkpoint, save_checkpoint
from sastnet.codecs.codec import CodecCodes, NeuralCodec

TOKEN_LM_FORMAT = "sastnet-token-lm/1"


@dataclass(frozen=True)
class TokenLMConfig:
    codebook_sizes: tuple[int, ...]  # vocabulary per codebook (NeuralCodec.codebook_sizes)
    embed_dim: int = 64
    hidden: int = 192  # one GRU layer: a few hundred k parameters
    layers: int = 1


class TokenLM(nn.Module):
    def __init__(self, config: TokenLMConfig, speaker_bank: Tensor | None = None):
        super().__init__()
        self.config = config
        # index ``size`` of each table is the begin-of-sequence token
        self.embeds = nn.ModuleList(nn.Embedding(n + 1, config.embed_dim)
                                    for n in config.codebook_sizes)
        self.rnn = nn.GRU(config.embed_dim, config.hidden, config.layers, batch_first=True)
        self.heads = nn.ModuleList(nn.Linear(config.hidden, n) for n in config.codebook_sizes)
        bank = speaker_bank if speaker_bank is not None else torch.zeros(0, 0, dtype=torch.long)
        self.register_buffer("speaker_bank", bank.long())

    def _embed(self, tokens: Tensor) -> Tensor:
        return sum(emb(tokens[:, k]) for k, emb in enumerate(self.embeds))  # (B, F, E)

    def _bos(self, batch: int, device: torch.device) -> Tensor:
        return torch.tensor(self.config.codebook_sizes, device=device)[None, :, None] \
            .expand(batch, -1, 1)

    def forward(self, codes: Tensor) -> list[Tensor]:
        """Codes (B, K, F) -> per-codebook logits (B, F, V_k) predicting frame t from frames < t."""
        inputs = torch.cat([self._bos(len(codes), codes.device), codes[..., :-1]], dim=-1)
        hidden, _ = self.rnn(self._embed(inputs))
        return [head(hidden) for head in self.heads]

    def loss(self, codes: Tensor) -> Tensor:
        logits = self(codes)
        return sum(F.cross_entropy(lg.transpose(1, 2), codes[:, k])
                   for k, lg in enumerate(logits)) / len(logits)

    @torch.no_grad()
    def sample(self, batch: int, frames: int, generator: torch.Generator,
               temperature: float = 1.0) -> Tensor:
        """New codes (batch, K, frames), sampled frame by frame."""
        token, state, out = self._bos(batch, torch.device("cpu")), None, []
        for _ in range(frames):
            hidden, state = self.rnn(self._embed(token), state)
            step = [torch.multinomial(F.softmax(head(hidden[:, -1]) / temperature, -1), 1,
                                      generator=generator) for head in self.heads]
            token = torch.stack(step, 1)  # (B, K, 1)
            out.append(token)
        return torch.cat(out, -1)


def codes_of(codec: NeuralCodec, waves: list[np.ndarray]) -> tuple[list[Tensor], Tensor | None]:
    """Encode each clip: content codes (K, F) per clip and the speaker tokens (N, G) or None."""
    content, speaker = [], []
    for w in waves:
        codes = codec.encode(torch.as_tensor(w, dtype=torch.float32)[None])
        content.append(codes.content[0])
        if codes.speaker is not None:
            speaker.append(codes.speaker[0])
    return content, (torch.stack(speaker) if speaker else None)


def train_token_lm(content: list[Tensor], config: TokenLMConfig, *, steps: int = 300,
                   batch_size: int = 16, seq_frames: int = 100, lr: float = 3e-3, seed: int = 0,
                   speaker_bank: Tensor | None = None, progress: bool = True,
                   desc: str = "token lm") -> TokenLM:
    """Teacher-forced training on random windows of ``seq_frames`` frames of the clips' codes."""
    if not content:
        raise ValueError("train_token_lm got no token sequences")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    lm = TokenLM(config, speaker_bank)
    opt = torch.optim.Adam(lm.parameters(), lr=lr)
    seq = min(seq_frames, max(c.shape[-1] for c in content))
    for _ in tqdm(range(steps), desc=desc, disable=not progress, mininterval=2.0):
        batch = []
        for i in rng.integers(len(content), size=batch_size):
            c = content[i]
            start = int(rng.integers(max(1, c.shape[-1] - seq + 1)))
            piece = c[:, start:start + seq]
            if piece.shape[-1] < seq:  # short clip: repeat its last frame
                piece = torch.cat([piece, piece[:, -1:].expand(-1, seq - piece.shape[-1])], -1)
            batch.append(piece)
        loss = lm.loss(torch.stack(batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        opt.step()
    lm.final_loss = float(loss.detach())
    return lm.eval()


def save_token_lm(lm: TokenLM, path: str | Path, **meta) -> None:
    save_checkpoint(path, TOKEN_LM_FORMAT, lm.config, lm.state_dict(), meta)


def load_token_lm(path: str | Path) -> TokenLM:
    """Rebuild a token LM written by ``save_token_lm``, in eval mode."""
    config, payload = load_checkpoint(path, TOKEN_LM_FORMAT, TokenLMConfig, "token LM checkpoint")
    lm = TokenLM(config, payload["state_dict"]["speaker_bank"])
    lm.load_state_dict(payload["state_dict"])
    lm.meta = payload.get("meta", {})
    return lm.eval()


def generate(codec: NeuralCodec, lm: TokenLM, *, num_utts: int, seconds: float, seed: int,
             temperature: float = 1.0) -> list[Tensor]:
    """``num_utts`` new utterances of ``seconds`` each: sampled tokens decoded by ``codec``.

    Returns:
        float32 waves (T,) at 16 kHz, ``T = round(seconds * 16000)``.
    """
    if tuple(codec.codebook_sizes) != tuple(lm.config.codebook_sizes):
        raise ValueError(f"token LM vocabularies {lm.config.codebook_sizes} do not match the "
                         f"codec's {codec.codebook_sizes}")
    gen = torch.Generator().manual_seed(seed)
    frames = int(np.ceil(seconds * codec.frame_rate_hz))
    content = lm.sample(num_utts, frames, gen, temperature)
    speaker = None
    if codec.speaker is not None:
        if len(lm.speaker_bank) == 0:
            raise ValueError("the codec has a speaker stream but the token LM has no speaker bank")
        speaker = lm.speaker_bank[torch.randint(len(lm.speaker_bank), (num_utts,), generator=gen)]
    waves = codec.decode(CodecCodes(content, speaker))[..., : int(round(seconds * SAMPLE_RATE_HZ))]
    return [w.float() for w in waves]
