"""A TOML config file whose keys are the long option names, so flags can live in a file.

Top-level keys apply to every command; a table named after a command
(`[load]`, `[send]`) applies to that command only. Flags given on the
command line always win, because the file only fills click's defaults.

    format = "combined"
    domain = "example.com"
    trusted_proxy = ["198.51.100.0/24"]

    [domain_map]
    "blog.example.com" = "example.com"

    [load]
    db = "analytics.duckdb"
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class ConfigError(ValueError):
    """A config file that cannot be read or names unknown options."""


_SHARED_RENAMED = {"format": "format_name"}  # at the top level, `format` is the log format every command reads


def _parameter_names(command: click.Command) -> dict[str, str]:
    """A command's long option names, as keys in the file (`db`, `key_file`), to its parameter names."""
    names: dict[str, str] = {}
    for param in command.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--") and param.name:
                names[opt[2:].replace("-", "_")] = param.name
    return names


def _option_values(table: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in table.items():
        plain = key.replace("-", "_")
        name = names.get(plain, plain)
        if name == "domain_map" and isinstance(value, dict):
            value = tuple(f"{host}={domain}" for host, domain in value.items())
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return values


def load_config(path: str, commands: dict[str, click.Command]) -> dict[str, dict[str, Any]]:
    """click default_map for every command from the file.

    Keys are long option names; in a command's table they are that command's own (`[report]
    format = "json"` is report's output format), at the top level `format` is the log format.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc}") from exc
    shared = {k: v for k, v in data.items() if not (k in commands and isinstance(v, dict))}
    defaults = {}
    for name, command in commands.items():
        section = data.get(name, {})
        names = _parameter_names(command)
        shared_names = {**names, **_SHARED_RENAMED}
        defaults[name] = {**_option_values(shared, shared_names),
                          **_option_values(section if isinstance(section, dict) else {}, names)}
    return defaults
