"""The report as JSON: the exact dict build_report returns, so scripts and browser tests have one source of truth."""

from __future__ import annotations

import json
from typing import Any


def render_json(report: dict[str, Any], *, indent: int | None = 2) -> str:
    """UTF-8 friendly (paths stay readable), newline-terminated for shells."""
    return json.dumps(report, indent=indent, ensure_ascii=False) + "\n"
