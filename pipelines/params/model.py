"""``model``: which size of the models to build (``sastnet.models.model_config``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ModelParams:
    size: Literal["tiny", "paper"] = "tiny"  # tiny: 2-core CPU; paper: XLS-R 300M + ViT-B MAE
    # Extra keyword overrides for sastnet.models.model_config (e.g. {mask_ratio: 0.4});
    # applied to every variant. Empty = the size's defaults.
    overrides: dict[str, Any] = field(default_factory=dict)
