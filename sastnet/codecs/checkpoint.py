"""One checkpoint file format for the zoo's modules: format tag, config dataclass, weights, meta."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import torch

C = TypeVar("C")


def save_checkpoint(path: str | Path, fmt: str, config: Any, state_dict: dict, meta: dict) -> None:
    torch.save({"format": fmt, "config": dataclasses.asdict(config), "state_dict": state_dict,
                "meta": meta}, path)


def load_checkpoint(path: str | Path, fmt: str, config_cls: type[C], what: str
                    ) -> tuple[C, dict]:
    """(config, payload) of a ``save_checkpoint`` file, with clear errors naming ``what`` it is."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist; run `dvc repro codecs`")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path} is not a {what} (expected {fmt})")
    raw = payload["config"]
    # JSON-like round trip: tuples come back as lists.
    config = config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    return config, payload
