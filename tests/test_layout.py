"""House rules that keep the layout honest: parsers/ never imports importer/, the top level is complete."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_parsers_never_import_importer_click_or_http() -> None:
    offenders = []
    for path in sorted((ROOT / "parsers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in ("importer", "click", "aiohttp", "httpx"):
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_required_top_level_layout() -> None:
    for name in ("pyproject.toml", "importer", "parsers", "tests", "sample_logs", "README.md", ".ci/run", "bench"):
        assert (ROOT / name).exists(), name
