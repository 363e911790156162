"""Country of each client IP, offline, looked up once per DISTINCT address with ``iptocc``.

Why per distinct address: a batch of a million rows holds a few hundred thousand addresses and
``iptocc`` answers a list in one native call, so the join back costs more than the lookup.
Plausible stores ISO 3166-1 alpha-2 codes (``country_code``); registry placeholders that are not
countries (``ZZ`` unknown, ``XX``, ``T1`` Tor, ``EU``/``AP`` region blocks, ``A1``/``A2``/``O1``) become
NULL, shown as "(not set)". Private and documentation ranges have no country, so they are NULL too.
"""

from __future__ import annotations

import iptocc
import polars as pl

NOT_COUNTRIES: frozenset[str] = frozenset({"ZZ", "XX", "T1", "EU", "AP", "A1", "A2", "O1", "--", ""})


def country_codes(addresses: list[str]) -> list[str | None]:
    """ISO codes for a list of addresses (None where unknown or not a country)."""
    if not addresses:
        return []
    codes = iptocc.country_code(addresses)
    return [None if code is None or code.upper() in NOT_COUNTRIES else code.upper() for code in codes]


def with_country(frame: pl.DataFrame, ip_column: str = "client_ip") -> pl.DataFrame:
    """Add a ``country`` column looked up from ``ip_column``."""
    distinct = frame.get_column(ip_column).drop_nulls().unique().to_list()
    mapping = dict(zip(distinct, country_codes(distinct), strict=True))
    return frame.with_columns(
        country=pl.col(ip_column).replace_strict(mapping, default=None, return_dtype=pl.String),
    )
