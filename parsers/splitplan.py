"""A faster path for templates built around quoted fields (combined and its relatives).

Splitting a line on `"` is a memchr-speed operation; the long quoted values
(referrer, user agent) then need no regex at all, and only the short pieces
between quotes go through small anchored regexes. Lines whose quote count
differs from the template's (an Apache `\\"` inside a value, a truncated
line) fall back to the full regex, so the result is identical, only faster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from parsers.fields import TYPED_PATTERNS, Field, Kind

Item = tuple[str, str | int]  # ("lit", text) or ("field", token index)


@dataclass(frozen=True)
class _Segment:
    """What to do with one piece of the line between two quote characters."""

    literal: str | None = None  # the piece must equal this text
    regex: str | None = None  # or match this anchored regex (named groups)
    probe: str | None = None  # a group that is non-null exactly when the regex matched
    copy_to: str | None = None  # or be copied verbatim into this group


def _segments(tokens: list[str | Field]) -> list[list[Item]]:
    segments: list[list[Item]] = [[]]
    for index, token in enumerate(tokens):
        if isinstance(token, Field):
            segments[-1].append(("field", index))
            continue
        pieces = token.split('"')
        if pieces[0]:
            segments[-1].append(("lit", pieces[0]))
        for piece in pieces[1:]:
            segments.append([("lit", piece)] if piece else [])
    return segments


def _first_group(pattern: str) -> str | None:
    found = re.search(r"\(\?P<([^>]+)>", pattern)
    return found.group(1) if found else None


class SplitPlan:
    """Extract the same named groups as the full regex, by splitting on quotes first."""

    def __init__(self, quotes: int, segments: list[_Segment]) -> None:
        self.quotes = quotes
        self.segments = segments

    @classmethod
    def build(cls, tokens: list[str | Field], patterns: list[str], groups: dict[int, str]) -> SplitPlan | None:
        """A plan when every quoted piece is one field or plain text; None otherwise."""
        raw = _segments(tokens)
        if len(raw) < 3:
            return None
        built: list[_Segment] = []
        for number, items in enumerate(raw):
            last = number == len(raw) - 1
            segment = cls._segment(items, number % 2 == 1, last, tokens, patterns, groups)
            if segment is None:
                return None
            built.append(segment)
        return cls(len(raw) - 1, built)

    @staticmethod
    def _segment(
        items: list[Item], quoted: bool, last: bool, tokens: list[str | Field], patterns: list[str],
        groups: dict[int, str],
    ) -> _Segment | None:
        fields = [i for kind, i in items if kind == "field"]
        if not fields:
            text = "".join(str(v) for _, v in items)
            if last:
                return _Segment(regex=rf"^{re.escape(text)}(?:\s.*)?$", probe="_tail")
            return _Segment(literal=text)
        if quoted and len(items) > 1:
            return None
        if quoted:
            index = int(fields[0])
            field = tokens[index]
            assert isinstance(field, Field)
            if field.kind not in TYPED_PATTERNS and field.kind not in (Kind.REQUEST, Kind.TIME_STRFTIME):
                return _Segment(copy_to=groups[index])
            return _Segment(regex=f"^{patterns[index]}$", probe=_first_group(patterns[index]))
        body = "".join(re.escape(str(v)) if kind == "lit" else patterns[int(v)] for kind, v in items)
        tail = r"(?:\s.*)?" if last else ""
        return _Segment(regex=f"^{body}{tail}$", probe=_first_group(body))

    def extract(self, lines: pl.DataFrame) -> pl.DataFrame:
        """lines + every named group + `_ok` (False where the full regex must decide)."""
        text = pl.col("text")
        parts = [f"_s{k}" for k in range(self.quotes + 1)]
        # splitn, not split_exact: the last part keeps the rest of the line, quotes included, so a line
        # with a quote past its last field goes to the full regex (split_exact would drop that rest).
        frame = lines.lazy().with_columns(
            text.str.splitn('"', self.quotes + 1).struct.rename_fields(parts).alias("_parts")
        ).unnest("_parts")
        last = pl.col(parts[-1])
        # A backslash before a quote may escape it (Apache's \"), which splitting cannot tell: the full regex decides.
        ok = last.is_not_null() & ~last.str.contains('"', literal=True) & ~text.str.contains('\\"', literal=True)
        regex_columns = []
        copies = []
        for name, segment in zip(parts, self.segments, strict=True):
            column = pl.col(name)
            if segment.literal is not None:
                ok = ok & (column == segment.literal)
            elif segment.copy_to is not None:
                copies.append(column.alias(segment.copy_to))
            elif segment.probe == "_tail":
                ok = ok & column.str.contains(segment.regex)
            else:
                regex_columns.append(column.str.extract_groups(segment.regex).alias(f"{name}_m"))
        frame = frame.with_columns(*copies, *regex_columns)
        structs = [
            f"{name}_m" for name, seg in zip(parts, self.segments, strict=True) if seg.regex and seg.probe != "_tail"
        ]
        frame = frame.unnest(*structs) if structs else frame
        for segment in self.segments:
            if segment.probe and segment.probe != "_tail":
                ok = ok & pl.col(segment.probe).is_not_null()
        frame = frame.with_columns(ok.fill_null(False).alias("_ok")).drop(parts)
        return frame.collect()

