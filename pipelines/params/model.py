"""``model``: which size of the models to build (``sastnet.models.model_config``).

``overrides`` is checked here, key by key, against the dataclasses it feeds
(``sastnet.models.config.ModelConfig`` and its sub-configs), so a misspelt key fails
``sastnet check-params`` naming its path (``model.overrides.mae.mask_ration``) and the allowed
keys, before any stage runs; whether the values build a model for every trained variant is
checked across sections (``pipelines.params.sections.check_consistency``).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from pipelines.params.core import ParamsError, convert

# Set by other params (train.variants / tasks, model.size, train.num_samples), never by overrides.
NOT_OVERRIDABLE = ("variant", "task", "size", "num_samples")


def overridable_fields() -> dict[str, Any]:
    """Top-level ``ModelConfig`` fields an override may set -> their type hints."""
    from sastnet.models.config import ModelConfig

    hints = typing.get_type_hints(ModelConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(ModelConfig)
            if f.name not in NOT_OVERRIDABLE}


def check_overrides(overrides: dict[str, Any], path: str = "overrides") -> dict[str, Any]:
    """Validate ``overrides`` against ``ModelConfig``; returns them with typed values.

    A sub-config (``mae``, ``fusion``, ...) takes a mapping of its own fields. Raises
    ``ParamsError`` naming the full key path and the allowed keys.
    """
    top = overridable_fields()
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in top:
            raise ParamsError(f"{path}.{key}: unknown key; allowed keys: {', '.join(top)}")
        tp = top[key]
        if not dataclasses.is_dataclass(tp):
            out[key] = convert(value, tp, f"{path}.{key}")
            continue
        if not isinstance(value, dict):
            raise ParamsError(f"{path}.{key}: expected a mapping of {tp.__name__} fields, "
                              f"got {value!r}")
        hints = typing.get_type_hints(tp)
        names = [f.name for f in dataclasses.fields(tp)]
        sub = {}
        for name, v in value.items():
            if name not in names:
                raise ParamsError(f"{path}.{key}.{name}: unknown key; allowed keys: "
                                  + ", ".join(names))
            sub[name] = convert(v, hints[name], f"{path}.{key}.{name}")
        out[key] = sub
    return out


@dataclass(frozen=True)
class ModelParams:
    size: Literal["tiny", "paper"] = "tiny"  # tiny: 2-core CPU; paper: XLS-R 300M + ViT-B MAE
    # Keyword overrides for sastnet.models.model_config, applied to every variant: top-level
    # fields (num_classes: 7) or some fields of a sub-config (mae: {mask_ratio: 0.4}).
    # Empty = the size's defaults.
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", check_overrides(self.overrides))
