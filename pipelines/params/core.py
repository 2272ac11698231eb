"""Typed, validated loading of ``params.yaml`` sections into frozen dataclasses.

Every section of ``params.yaml`` has one frozen dataclass. ``from_dict`` turns a mapping into
that dataclass and fails *before any work starts* on an unknown key, a wrong type or an
impossible value, with a message naming the full key path (``train.lr``) and what is allowed.
Dataclasses check impossible values in ``__post_init__`` with ``check(cond, "field", msg)``,
naming the field relative to their own section; the loader prefixes the section path.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

T = TypeVar("T")


class ParamsError(ValueError):
    """A params.yaml value is missing, unknown, of the wrong type or impossible."""


def check(condition: bool, key: str, message: str) -> None:
    """Raise ``ParamsError`` naming ``key`` unless ``condition`` holds."""
    if not condition:
        raise ParamsError(f"{key}: {message}")


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def convert(value: Any, tp: Any, key: str) -> Any:
    """``value`` as type ``tp`` (lists become tuples, dataclasses are built); ``key`` names it."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ParamsError(f"{key}: {value!r} is not allowed; allowed values: "
                              + ", ".join(repr(a) for a in allowed))
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(value, arg, key)
            except ParamsError as err:
                errors.append(str(err))
        raise ParamsError(f"{key}: {value!r} does not fit {tp}" + (f" ({errors[0]})" if errors else ""))
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ParamsError(f"{key}: expected {len(args)} items, got {len(value)}")
            return tuple(convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        return tuple(convert(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{key}: expected a mapping, got {type(value).__name__}")
        k_tp, v_tp = get_args(tp) or (Any, Any)
        return {convert(k, k_tp, key): convert(v, v_tp, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ParamsError(f"{key}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise ParamsError(f"{key}: expected a path string, got {value!r}")
        return Path(value)
    raise TypeError(f"{key}: unsupported field type {tp!r}")


def from_dict(cls: type[T], data: Any, key: str) -> T:
    """Build the frozen dataclass ``cls`` from ``data``; ``key`` is the section's path for errors."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(f"{key}: expected a mapping of settings, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ParamsError(f"{key}: unknown key(s) {', '.join(unknown)}; allowed keys: "
                          + ", ".join(fields))
    kwargs = {}
    for name, field in fields.items():
        sub = f"{key}.{name}"
        if name in data:
            kwargs[name] = convert(data[name], hints[name], sub)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ParamsError(f"{sub}: missing (expected {_type_name(hints[name])})")
    try:
        return cls(**kwargs)
    except ParamsError as err:
        msg = str(err)
        raise ParamsError(msg if msg.startswith(key) else f"{key}.{msg}") from None
