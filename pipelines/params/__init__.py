"""``params.yaml`` -> typed, frozen configs. The one place params are read.

Usage in a stage::

    from pipelines.params import load_params
    params = load_params()            # params.yaml in the working directory
    cfg = params.corpus               # a frozen CorpusParams

Sections are registered in ``SECTIONS``; each lives in its own module here. A section missing
from the file gets its defaults; a section or key the code does not know is an error.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from pipelines.params.core import ParamsError, check, from_dict
from pipelines.params.sections import SECTIONS, check_consistency

__all__ = ["ParamsError", "Params", "check", "load_params", "parse_params", "SECTIONS", "PROFILES_DIR"]

PROFILES_DIR = Path(__file__).resolve().parents[2] / "profiles"


@dataclasses.dataclass(frozen=True)
class Params:
    """All sections of one params file, each a frozen dataclass."""

    sections: dict[str, Any]
    source: str

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(f"params have no section {name!r}; sections: {', '.join(sections)}")


def parse_params(data: Any, source: str = "<params>") -> Params:
    """Validate a parsed params mapping (all sections) and return typed sections."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(f"{source}: the top level must be a mapping of sections")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ParamsError(f"{source}: unknown section(s) {', '.join(unknown)}; allowed sections: "
                          + ", ".join(SECTIONS))
    sections = {name: from_dict(cls, data.get(name), name) for name, cls in SECTIONS.items()}
    check_consistency(sections)
    return Params(sections=sections, source=source)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file (default: ``params.yaml`` in the working directory)."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: params file not found (run from the repository root)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    try:
        return parse_params(data, str(path))
    except ParamsError as err:  # named once: parse_params names the file in its own errors
        message = str(err)
        raise ParamsError(message if message.startswith(f"{path}:") else f"{path}: {message}") \
            from None
