"""The one error type reports and exports raise: a sentence saying what went wrong and what to do next."""

from __future__ import annotations


class ReportError(Exception):
    """A problem the user can fix (no data, unknown site, bad range); the CLI turns it into a one-line message.

    A plain Exception, not click's, because the library must not import click.
    """
