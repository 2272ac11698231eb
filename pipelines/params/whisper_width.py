"""Params-time check: the Whisper features' width equals the width the model's fusion expects.

The features stage writes ``d_model``-wide features of ``features.model``; SASTNet and
Whisper + M-MAE read them with ``fusion.whisper_dim`` (from ``model.size``, or
``model.overrides.fusion.whisper_dim``). A mismatch would only raise inside the first training
batch, after hours of feature extraction; here it fails before any stage runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.params.core import ParamsError

# d_model of the released Whisper encoders (OpenAI model card), for a hub id that is not on
# disk yet: the check then still runs before anything is downloaded by hand.
KNOWN_WIDTHS = {"tiny": 384, "base": 512, "small": 768, "medium": 1024, "large": 1280}
# fusion.whisper_dim of each model.size (sastnet.models.config: FusionConfig / _TINY). Not
# imported from there: every stage depends on pipelines/params, and must not rerun when model
# code changes; tests/test_paper_profile_params.py checks these against the model config.
WHISPER_DIM_BY_SIZE = {"tiny": 384, "paper": 768}


def whisper_width(model: str) -> int | None:
    """``d_model`` of a Whisper directory or hub id: its config.json (a local directory or the
    Hugging Face cache), else the released size named in the id; None if neither tells."""
    config = Path(model) / "config.json"
    if not config.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model, "config.json")
        except Exception:  # not a valid repo id, or no hub client: fall back to the name
            cached = None
        config = Path(cached) if isinstance(cached, str) else None
    if config is not None:
        return int(json.loads(config.read_text())["d_model"])
    name = Path(model).name.lower().removeprefix("whisper-").split(".")[0]
    return KNOWN_WIDTHS.get(name)


def check_whisper_width(sections: dict) -> None:
    """Raise ParamsError naming ``features.model`` and the model's ``whisper_dim`` key when the
    trained variants fuse Whisper features of another width."""
    train, model, features = sections["train"], sections["model"], sections["features"]
    users = [v for v in (train.baseline_variant, *train.variants)
             if v in ("sastnet", "sastnet_pretrained", "whisper_m_mae")]
    if not users:
        return
    fusion = model.overrides.get("fusion") or {}
    if not isinstance(fusion, dict):
        raise ParamsError(f"model.overrides.fusion: expected a mapping, got {fusion!r}")
    dim = fusion.get("whisper_dim", WHISPER_DIM_BY_SIZE[model.size])
    width = whisper_width(features.model)
    if width is not None and width != dim:
        raise ParamsError(
            f"features.model: {features.model!r} gives {width}-d features, but variant "
            f"{users[0]} of model.size {model.size!r} expects fusion.whisper_dim = {dim} (key "
            f"model.overrides.fusion.whisper_dim). Use a Whisper of that width (paper: "
            f"openai/whisper-small, 768) or set model.overrides.fusion.whisper_dim: {width}.")
