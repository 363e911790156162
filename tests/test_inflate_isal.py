"""gzip is inflated by ISA-L when it is installed: the bytes and the damage reported must be zlib's, exactly."""

from __future__ import annotations

import gzip
import io
import random

import pytest

from parsers import inflate, reader

pytest.importorskip("isal")


def _body(lines: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    return "".join(f"{i} {rng.random()} {'x' * rng.randint(0, 300)}\n" for i in range(lines)).encode()


class _Pipe(io.RawIOBase):
    """A stream that cannot seek and hands out short reads, like stdin or a network body."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), len(self._data), 300_000)
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def _read(data: bytes, fast: bool, seekable: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, str]:
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(inflate, "isal_zlib", None)
        raw = io.BytesIO(data) if seekable else io.BufferedReader(_Pipe(data))
        stats = reader.ReadStats()
        out = b"".join(inflate.inflate(raw, "gzip", stats))  # type: ignore[arg-type]
        return out, stats.truncation_error


def _damaged() -> list[bytes]:
    one = gzip.compress(_body(30_000), compresslevel=6)
    two = one + gzip.compress(_body(2_000, seed=8))
    cases = [one, two, two + b"\0" * 9, one + b"\0\0" + one, b"", one[:10]]
    cases += [one[:cut] for cut in (len(one) // 3, len(one) // 2 + 1, len(one) - 1, len(one) - 5, len(one) - 9)]
    cases += [two[: len(one) + 40]]
    for at in (11, 2_000, len(one) // 2, len(one) - 6):
        flipped = bytearray(two)
        flipped[at] ^= 0x55
        cases.append(bytes(flipped))
    return cases


@pytest.mark.parametrize("seekable", [True, False])
def test_isal_yields_what_zlib_yields_for_sound_cut_and_corrupt_gzip(
    seekable: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index, data in enumerate(_damaged()):
        assert _read(data, True, seekable, monkeypatch) == _read(data, False, seekable, monkeypatch), index


def test_a_long_member_of_a_stream_that_cannot_seek_is_handed_to_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inflate, "_REPLAY_LIMIT", 1 << 18)
    rng = random.Random(3)
    data = gzip.compress("".join(f"{rng.randbytes(200).hex()}\n" for _ in range(12_000)).encode(), compresslevel=1)
    assert len(data) > 2 * inflate.READ_BLOCK  # several blocks, each over the limit
    cut = data[: len(data) - 1000]
    assert _read(cut, True, False, monkeypatch) == _read(cut, False, False, monkeypatch)
    whole, error = _read(data, True, False, monkeypatch)
    assert (whole, error) == (gzip.decompress(data), "")
