"""Visitor ids: Plausible's daily-salted user_id recipe, keyed by a secret that never enters the DB.

Plausible computes ``SipHash(salt, user_agent <> ip <> domain <> root_domain)`` with a random
salt that rotates at 00:00 UTC and is kept for 48 h (``event.ex``, ``salts.ex``). Offline we
cannot store random salts in the DB file (anyone holding the file could then re-identify IPs),
so the salt of a UTC day is derived from a 32-byte secret key kept in a separate file:
``salt(day) = BLAKE2b(key=secret, day)``. The id is ``BLAKE2b-64(key=salt(day), ua ␀ ip ␀ domain
␀ root_domain)``: a keyed hash from the standard library, stable across polars/DuckDB versions.

Why per DISTINCT tuple: a million rows hold a few hundred thousand (day, agent, ip, site, root)
tuples; hashing those in Python (about 1.5 µs each) and scattering the ids back by row index is
cheaper than hashing per row (DuckDB's sha256 takes 2 s per million rows here), and the IP never
reaches DuckDB.

Unlike Plausible, whose salts are deleted after 48 h, the salts here can be re-derived as long as
the key file exists: keep it private, and delete it to make old ids unlinkable for good.

``link_id`` is the same hash with the previous day's salt, set only for events in the first
:data:`LINK_WINDOW_S` seconds after 00:00 UTC, so sessions can continue across the salt change
as Plausible's two-salt lookup lets them (``cache_store.ex``: current id, then previous id).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import warnings
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from importer.source_names import root_domain

KEY_BYTES = 32
LINK_WINDOW_S = 30 * 60
"""An event at most this long after 00:00 UTC may still join the previous day's session."""

_SALT_PERSON = b"pl-logs-salt"


class KeyFileError(ValueError):
    """The secret key file exists but cannot be used (wrong size)."""


class KeyFilePermissionWarning(UserWarning):
    """The secret key file can be read by group or others."""


def load_or_create_key(path: Path) -> bytes:
    """Read the secret, or create it (mode 0600, 32 random bytes) atomically on first use.

    Creation writes a temporary file and hard-links it into place, so two loads starting at
    once agree on one key and a crash never leaves a short key behind.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race: use its key
        finally:
            tmp.unlink()
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(
            f"key file {path} is accessible by group/others (mode {stat.S_IMODE(mode):o}); "
            f"anyone who can read it can link visitor ids back to IPs. Run: chmod 600 {path}",
            KeyFilePermissionWarning,
            stacklevel=2,
        )
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise KeyFileError(
            f"key file {path} holds {len(key)} bytes, expected {KEY_BYTES}. Restore the original key file, "
            "or move it away to start a new key (visitor ids of later loads will then not match earlier ones)"
        )
    return key


def daily_salt(secret: bytes, day: date) -> bytes:
    """The salt of one UTC day: a keyed derivation, so no salt needs storing."""
    return hashlib.blake2b(day.isoformat().encode(), key=secret, digest_size=32, person=_SALT_PERSON).digest()


def _message(user_agent: str, ip: str, domain: str, root: str) -> str:
    """Plausible's hash input, NUL-separated so fields cannot run into each other."""
    return "\x00".join((user_agent, ip, domain, root))


def visitor_hash(salt: bytes, user_agent: str, ip: str, domain: str, root: str) -> int:
    """64-bit keyed hash of Plausible's user_id inputs under one day's salt (the scalar reference)."""
    message = _message(user_agent, ip, domain, root).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(message, key=salt, digest_size=8).digest(), "big")


def _digests(messages: list[bytes], keys: list[bytes]) -> np.ndarray:
    """BLAKE2b-64 of each message under its key, as big-endian uint64 (one C call per message)."""
    blake2b = hashlib.blake2b
    joined = b"".join([blake2b(m, key=k, digest_size=8).digest() for m, k in zip(messages, keys, strict=True)])
    return np.frombuffer(joined, dtype=">u8").astype(np.uint64)


def _hash_groups(groups: pl.DataFrame, secret: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(visitor ids, previous-day ids) per distinct (day, message); the latter 0 where not needed."""
    days: list[date] = groups["_day"].to_list()
    messages: list[bytes] = groups["_msg"].cast(pl.Binary).to_list()
    salts = {day: (daily_salt(secret, day), daily_salt(secret, day - timedelta(days=1))) for day in set(days)}
    ids = _digests(messages, [salts[day][0] for day in days])
    links = np.zeros(len(days), dtype=np.uint64)
    early = np.flatnonzero(groups["_early"].to_numpy())
    if early.size:
        links[early] = _digests([messages[i] for i in early], [salts[days[i]][1] for i in early])
    return ids, links


def with_visitor_ids(frame: pl.DataFrame, secret: bytes) -> pl.DataFrame:
    """Add ``visitor_id`` (UInt64) and ``link_id`` (UInt64, null outside 00:00-00:30 UTC).

    Needs ts (UTC), user_agent, client_ip, domain and host; returns every input column too.
    Rows are grouped by (day, message) and each group's id is scattered back by row index,
    which is cheaper than joining a million long string keys.
    """
    roots = {host: root_domain(host) for host in frame["host"].drop_nulls().unique().to_list()}
    ts = pl.col("ts").dt.truncate("1s")
    keyed = frame.select(
        _day=ts.dt.date(),
        _early=(ts - ts.dt.truncate("1d")).dt.total_seconds() <= LINK_WINDOW_S,
        _msg=pl.concat_str(
            pl.col("user_agent").fill_null(""),
            pl.col("client_ip").fill_null(""),
            pl.col("domain").str.strip_prefix("www."),
            pl.col("host").replace_strict(roots, default="(none)", return_dtype=pl.String).fill_null("(none)"),
            separator="\x00",
        ),
    )
    groups = keyed.with_row_index("_i").group_by("_day", "_msg").agg(pl.col("_i"), pl.col("_early").any())
    ids, links = _hash_groups(groups, secret)
    rows = groups["_i"].explode().to_numpy()
    sizes = groups["_i"].list.len().to_numpy()
    row_ids = np.empty(frame.height, dtype=np.uint64)
    row_links = np.empty(frame.height, dtype=np.uint64)
    row_ids[rows] = np.repeat(ids, sizes)
    row_links[rows] = np.repeat(links, sizes)
    return frame.with_columns(
        visitor_id=pl.Series(row_ids, dtype=pl.UInt64),
        link_id=pl.when(keyed["_early"]).then(pl.Series(row_links, dtype=pl.UInt64)),
    )
