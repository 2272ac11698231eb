"""Checks of the ``model`` section against the model code (``sastnet.models.config``).

Run by stage ``check_params`` (first in ``dvc.yaml``), ``sastnet check-params`` and the train
stage; kept out of ``load_params`` so that only those depend on ``sastnet/models``.

    from pipelines.params.model_check import check_model_params
    check_model_params(load_params())   # ParamsError naming e.g. model.overrides.mae.mask_ration
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from pipelines.params.core import ParamsError, convert

# Set by other params (train.variants / tasks, model.size, train.num_samples), never by overrides.
NOT_OVERRIDABLE = ("variant", "task", "size", "num_samples")


def overridable_fields() -> dict[str, Any]:
    """Top-level ``ModelConfig`` fields an override may set -> their type hints."""
    from sastnet.models.config import ModelConfig

    hints = typing.get_type_hints(ModelConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(ModelConfig)
            if f.name not in NOT_OVERRIDABLE}


def check_overrides(overrides: dict[str, Any], path: str = "model.overrides") -> dict[str, Any]:
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



def check_model_params(params: Any) -> None:
    """``model.overrides`` keys and values, and a valid model config for every (task, variant)
    that ``train`` will build. Raises ``ParamsError`` naming the key path."""
    from sastnet.models.config import VARIANTS, model_config

    model, train = params.model, params.train
    for key, names in (("train.baseline_variant", (train.baseline_variant,)),
                       ("train.variants", train.variants)):
        for name in names:
            if name not in VARIANTS:
                raise ParamsError(f"{key}: {name!r} is not a variant; allowed: "
                                  + ", ".join(VARIANTS))
    overrides = check_overrides(model.overrides)
    for task in train.tasks:
        for variant in (train.baseline_variant, *train.variants):
            try:
                model_config(variant, task, model.size, num_samples=train.num_samples,
                             **overrides)
            except (ValueError, TypeError) as err:
                raise ParamsError(f"model.overrides: {err} (building {variant} for task {task}, "
                                  f"size {model.size})") from None
