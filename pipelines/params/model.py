"""``model``: which size of the models to build (``sastnet.models.model_config``).

``overrides`` is checked key by key against the dataclasses it feeds by
``pipelines.params.model_check`` (stage ``check_params``, ``sastnet check-params`` and the train
stage), not on every ``load_params``: that would make every stage import, and depend on, the
models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ModelParams:
    size: Literal["tiny", "paper"] = "tiny"  # tiny: 2-core CPU; paper: XLS-R 300M + ViT-B MAE
    # Keyword overrides for sastnet.models.model_config, applied to every variant: top-level
    # fields (num_classes: 7) or some fields of a sub-config (mae: {mask_ratio: 0.4}).
    # Empty = the size's defaults.
    overrides: dict[str, Any] = field(default_factory=dict)
    # AudioMAE weights in the official checkpoint layout (facebookresearch/AudioMAE
    # pretrained.pth, ViT-B AudioSet-2M): encoder into the MAE encoder, decoder into every
    # decoder (sastnet.models.audiomae). The release starts from them; with model.size: paper
    # a missing file stops training unless audiomae_random_init is true.
    audiomae_checkpoint: str | None = None
    audiomae_random_init: bool = False  # true: accept random MAE weights at size paper
