"""Auto-detection: score every detectable format on a sample of lines.

Exact matches count most; matches that only work with trailing text allowed
(logs whose format appends fields) count next; more specific formats win
ties, so `main` beats `combined` on a log that has the extra field.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from parsers.registry import detectable
from parsers.template import TemplateFormat

SAMPLE_LINES = 200
MIN_CONFIDENCE = 0.5


class DetectionError(ValueError):
    """No format fits the sample well enough, or two fit it equally well."""


@dataclass(frozen=True)
class Score:
    """How well one format fits the sample."""

    name: str
    exact: float
    loose: float
    specificity: int

    @property
    def key(self) -> tuple[float, float, int]:
        return (self.loose, self.exact, self.specificity)


@dataclass(frozen=True)
class Detection:
    """The chosen format, its confidence (share of sample lines it parses) and all scores."""

    format: TemplateFormat
    confidence: float
    scores: list[Score]


def detect(sample: pl.Series, source_name: str) -> Detection:
    """Pick the format that parses most of the sample lines."""
    lines = sample.drop_nulls().head(SAMPLE_LINES)
    if len(lines) == 0:
        raise DetectionError(f"cannot detect the format of '{source_name}': it has no lines. Choose one with --format.")
    built = {info.name: info.build() for info in detectable()}
    scores = []
    for name, fmt in built.items():
        exact, loose = fmt.match_fractions(lines)
        scores.append(Score(name, exact, loose, fmt.specificity))
    scores.sort(key=lambda s: s.key, reverse=True)
    best = scores[0]
    closest = ", ".join(f"{s.name} {s.loose:.0%}" for s in scores[:3])
    if best.loose < MIN_CONFIDENCE:
        raise DetectionError(
            f"cannot detect the format of '{source_name}' (closest: {closest}). "
            "Choose one with --format NAME, or describe it with --log-format or --apache-format."
        )
    if len(scores) > 1 and scores[1].key == best.key:
        raise DetectionError(
            f"the format of '{source_name}' is ambiguous ({closest}). Choose one with --format NAME."
        )
    return Detection(built[best.name], best.loose, scores)
