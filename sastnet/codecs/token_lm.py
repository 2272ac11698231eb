"""A tiny autoregressive token model over a codec's codes: speech *generated* through the codec.

The CoSG analogue. Codec language models (VALL-E, SimpleSpeech, ...) write new token sequences
which the codec decodes; VALL-E's continuation mode takes the first frames of a real utterance
as its prompt and writes the rest, following the text. Here a one-layer GRU reads, at each
frame, the sum of the embeddings of all K codebooks' previous tokens plus a projection of the
utterance's *plan* for this frame, and predicts the K tokens of the frame with K heads (the
"parallel" pattern of codec LMs; K = 1 for SVQ and FSQ). The plan is a coarse 12-band log-mel
envelope of the sentence as a text-to-speech front end (a synthesizer voice) would say it: it
fixes what is said and when, as text and durations do for a codec TTS; the tokens that realize
it are *sampled*, never encoded from the target, so the clip carries the generator's own
errors. ``continue_prompts`` keeps the first ``prompt_s`` of each clip's own tokens (the prompt)
and samples the rest; codecs with a global speaker stream take the prompt's speaker tokens.
A model trained without a plan (``plan_bands=0``) samples unconditioned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from sastnet.codecs.checkpoint import load_checkpoint, save_checkpoint
from sastnet.codecs.codec import CodecCodes, NeuralCodec

TOKEN_LM_FORMAT = "sastnet-token-lm/2"  # /2: plan-conditioned, no speaker bank
PLAN_BANDS = 12  # the zoo's generators: a coarse envelope, not a spectrogram to copy


@dataclass(frozen=True)
class TokenLMConfig:
    codebook_sizes: tuple[int, ...]  # vocabulary per codebook (NeuralCodec.codebook_sizes)
    embed_dim: int = 64
    hidden: int = 192  # one GRU layer: a few hundred k parameters
    layers: int = 1
    plan_bands: int = 0  # mel bands of the per-frame plan (0: unconditioned sampling)


class TokenLM(nn.Module):
    def __init__(self, config: TokenLMConfig):
        super().__init__()
        self.config = config
        # index ``size`` of each table is the begin-of-sequence token
        self.embeds = nn.ModuleList(nn.Embedding(n + 1, config.embed_dim)
                                    for n in config.codebook_sizes)
        self.rnn = nn.GRU(config.embed_dim, config.hidden, config.layers, batch_first=True)
        self.heads = nn.ModuleList(nn.Linear(config.hidden, n) for n in config.codebook_sizes)
        self.plan = nn.Linear(config.plan_bands, config.embed_dim) if config.plan_bands else None

    def _embed(self, tokens: Tensor, plan: Tensor | None = None) -> Tensor:
        """Previous tokens (B, K, F) [+ this frame's plan (B, F, bands)] -> GRU inputs (B, F, E)."""
        x = sum(emb(tokens[:, k]) for k, emb in enumerate(self.embeds))
        if self.plan is not None:
            if plan is None:
                raise ValueError("this token LM was trained with a plan: pass plan=")
            x = x + self.plan(plan)
        return x

    def _bos(self, batch: int, device: torch.device) -> Tensor:
        return torch.tensor(self.config.codebook_sizes, device=device)[None, :, None] \
            .expand(batch, -1, 1)

    def forward(self, codes: Tensor, plan: Tensor | None = None) -> list[Tensor]:
        """Codes (B, K, F) [+ plan (B, F, bands)] -> per-codebook logits (B, F, V_k) predicting
        frame t from frames < t (and the plan of frame t)."""
        inputs = torch.cat([self._bos(len(codes), codes.device), codes[..., :-1]], dim=-1)
        hidden, _ = self.rnn(self._embed(inputs, plan))
        return [head(hidden) for head in self.heads]

    def loss(self, codes: Tensor, plan: Tensor | None = None) -> Tensor:
        logits = self(codes, plan)
        return sum(F.cross_entropy(lg.transpose(1, 2), codes[:, k])
                   for k, lg in enumerate(logits)) / len(logits)

    @torch.no_grad()
    def sample(self, batch: int, frames: int, generator: torch.Generator,
               temperature: float = 1.0, prompt: Tensor | None = None,
               plan: Tensor | None = None) -> Tensor:
        """Codes (batch, K, frames): the ``prompt`` (batch, K, P) as given, then sampled frame
        by frame (each conditioned on its row of ``plan`` (batch, frames, bands), if any)."""
        given = 0 if prompt is None else prompt.shape[-1]
        if given > frames:
            raise ValueError(f"prompt of {given} frames is longer than the {frames} asked for")
        token, state, out = self._bos(batch, torch.device("cpu")), None, []
        for t in range(frames):
            hidden, state = self.rnn(self._embed(token, None if plan is None
                                                 else plan[:, t:t + 1]), state)
            if t < given:
                token = prompt[..., t:t + 1]
            else:
                step = [torch.multinomial(F.softmax(head(hidden[:, -1]) / temperature, -1), 1,
                                          generator=generator) for head in self.heads]
                token = torch.stack(step, 1)  # (B, K, 1)
            out.append(token)
        return torch.cat(out, -1)


PLAN_N_FFT = 512


def plan_features(wave: Tensor, hop: int, frames: int, bands: int) -> Tensor:
    """The per-frame plan of (B, T) waves: (B, frames, bands) log-mel at the codec's frame rate,
    minus each clip's mean (what is said and when, not how loud)."""
    from sastnet.codecs.losses import log_mel  # the codec losses' mel, one definition

    mel = log_mel(wave, n_fft=PLAN_N_FFT, hop=hop, n_mels=bands)[..., :frames]  # (B, bands, F')
    if mel.shape[-1] < frames:
        mel = F.pad(mel, (0, frames - mel.shape[-1]), mode="replicate")
    mel = mel - mel.mean(dim=(1, 2), keepdim=True)
    return mel.transpose(1, 2).contiguous()


def codes_of(codec: NeuralCodec, waves: list[np.ndarray]) -> tuple[list[Tensor], Tensor | None]:
    """Encode each clip: content codes (K, F) per clip and the speaker tokens (N, G) or None."""
    content, speaker = [], []
    for w in waves:
        codes = codec.encode(torch.as_tensor(w, dtype=torch.float32)[None])
        content.append(codes.content[0])
        if codes.speaker is not None:
            speaker.append(codes.speaker[0])
    return content, (torch.stack(speaker) if speaker else None)


def plans_of(codec: NeuralCodec, waves: list[np.ndarray], content: list[Tensor],
             bands: int) -> list[Tensor]:
    """Each clip's plan (F, bands), frame-aligned with its codes (K, F) from ``codes_of``."""
    return [plan_features(torch.as_tensor(w, dtype=torch.float32)[None], codec.hop,
                          c.shape[-1], bands)[0] for w, c in zip(waves, content, strict=True)]


def train_token_lm(content: list[Tensor], config: TokenLMConfig, *, steps: int = 300,
                   batch_size: int = 16, seq_frames: int = 100, lr: float = 3e-3, seed: int = 0,
                   progress: bool = True, desc: str = "token lm", plans: list[Tensor] | None = None) -> TokenLM:
    """Teacher-forced training on random windows of ``seq_frames`` frames of the clips' codes
    (and of their ``plans`` (F, bands), which a config with ``plan_bands`` needs)."""
    if not content:
        raise ValueError("train_token_lm got no token sequences")
    if bool(config.plan_bands) != (plans is not None):
        raise ValueError(f"plan_bands={config.plan_bands} needs plans (and 0 needs none)")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    lm = TokenLM(config)
    opt = torch.optim.Adam(lm.parameters(), lr=lr)
    seq = min(seq_frames, max(c.shape[-1] for c in content))
    for _ in tqdm(range(steps), desc=desc, disable=not progress, mininterval=2.0):
        batch, plan_batch = [], []
        for i in rng.integers(len(content), size=batch_size):
            c = content[i]
            start = int(rng.integers(max(1, c.shape[-1] - seq + 1)))
            batch.append(_window(c, start, seq))
            if plans is not None:
                plan_batch.append(_window(plans[i].T, start, seq).T)
        loss = lm.loss(torch.stack(batch), torch.stack(plan_batch) if plans is not None else None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        opt.step()
    lm.final_loss = float(loss.detach())
    return lm.eval()


def _window(x: Tensor, start: int, length: int) -> Tensor:
    """``x[:, start:start + length]``; a short clip repeats its last frame."""
    piece = x[:, start:start + length]
    if piece.shape[-1] < length:
        piece = torch.cat([piece, piece[:, -1:].expand(-1, length - piece.shape[-1])], -1)
    return piece


def save_token_lm(lm: TokenLM, path: str | Path, **meta) -> None:
    save_checkpoint(path, TOKEN_LM_FORMAT, lm.config, lm.state_dict(), meta)


def load_token_lm(path: str | Path) -> TokenLM:
    """Rebuild a token LM written by ``save_token_lm``, in eval mode."""
    config, payload = load_checkpoint(path, TOKEN_LM_FORMAT, TokenLMConfig, "token LM checkpoint")
    lm = TokenLM(config)
    lm.load_state_dict(payload["state_dict"])
    lm.meta = payload.get("meta", {})
    return lm.eval()


@torch.no_grad()
def continue_prompts(codec: NeuralCodec, lm: TokenLM, waves: list[np.ndarray], *,
                     prompt_s: float, seeds: list[int], temperature: float = 1.0
                     ) -> list[Tensor]:
    """One generated clip per real clip: its first ``prompt_s`` of tokens kept as the prompt,
    the rest sampled by ``lm`` following the clip's plan, decoded by ``codec``.

    Args:
        waves: 16 kHz mono float32 clips, one per output (the prompt and plan source).
        seeds: one sampling seed per clip (seed each clip by its identity, not its position).

    Returns:
        float32 waves (T,) as long as their source clip.
    """
    if tuple(codec.codebook_sizes) != tuple(lm.config.codebook_sizes):
        raise ValueError(f"token LM vocabularies {lm.config.codebook_sizes} do not match the "
                         f"codec's {codec.codebook_sizes}")
    if len(seeds) != len(waves):
        raise ValueError(f"{len(waves)} clips but {len(seeds)} seeds")
    if prompt_s < 0:
        raise ValueError(f"prompt_s must be >= 0, got {prompt_s}")
    out = []
    for wave, seed in zip(waves, seeds):
        x = torch.as_tensor(wave, dtype=torch.float32)[None]
        codes = codec.encode(x)
        frames = codes.content.shape[-1]
        given = min(frames, int(round(prompt_s * codec.frame_rate_hz)))
        plan = (plan_features(x, codec.hop, frames, lm.config.plan_bands)
                if lm.config.plan_bands else None)
        gen = torch.Generator().manual_seed(int(seed))
        content = lm.sample(1, frames, gen, temperature, prompt=codes.content[..., :given],
                            plan=plan)
        out.append(codec.decode(CodecCodes(content, codes.speaker))[0, : x.shape[-1]].float())
    return out
