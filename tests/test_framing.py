"""Input framing through the real CLI: compression, rotation, stdin, odd bytes and broken files."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from pathlib import Path

import pytest
import zstandard

from tests.conftest import ndjson_rows, run_cli

COMPRESSORS = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zst": lambda data: zstandard.ZstdCompressor().compress(data),
}


def _parse(*args: str, input: bytes | None = None) -> tuple[list[dict], str, int]:
    result = run_cli("parse", "--output", "ndjson", *args, input=input)
    return ndjson_rows(result.stdout), result.stderr, result.exit_code


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compression_is_recognised_by_magic_bytes(tmp_path: Path, combined_lines: list[str], kind: str) -> None:
    data = ("\n".join(combined_lines) + "\n").encode()
    path = tmp_path / "access.log.weird-name"  # no telling suffix: only the magic bytes say what it is
    path.write_bytes(COMPRESSORS[kind](data))
    rows, err, code = _parse(str(path))
    assert code == 0
    assert [r["path"] for r in rows] == ["/a", "/b", "/c"]
    first, second = (len(line) + 1 for line in combined_lines[:2])
    assert [r["offset"] for r in rows] == [0, first, first + second]
    assert "lines 3 · parsed 3 · rejected 0" in err


def test_crlf_line_endings_are_stripped_and_offsets_count_the_cr(tmp_path: Path, combined_lines: list[str]) -> None:
    path = tmp_path / "crlf.log"
    path.write_bytes(("\r\n".join(combined_lines) + "\r\n").encode())
    rows, _, code = _parse(str(path))
    assert code == 0
    assert [r["user_agent"] for r in rows] == ["Mozilla/5.0 (X11)", "Mozilla/5.0", "curl/8.5.0"]
    assert rows[1]["offset"] == len(combined_lines[0]) + 2


def test_empty_file_gives_no_rows_and_no_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    rows, err, code = _parse("--format", "combined", str(path))
    assert (rows, code) == ([], 0)
    assert "lines 0 · parsed 0 · rejected 0" in err


def test_line_over_64_kib_is_rejected_with_a_reason(tmp_path: Path, combined_lines: list[str]) -> None:
    long_line = combined_lines[0].replace("/a?x=1", "/" + "a" * 70_000)
    path = tmp_path / "long.log"
    path.write_text("\n".join([combined_lines[1], long_line, combined_lines[2]]) + "\n")
    rejects = tmp_path / "rejects.ndjson"
    rows, err, code = _parse("--format", "combined", "--rejects", str(rejects), str(path))
    assert code == 0
    assert [r["line"] for r in rows] == [1, 3]
    rejected = ndjson_rows(rejects.read_text())
    assert [(r["line"], r["reason"]) for r in rejected] == [(2, "line_too_long")]
    assert len(rejected[0]["text"]) == 500
    assert "line_too_long 1" in err


def test_truncated_gzip_keeps_readable_lines_and_reports_damage(tmp_path: Path, combined_lines: list[str]) -> None:
    data = ("\n".join(combined_lines * 2000) + "\n").encode()
    packed = gzip.compress(data)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(packed[: len(packed) // 2])
    rows, err, code = _parse("--format", "combined", str(path))
    assert code == 0
    assert 0 < len(rows) < 6000
    assert "cut short" in err
    _, _, strict_code = _parse("--format", "combined", "--strict", str(path))
    assert strict_code == 1


def test_rotated_set_in_a_directory_is_read_oldest_first(tmp_path: Path, combined_lines: list[str]) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "access.log").write_text(combined_lines[0] + "\n")
    (folder / "access.log.1").write_text(combined_lines[1] + "\n")
    (folder / "access.log.2.gz").write_bytes(gzip.compress((combined_lines[2] + "\n").encode()))
    rows, _, code = _parse(str(folder))
    assert code == 0
    assert [(os.path.basename(r["file"]), r["path"]) for r in rows] == [
        ("access.log.2.gz", "/c"), ("access.log.1", "/b"), ("access.log", "/a")
    ]


def test_glob_expands_in_rotation_order(tmp_path: Path, combined_lines: list[str]) -> None:
    for i, line in enumerate(combined_lines):
        (tmp_path / (f"site.log.{i}" if i else "site.log")).write_text(line + "\n")
    rows, _, code = _parse(str(tmp_path / "site.log*"))
    assert code == 0
    assert [r["path"] for r in rows] == ["/c", "/b", "/a"]


def test_stdin_is_read_with_dash_even_when_compressed(combined_lines: list[str]) -> None:
    data = gzip.compress(("\n".join(combined_lines) + "\n").encode())
    rows, _, code = _parse("-", input=data)
    assert code == 0
    assert [r["file"] for r in rows] == ["-", "-", "-"]
    assert [r["line"] for r in rows] == [1, 2, 3]


def test_invalid_utf8_is_decoded_leniently_and_counted(tmp_path: Path, combined_lines: list[str]) -> None:
    broken = combined_lines[1].encode().replace(b"Mozilla/5.0", b"Mozilla\xff\xfe")
    raw = (combined_lines[0] + "\n").encode() + broken + b"\n"
    path = tmp_path / "bytes.log"
    path.write_bytes(raw)
    rows, err, code = _parse("--format", "combined", str(path))
    assert code == 0
    assert rows[1]["user_agent"] == "Mozilla\ufffd\ufffd"
    assert rows[1]["offset"] == len(combined_lines[0]) + 1
    assert "1 lines had bytes that are not UTF-8" in err


def test_last_line_without_newline_is_parsed(tmp_path: Path, combined_lines: list[str]) -> None:
    path = tmp_path / "no-eol.log"
    path.write_text("\n".join(combined_lines))
    rows, _, _ = _parse("--format", "combined", str(path))
    assert len(rows) == 3


def test_every_line_is_accounted_for_across_many_small_batches(tmp_path: Path, combined_lines: list[str]) -> None:
    from parsers.inputs import expand_inputs
    from parsers.stream import FormatChoice, ParseReport, parse_all

    body = [combined_lines[i % 3] if i % 7 else "garbage line" for i in range(5000)]
    path = tmp_path / "many.log"
    path.write_text("\n".join(body) + "\n")
    report = ParseReport()
    batches = list(parse_all(expand_inputs([str(path)]), FormatChoice("combined"), report, batch_bytes=4096))
    lines = [n for b in batches for n in b.rows["line"].to_list() + b.rejects["line"].to_list()]
    assert sorted(lines) == list(range(1, 5001))
    assert report.parsed + sum(report.rejected.values()) == report.lines == 5000
    assert report.rejected == {"no_match": len([b for b in body if b == "garbage line"])}


def test_read_chunks_end_after_a_newline_and_lose_nothing() -> None:
    """Chunks are cut after the last newline of their last block (sparing a copy); together they are the input."""
    import io

    from parsers.reader import READ_BLOCK, ReadStats, _read_chunks

    line = b'192.0.2.7 - - [06/Jan/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "agent"\n'
    data = line * ((READ_BLOCK * 8 * 2 + READ_BLOCK) // len(line)) + b"no newline at the end"
    chunks = list(_read_chunks(io.BytesIO(data), "none", READ_BLOCK, ReadStats()))
    assert b"".join(chunks) == data
    assert len(chunks) == 4  # three blocks read, each closing a chunk at its last newline; then the tail
    assert all(chunk.endswith(b"\n") for chunk in chunks[:-1])
    assert chunks[-1] == b"no newline at the end"
