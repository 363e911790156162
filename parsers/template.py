"""A log format written as a template: literal text with variables between it.

nginx `log_format` strings and Apache `LogFormat` strings are both compiled
here into one anchored regex whose groups polars extracts over a whole
batch at once. Lines that do not match are diagnosed (a second pass over the
few failures only) so every reject carries a reason a person understands.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from parsers import compiled
from parsers.compiled import CompiledPlan
from parsers.escapes import Escaping, unescape_series
from parsers.fields import TIME_KINDS, TYPED_PATTERNS, Field, Kind, nullify, strftime_pattern
from parsers.lineview import FramedLines, LineView, view_of
from parsers.reader import MAX_LINE_BYTES, Batch
from parsers.schema import CANONICAL, REJECT_TEXT_LIMIT, REJECTS
from parsers.splitplan import SplitPlan
from parsers.template_columns import canonical_exprs, has_absolute_targets

Token = str | Field

_TEXT_COLUMNS = ("path", "query", "referrer", "user_agent", "content_type", "xff", "host", "client_ip")


def _quoted_value(quote: str) -> str:
    q = re.escape(quote)
    return rf"[^{q}\\]*(?:\\.[^{q}\\]*)*"


def _generic_value(next_char: str | None) -> str:
    if next_char is None:
        return r".*"
    if next_char == '"':
        return _quoted_value('"')
    return rf"[^{re.escape(next_char)}]*"


def _next_char(tokens: list[Token], index: int) -> str | None:
    for token in tokens[index + 1 :]:
        if isinstance(token, str):
            return token[0] if token else None
        return None
    return None


@dataclass(frozen=True)
class _Compiled:
    parse: str
    full: str
    relaxed: str
    prefix: str
    groups: dict[int, str]


class TemplateFormat:
    """A compiled template: parse batches of lines into canonical rows and rejects."""

    def __init__(
        self, name: str, tokens: list[Token], escaping: Escaping, description: str = "", template: str = ""
    ) -> None:
        self.name = name
        self.description = description
        self.template = template
        self.escaping = escaping
        self.tokens = _merge_literals(tokens)
        self.fields = [t for t in self.tokens if isinstance(t, Field)]
        if not any(f.kind in TIME_KINDS for f in self.fields):
            raise ValueError("the format has no time variable, so events cannot be dated")
        self._compiled = self._compile()
        self._empty_rows: pl.DataFrame | None = None

    @property
    def specificity(self) -> int:
        """How many meaningful fields the format has (breaks detection ties)."""
        return sum(1 for f in self.fields if f.kind is not Kind.SKIP)

    # ----- compilation -------------------------------------------------
    def _field_pattern(self, index: int, field: Field, group: str, relaxed: bool) -> str:
        nxt = _next_char(self.tokens, index)
        empty_ok = self.escaping is not Escaping.CLF
        if field.kind is Kind.REQUEST and not relaxed:
            target = _quoted_value('"').replace('[^"', '[^ "') if nxt == '"' else r"[^ ]*"
            return (
                rf"(?P<{group}_m>[A-Z][A-Za-z0-9_-]*) (?P<{group}_t>{target})"
                rf"(?: (?P<{group}_p>[A-Z]+/[0-9.]+))?"
            )
        if field.kind is Kind.QUERY_Q:
            return rf"(?P<{group}>(?:\?{_generic_value(nxt)})?)"
        following = self.tokens[index + 1] if index + 1 < len(self.tokens) else None
        if field.kind is Kind.PATH and isinstance(following, Field) and following.kind is Kind.QUERY_Q:
            return rf"(?P<{group}>[^? \"]*)"
        typed = TYPED_PATTERNS.get(field.kind)
        if field.kind is Kind.TIME_STRFTIME:
            typed = strftime_pattern(field.arg)
        body = typed if typed is not None else _generic_value(nxt)
        if typed is not None and empty_ok:
            body = f"(?:{body})?"
        return f"(?P<{group}>{body})"

    def _compile(self) -> _Compiled:
        strict: list[str] = []
        patterns: list[str] = []
        relaxed: list[str] = []
        groups: dict[int, str] = {}
        for index, token in enumerate(self.tokens):
            if isinstance(token, str):
                strict.append(re.escape(token))
                relaxed.append(re.escape(token))
                patterns.append(re.escape(token))
                continue
            group = f"f{index}"
            groups[index] = group
            strict.append(self._field_pattern(index, token, group, relaxed=False))
            patterns.append(strict[-1])
            relaxed.append(self._field_pattern(index, token, group, relaxed=True))
        body = "".join(strict)
        prefix = _nested_prefix(self.tokens, strict)
        self._plan = SplitPlan.build(self.tokens, patterns, groups)
        self._machine = CompiledPlan.build(self.tokens, groups, empty_ok=self.escaping is not Escaping.CLF)
        return _Compiled(
            parse=rf"^{body}(?:\s.*)?$",
            full=rf"^{body}$",
            relaxed=rf"^{''.join(relaxed)}(?:\s.*)?$",
            prefix=rf"^{prefix}$",
            groups=groups,
        )

    # ----- detection support ---------------------------------------------
    def match_fractions(self, texts: pl.Series) -> tuple[float, float]:
        """Share of sample lines that match exactly, and that match with trailing text allowed."""
        if len(texts) == 0:
            return 0.0, 0.0
        frame = pl.DataFrame({"t": texts})
        out = frame.select(
            pl.col("t").str.contains(self._compiled.full).fill_null(False).mean().alias("full"),
            pl.col("t").str.contains(self._compiled.parse).fill_null(False).mean().alias("parse"),
        )
        return float(out["full"][0]), float(out["parse"][0])

    # ----- parsing -----------------------------------------------------
    def _first_group(self) -> str:
        index, group = next(iter(self._compiled.groups.items()))
        field = self.tokens[index]
        assert isinstance(field, Field)
        return f"{group}_m" if field.kind is Kind.REQUEST else group

    def _extract_full(self, lines: pl.DataFrame) -> pl.DataFrame:
        return (
            lines.lazy()
            .with_columns(pl.col("text").str.extract_groups(self._compiled.parse).alias("_m"))
            .unnest("_m")
            .collect()
        )

    def _extract(self, lines: pl.DataFrame) -> pl.DataFrame:
        """Named groups per line (null where no match): the split-on-quote plan first, the full regex for the rest."""
        if self._plan is None:
            return self._extract_full(lines)
        fast = self._plan.extract(lines)
        ok = fast.get_column("_ok")
        if ok.all():
            return fast.drop("_ok")
        slow = self._extract_full(lines.filter(~ok))
        merged = pl.concat([fast.filter(ok).drop("_ok"), slow.select(fast.drop("_ok").columns)])
        return merged.sort("line")

    def parse(self, lines: pl.DataFrame, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse a batch (text, line, offset) into canonical rows and rejects."""
        if self._machine is not None and compiled.enabled(lines.height):
            return self._parse_compiled(FramedLines(lines), file)
        return self._parse_regex(lines, file)

    def parse_batch(self, batch: Batch, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse a batch as read; the compiled path reads its raw bytes, so polars never frames them."""
        if self._machine is None or not compiled.enabled(batch.count):
            return self._parse_regex(batch.lines, file)
        return self._parse_compiled(view_of(batch), file)

    def _parse_compiled(self, view: LineView, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The kernel cuts almost every line; the few it refuses take the regex engine, which names rejects."""
        assert self._machine is not None
        columns, ok, cut = self._machine.extract(view)
        good = pl.concat([view.positions(cut), columns], how="horizontal")
        rows = self._canonical(good, file, ready=True)
        rows = _unescape(rows, good.get_column(compiled.ESCAPED_COLUMN), self.escaping)
        rejects = []
        no_request = self._missing_request(rows)
        if no_request.any():
            refused = view.frame(cut[no_request.to_numpy()])
            rejects.append(_rejects_from(refused, file, pl.lit("invalid_request")))
            rows = rows.filter(~no_request)
        if not ok.all():  # mostly lines no reading would accept: straight to the full regex, no split plan first
            slow_rows, slow_rejects = self._parse_regex(view.frame(np.flatnonzero(~ok)), file, split_first=False)
            rejects.append(slow_rejects)
            if slow_rows.height:
                rows = pl.concat([rows, slow_rows]).sort("line")
        return rows, _in_line_order(rejects)

    def _parse_regex(self, lines: pl.DataFrame, file: str,
                     split_first: bool = True) -> tuple[pl.DataFrame, pl.DataFrame]:  # fmt: skip
        extracted = self._extract(lines) if split_first else self._extract_full(lines)
        too_long = extracted.get_column("text").str.len_bytes() > MAX_LINE_BYTES
        matched_mask = extracted.get_column(self._first_group()).is_not_null() & ~too_long
        good = extracted.filter(matched_mask)
        bad = lines.filter(~matched_mask)
        if good.height == 0:  # the usual case for the lines the kernel refused: rejects only
            return self._no_rows(good), self._diagnose(bad, file)
        rows = self._canonical(good, file)
        rows = _unescape(rows, good.get_column("text").str.contains("\\", literal=True).fill_null(False),
                         self.escaping)
        rejects = [self._diagnose(bad, file)]
        no_request = self._missing_request(rows)
        bad_ts = rows.get_column("ts").is_null() & ~no_request
        for mask, reason in ((no_request, "invalid_request"), (bad_ts, "invalid_timestamp")):
            if mask.any():
                rejects.append(_rejects_from(good.filter(mask), file, pl.lit(reason)))
        if no_request.any() or bad_ts.any():
            rows = rows.filter(~(no_request | bad_ts))
        return rows, _in_line_order(rejects)

    def _no_rows(self, extracted: pl.DataFrame) -> pl.DataFrame:
        """The empty rows frame of this format (its extra columns included), built once."""
        if self._empty_rows is None:
            self._empty_rows = self._canonical(extracted.clear(), "")
        return self._empty_rows

    def _missing_request(self, rows: pl.DataFrame) -> pl.Series:
        """Formats that log the request in pieces (JSON templates) write "" for a garbage request."""
        kinds = {f.kind for f in self.fields}
        missing = pl.Series(np.zeros(rows.height, dtype=np.bool_))
        if kinds & {Kind.METHOD, Kind.REQUEST}:
            missing = missing | rows.get_column("method").is_null()
        if kinds & {Kind.TARGET, Kind.PATH, Kind.REQUEST}:
            missing = missing | rows.get_column("path").is_null()
        return missing

    def _chosen(self) -> dict[Kind, tuple[Field, str]]:
        chosen: dict[Kind, tuple[Field, str]] = {}
        for index, group in self._compiled.groups.items():
            field = self.tokens[index]
            assert isinstance(field, Field)
            kind = Kind.TIME_CLF if field.kind in TIME_KINDS else field.kind
            if kind not in chosen or field.priority < chosen[kind][0].priority:
                chosen[kind] = (field, group)
        return chosen

    def _canonical(self, frame: pl.DataFrame, file: str, ready: bool = False) -> pl.DataFrame:
        """Canonical rows from extracted groups; `ready` groups come from the kernel already nulled and typed."""
        chosen = self._chosen()
        exprs = canonical_exprs(chosen, has_absolute_targets(frame, chosen, ready), ready)
        if compiled.TS_COLUMN in frame.columns:
            exprs["ts"] = pl.col(compiled.TS_COLUMN)
        extras = [
            (pl.col(group) if ready else nullify(pl.col(group))).alias(f"x_{f.name}")
            for index, group in self._compiled.groups.items()
            if isinstance(f := self.tokens[index], Field) and f.kind is Kind.EXTRA
        ]
        out = frame.lazy().select(
            *[exprs.get(name, pl.lit(None)).cast(dtype).alias(name) for name, dtype in CANONICAL.items()
              if name not in ("file", "line", "offset")],
            pl.lit(file, dtype=pl.String).alias("file"),
            pl.col("line"),
            pl.col("offset"),
            *extras,
        )
        return out.collect()

    def _diagnose(self, bad: pl.DataFrame, file: str) -> pl.DataFrame:
        """Give each unmatched line the most specific reason we can find."""
        if bad.height == 0:
            return pl.DataFrame(schema=REJECTS)
        text = pl.col("text")
        reason = (
            pl.when(text.is_null()).then(pl.lit("empty"))
            .when(text.str.len_bytes() > MAX_LINE_BYTES).then(pl.lit("line_too_long"))
            .when(text.str.contains(self._compiled.relaxed)).then(pl.lit("invalid_request"))
            .when(text.str.contains(self._compiled.prefix)).then(pl.lit("truncated"))
            .otherwise(pl.lit("no_match"))
        )
        return _rejects_from(bad, file, reason)


def _rejects_from(frame: pl.DataFrame, file: str, reason: pl.Expr) -> pl.DataFrame:
    return frame.select(
        pl.lit(file, dtype=pl.String).alias("file"),
        pl.col("line").cast(pl.UInt64),
        reason.cast(pl.String).alias("reason"),
        pl.col("text").fill_null("").str.slice(0, REJECT_TEXT_LIMIT).alias("text"),
    )


def _in_line_order(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Rejects of one batch, found by different checks, listed as the lines come."""
    present = [part for part in parts if part.height]
    if not present:
        return pl.DataFrame(schema=REJECTS)
    return present[0] if len(present) == 1 else pl.concat(present).sort("line")


def _unescape(rows: pl.DataFrame, marked: pl.Series, escaping: Escaping) -> pl.DataFrame:
    """Decode escapes in the rows whose line has a backslash at all (one scan, instead of one per column)."""
    if not marked.any():
        return rows
    strings = [name for name, dtype in rows.schema.items()
               if (name in _TEXT_COLUMNS or name.startswith("x_")) and dtype == pl.String]
    if not strings:
        return rows
    indices = np.flatnonzero(marked.to_numpy())
    subset = rows.select(strings)[indices]
    # Usually one or two columns hold the backslash: only those are rewritten (found in one query, not one per column).
    holds = subset.select(pl.col(strings).str.contains("\\", literal=True).any()).row(0)
    changed = [rows.get_column(name).scatter(indices, unescape_series(subset.get_column(name), escaping))
               for name, hit in zip(strings, holds, strict=True) if hit]
    return rows.with_columns(changed) if changed else rows


def check_separable(tokens: list[Token], sigil: str) -> None:
    """Two fields with no text between them cannot be split, except a path followed by its `?query`."""
    for left, right in itertools.pairwise(tokens):
        if isinstance(left, Field) and isinstance(right, Field):
            if left.kind is Kind.PATH and right.kind is Kind.QUERY_Q:
                continue
            raise ValueError(
                f"{sigil}{left.name} and {sigil}{right.name} touch with no text between them, so they cannot be split"
            )


def _merge_literals(tokens: list[Token]) -> list[Token]:
    merged: list[Token] = []
    for token in tokens:
        if isinstance(token, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + token
        elif token != "":
            merged.append(token)
    return merged


def _nested_prefix(tokens: list[Token], patterns: list[str]) -> str:
    """A regex matching any proper prefix of a valid line: whole tokens, then part of the next one."""
    alternatives: list[str] = []
    for cut, token in enumerate(tokens):
        head = "".join(_ungroup(p) for p in patterns[:cut])
        if isinstance(token, str):
            partial = "|".join(re.escape(token[:j]) for j in range(len(token)))
        else:
            partial = _ungroup(patterns[cut]) + "|" + r"[^\s]*"
        alternatives.append(f"{head}(?:{partial})")
    return "(?:" + "|".join(alternatives) + ")"


def _ungroup(pattern: str) -> str:
    return re.sub(r"\(\?P<[^>]+>", "(?:", pattern)
