"""Auto-detection: score every detectable format on a sample of lines.

Lines may carry text after the format's last field (logs whose format appends
fields, or junk), so a format scores the share of lines it parses with that
allowed; among near-equal scores the most specific format wins, so `main`
beats `combined` and `combined` beats `common` on the logs they describe.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from parsers.registry import detectable
from parsers.template import TemplateFormat

SAMPLE_LINES = 200
MIN_CONFIDENCE = 0.5
TOLERANCE = 0.05


class DetectionError(ValueError):
    """No format fits the sample well enough, or two fit it equally well."""


@dataclass(frozen=True)
class Score:
    """How well one format fits the sample."""

    name: str
    exact: float
    loose: float
    specificity: int


@dataclass(frozen=True)
class Detection:
    """The chosen format, its confidence (share of sample lines it parses) and all scores."""

    format: TemplateFormat
    confidence: float
    scores: list[Score]


SAME_AS_BEFORE = 0.99  # the previous file's format keeps the next file when it reads this share of it exactly


class Detector:
    """Detection for one run: every format built once, and a file like the previous one keeps its format.

    CloudFront and S3 deliveries are thousands of small files of one format; scoring every
    format on each of them cost more than parsing them. A file the previous file's format
    reads exactly (nothing left over on 99% of the sample) keeps it: a more specific format
    would need more fields than those lines have, so the full scoring would pick it too.
    """

    def __init__(self) -> None:
        self._built: dict[str, TemplateFormat] | None = None
        self._previous: str | None = None

    def detect(self, sample: pl.Series, source_name: str) -> Detection:
        """Pick the format that parses most of the sample lines (a fresh reader for this source)."""
        lines = sample.drop_nulls().head(SAMPLE_LINES)
        if len(lines) == 0:
            raise DetectionError(
                f"cannot detect the format of '{source_name}': it has no lines. Choose one with --format."
            )
        if self._built is None:
            self._built = {info.name: info.build() for info in detectable()}
        if self._previous is not None:
            fmt = self._built[self._previous]
            exact, loose = fmt.match_fractions(lines)
            if min(exact, loose) >= SAME_AS_BEFORE:
                return Detection(_fresh(fmt), loose, [Score(self._previous, exact, loose, fmt.specificity)])
        detection = _score(lines, source_name, self._built)
        self._previous = detection.scores[0].name
        return Detection(_fresh(detection.format), detection.confidence, detection.scores)


def detect(sample: pl.Series, source_name: str) -> Detection:
    """Pick the format that parses most of the sample lines."""
    return Detector().detect(sample, source_name)


def _fresh(fmt: TemplateFormat) -> TemplateFormat:
    """Header-driven readers keep per-source state: each source gets its own."""
    return fmt.fresh() if hasattr(fmt, "fresh") else fmt  # type: ignore[no-any-return]


def _score(lines: pl.Series, source_name: str, built: dict[str, TemplateFormat]) -> Detection:
    scores = []
    for name, fmt in built.items():
        exact, loose = fmt.match_fractions(lines)
        scores.append(Score(name, exact, loose, fmt.specificity))
    scores.sort(key=lambda s: s.loose, reverse=True)
    closest = ", ".join(f"{s.name} {s.loose:.0%}" for s in scores[:3])
    if scores[0].loose < MIN_CONFIDENCE:
        raise DetectionError(
            f"cannot detect the format of '{source_name}' (closest: {closest}). "
            "Choose one with --format NAME, or describe it with --log-format or --apache-format."
        )
    # A format with fewer fields also fits lines that carry more (trailing text is allowed), so
    # among the formats that parse about as many lines as the best, the most specific wins.
    contenders = [s for s in scores if s.loose >= scores[0].loose - TOLERANCE]
    contenders.sort(key=lambda s: (s.specificity, s.exact, s.loose), reverse=True)
    best = contenders[0]
    if len(contenders) > 1 and (contenders[1].specificity, contenders[1].exact) == (best.specificity, best.exact):
        raise DetectionError(
            f"the format of '{source_name}' is ambiguous ({closest}). Choose one with --format NAME."
        )
    scores = [best] + [s for s in scores if s is not best]
    return Detection(built[best.name], best.loose, scores)
