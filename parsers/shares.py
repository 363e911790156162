"""Detection scores for formats that mark each line `_exact` / `_loose` while splitting it."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl


def split_shares(split: Callable[[pl.LazyFrame], pl.LazyFrame], texts: pl.Series) -> tuple[float, float]:
    """Share of the non-empty sample lines the split marks exact (nothing left over) and loose (readable)."""
    texts = texts.drop_nulls()
    if len(texts) == 0:
        return 0.0, 0.0
    out = split(pl.LazyFrame({"text": texts})).select(
        pl.col("_exact").fill_null(False).mean(), pl.col("_loose").fill_null(False).mean()
    ).collect()
    return float(out["_exact"][0]), float(out["_loose"][0])
