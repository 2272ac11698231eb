"""Command-line options shared by the per-model stages (train, predict), as typer types."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from sastnet.models.config import VARIANTS
from sastnet.taxonomy import TASKS

Task = Annotated[Literal[TASKS], typer.Option(help="the task whose labels are learnt")]
Variant = Annotated[Literal[VARIANTS + ("toy",)],
                    typer.Option(help="model variant (toy: the tiny test model)")]
Seed = Annotated[int, typer.Option(help="the training seed; one of train.seeds")]
