"""The clip manifest: one Parquet row per clip, the table every stage after ``corpus`` reads.

The schema is the contract of ``docs/contracts.md`` ("The clip manifest"). ``write_manifest``
validates before writing and writes atomically (a temporary file renamed onto the target), so a
crash leaves the old manifest or the new one. ``read_manifest`` validates on the way in, so a
stage never works on a manifest another stage wrote wrongly.

    from pipelines.common.manifest import read_manifest, write_manifest
    df = read_manifest("data/corpus/manifest.parquet")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.common.io import atomic_path
from sastnet.taxonomy import TASKS, num_classes

CLIP_SCHEMA = pa.schema([
    pa.field("key", pa.string(), nullable=False),
    pa.field("path", pa.string(), nullable=False),
    pa.field("speaker", pa.string(), nullable=False),
    pa.field("utt_id", pa.int64(), nullable=True),
    pa.field("text", pa.string(), nullable=True),
    pa.field("codec", pa.string(), nullable=False),
    pa.field("subset", pa.string(), nullable=False),
    pa.field("split", pa.string(), nullable=False),
    pa.field("seen", pa.bool_(), nullable=True),
    pa.field("pair_key", pa.string(), nullable=False),
    pa.field("codec_seen", pa.bool_(), nullable=False),
    pa.field("label_vq", pa.int8(), nullable=False),
    pa.field("label_aux", pa.int8(), nullable=False),
    pa.field("label_dec", pa.int8(), nullable=False),
    pa.field("label_bin", pa.int8(), nullable=False),
    pa.field("duration_s", pa.float32(), nullable=False),
])

COLUMNS: tuple[str, ...] = tuple(CLIP_SCHEMA.names)
SUBSETS = ("CoRS", "CoSG")
SPLITS = ("train", "dev", "test")


class ManifestError(ValueError):
    """A manifest breaks the contract of docs/contracts.md."""


def _rows(mask: pd.Series, df: pd.DataFrame, limit: int = 5) -> str:
    keys = df.loc[mask, "key"].astype(str).head(limit).tolist() if "key" in df else []
    return f"{int(mask.sum())} row(s), e.g. keys {keys}"


def validate_manifest(df: pd.DataFrame) -> None:
    """Check a manifest against ``CLIP_SCHEMA`` and the contract's rules.

    Raises:
        ManifestError: naming the column and (the first few) offending rows.
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"manifest lacks column(s) {', '.join(missing)}; "
                            f"expected columns: {', '.join(COLUMNS)}")
    extra = [c for c in df.columns if c not in COLUMNS]
    if extra:
        raise ManifestError(f"manifest has unknown column(s) {', '.join(extra)}")
    for fld in CLIP_SCHEMA:
        if not fld.nullable and df[fld.name].isna().any():
            raise ManifestError(f"column {fld.name!r} has nulls: {_rows(df[fld.name].isna(), df)}")
    dup = df["key"].duplicated(keep=False)
    if dup.any():
        raise ManifestError(f"column 'key' is not unique: {_rows(dup, df)}")
    for col, allowed in (("subset", SUBSETS), ("split", SPLITS)):
        bad = ~df[col].isin(allowed)
        if bad.any():
            raise ManifestError(f"column {col!r} must be one of {allowed}: {_rows(bad, df)}")
    for task in TASKS:
        col = f"label_{task}"
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | (values < 0) | (values >= num_classes(task))
        if bad.any():
            raise ManifestError(f"column {col!r} must be in 0..{num_classes(task) - 1}: "
                                f"{_rows(bad, df)}")
    # bona fide in one task is bona fide in all tasks
    zero = pd.DataFrame({t: df[f"label_{t}"] == 0 for t in TASKS})
    mixed = zero.any(axis=1) & ~zero.all(axis=1)
    if mixed.any():
        raise ManifestError(f"label columns mix bona fide (0) and spoof labels: {_rows(mixed, df)}")
    duration = pd.to_numeric(df["duration_s"], errors="coerce")
    bad = duration.isna() | ~np.isfinite(duration) | (duration <= 0)
    if bad.any():
        raise ManifestError(f"column 'duration_s' must be a positive number: {_rows(bad, df)}")
    seen_without_id = df["utt_id"].isna() & df["seen"].notna()
    if seen_without_id.any():
        raise ManifestError(f"column 'seen' must be null where 'utt_id' is null: "
                            f"{_rows(seen_without_id, df)}")
    try:
        pa.Table.from_pandas(df[list(COLUMNS)], schema=CLIP_SCHEMA, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as err:
        raise ManifestError(f"manifest does not fit CLIP_SCHEMA: {err}") from None


def _to_table(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df[list(COLUMNS)].reset_index(drop=True), schema=CLIP_SCHEMA,
                                preserve_index=False)


def write_manifest(df: pd.DataFrame, path: str | Path) -> None:
    """Validate ``df`` and write it as Parquet with ``CLIP_SCHEMA``, atomically."""
    validate_manifest(df)
    table = _to_table(df)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read and validate a manifest; nullable columns come back as pandas nullable dtypes."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: manifest not found (run `dvc repro corpus` first)")
    table = pq.read_table(path)
    df = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(),
                                       pa.bool_(): pd.BooleanDtype()}.get)
    try:
        validate_manifest(df)
    except ManifestError as err:
        raise ManifestError(f"{path}: {err}") from None
    return df
