"""User-facing errors: one line, what went wrong and what to do, exit code 2."""

from __future__ import annotations

import click


class UsageProblem(click.ClickException):
    """A bad flag value, unknown format or missing input: exit 2 like click's own usage errors."""

    exit_code = 2
