"""Decompressing a log stream block by block: gzip (by ISA-L when sound), bzip2, xz and zstd.

Damage is recorded, never raised: everything decodable before a cut or a corrupt block is
yielded, and what is yielded and reported is exactly what zlib would give.
"""

from __future__ import annotations

import bz2
import itertools
import lzma
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO, Protocol

try:
    from isal import isal_zlib
except ImportError:  # pragma: no cover - a dependency; without it zlib reads the same bytes, slower
    isal_zlib = None

READ_BLOCK = 1 << 20  # compressed bytes read at a time


class DamageRecord(Protocol):
    """Where a cut or corrupt stream is noted (reader.ReadStats)."""

    truncated: bool
    truncation_error: str


def _new_decompressor(kind: str) -> Any:
    if kind == "gzip":
        return zlib.decompressobj(wbits=47)  # gzip or zlib header, auto-detected
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor()
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


def _raw_blocks(raw: BinaryIO) -> Iterator[bytes]:
    return iter(partial(raw.read, READ_BLOCK), b"")


_DAMAGE = (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError)


def inflate(raw: BinaryIO, kind: str, stats: DamageRecord) -> Iterator[bytes]:
    """Decompress block by block, across concatenated members (nginx `gzip=` and pigz write several).

    Everything decodable before a cut or a corrupt block is yielded; the damage
    is recorded in stats rather than raised, so a damaged archive still counts.
    gzip is inflated by ISA-L (2-3x faster than zlib) while the data is sound; at a cut or
    a corrupt block, zlib takes over from the start of that member, so what is yielded and
    the damage reported are zlib's, as before.
    """
    blocks = _raw_blocks(raw)
    skip = 0
    if kind == "gzip" and isal_zlib is not None:
        handover = yield from _inflate_isal(raw, blocks)
        if handover is None:
            return
        blocks, skip = handover
    yield from _inflate_blocks(blocks, kind, stats, skip)


def _inflate_blocks(blocks: Iterator[bytes], kind: str, stats: DamageRecord, skip: int = 0) -> Iterator[bytes]:
    """The reference reading of a compressed stream; its first `skip` output bytes were already yielded."""
    decompressor = _new_decompressor(kind)
    pending_eof = False
    for raw_block in blocks:
        block = raw_block
        while block:
            try:
                out = decompressor.decompress(block)
            except _DAMAGE as exc:
                stats.truncated, stats.truncation_error = True, f"corrupt {kind} data: {exc}"
                return
            if skip and out:
                dropped = min(skip, len(out))
                out, skip = out[dropped:], skip - dropped
            if out:
                yield out
            pending_eof = not decompressor.eof
            block = decompressor.unused_data if decompressor.eof else b""
            if decompressor.eof and block.strip(b"\0"):
                decompressor = _new_decompressor(kind)
                pending_eof = True
            elif decompressor.eof:
                block = b""
    if pending_eof:
        stats.truncated, stats.truncation_error = True, f"the {kind} stream ends early"


_REPLAY_LIMIT = 64 << 20  # compressed bytes of one member kept for a replay, when the stream cannot seek back


@dataclass
class _Member:
    """Where the gzip member being inflated starts, so zlib can read it again from there."""

    raw: BinaryIO
    seekable: bool
    first: bytes = b""  # the block its decompressor was first fed (the rest of the previous member's block)
    after: int = 0  # stream position after the raw block holding `first` (seekable streams)
    kept: list[bytes] = field(default_factory=list)  # the raw blocks after `first` (other streams)
    kept_bytes: int = 0
    out: int = 0  # bytes inflated from it so far

    def start(self, first: bytes) -> None:
        self.first, self.kept, self.kept_bytes, self.out = first, [], 0, 0
        if self.seekable:
            self.after = self.raw.tell()

    def add(self, block: bytes) -> bool:
        """Note a raw block of this member; False when a non-seekable stream's member outgrew the limit."""
        if not self.seekable:
            self.kept.append(block)
            self.kept_bytes += len(block)
        return self.kept_bytes <= _REPLAY_LIMIT

    def replay(self, rest: Iterator[bytes]) -> tuple[Iterator[bytes], int]:
        """This member's blocks as the reference reading would have been fed them, then the rest; and its output."""
        if self.seekable:  # read again from there (`rest` may have met the end of the stream already)
            self.raw.seek(self.after)
            return itertools.chain([self.first], _raw_blocks(self.raw)), self.out
        return itertools.chain([self.first], self.kept, rest), self.out


def _inflate_isal(raw: BinaryIO, blocks: Iterator[bytes]) -> Generator[bytes, None, tuple[Iterator[bytes], int] | None]:
    """`_inflate_blocks` with ISA-L for sound gzip; at damage, returns what zlib must read again and skip."""
    assert isal_zlib is not None
    member = _Member(raw, raw.seekable())
    decompressor = isal_zlib.decompressobj(wbits=47)
    pending_eof = False
    for number, raw_block in enumerate(blocks):
        if number == 0:
            member.start(raw_block)
        elif not member.add(raw_block):  # zlib from here on: a replay must fit in memory
            return member.replay(blocks)
        block = raw_block
        while block:
            try:
                out = decompressor.decompress(block)
            except (isal_zlib.error, *_DAMAGE):
                return member.replay(blocks)
            if out:
                member.out += len(out)
                yield out
            pending_eof = not decompressor.eof
            block = decompressor.unused_data if decompressor.eof else b""
            if decompressor.eof and block.strip(b"\0"):
                decompressor = isal_zlib.decompressobj(wbits=47)
                member.start(block)
                pending_eof = True
            elif decompressor.eof:
                block = b""
    return member.replay(blocks) if pending_eof else None
