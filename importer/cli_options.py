"""Options shared by every command that turns log lines into events (events, send, load)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import click

from importer.classify import ClassifyOptions
from importer.clientip import ClientIpPolicy, ClientIpPolicyError
from importer.errors import UsageProblem
from importer.pipeline import EventOptions
from importer.sites import SiteConfigError, SiteMap

_EVENT_OPTIONS = [
    click.option("--domain", default=None, metavar="DOMAIN", help="The Plausible site the events belong to."),
    click.option("--domain-map", multiple=True, metavar="HOST=DOMAIN",
                 help="Map a logged host to a site (repeat for each); hosts not mapped are dropped."),
    click.option("--hostname", default=None, metavar="HOST", help="Host for URLs when the log records none."),
    click.option("--scheme", default="https", show_default=True, help="Scheme for URLs when the log records none."),
    click.option("--client-ip", "client_ip", default="remote_addr", show_default=True,
                 metavar="remote_addr|xff|field:NAME", help="Where the visitor's address is."),
    click.option("--trusted-proxy", multiple=True, metavar="CIDR",
                 help="Proxies to skip when reading X-Forwarded-For from the right (repeatable)."),
    click.option("--include-path", multiple=True, metavar="GLOB", help="Count only paths matching (repeatable)."),
    click.option("--exclude-path", multiple=True, metavar="GLOB", help="Never count paths matching (repeatable)."),
    click.option("--exclude-ip", multiple=True, metavar="CIDR", help="Drop visitors from these ranges (repeatable)."),
    click.option("--exclude-ua", multiple=True, metavar="REGEX", help="Drop user agents matching (repeatable)."),
    click.option("--since", type=click.DateTime(), default=None, help="Only lines at or after this time (UTC)."),
    click.option("--until", type=click.DateTime(), default=None, help="Only lines before this time (UTC)."),
    click.option("--count-status", multiple=True, metavar="CODE|RANGE",
                 help="Also count these statuses as page views, e.g. 404 or 4xx (repeatable)."),
    click.option("--track-404", is_flag=True, help="Send 404 pages as Plausible's `404` custom event."),
    click.option("--track-downloads", default="", metavar="EXT,...",
                 help="Send downloads of these file types as `File Download` events, e.g. pdf,zip."),
]


def event_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a click command with the shared event options."""
    for option in reversed(_EVENT_OPTIONS):
        command = option(command)
    return command


EVENT_OPTION_NAMES = (
    "domain", "domain_map", "hostname", "scheme", "client_ip", "trusted_proxy", "include_path", "exclude_path",
    "exclude_ip", "exclude_ua", "since", "until", "count_status", "track_404", "track_downloads",
)


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def build_event_options(values: dict[str, Any]) -> EventOptions:
    """Turn the parsed flag values into EventOptions, with one-line errors for bad values."""
    try:
        sites = SiteMap.build(values["domain"], values["domain_map"], values["hostname"], values["scheme"])
        policy = ClientIpPolicy.parse(values["client_ip"], values["trusted_proxy"])
        classify = ClassifyOptions(
            include_paths=values["include_path"],
            exclude_paths=values["exclude_path"],
            exclude_ips=values["exclude_ip"],
            exclude_ua=values["exclude_ua"],
            since=_utc(values["since"]),
            until=_utc(values["until"]),
            count_status=values["count_status"],
        )
    except (SiteConfigError, ClientIpPolicyError, ValueError) as exc:
        raise UsageProblem(f"{str(exc).rstrip('.')}.") from exc
    downloads = tuple(e.strip().lower().lstrip(".") for e in values["track_downloads"].split(",") if e.strip())
    return EventOptions(sites, classify, policy, values["track_404"], downloads)


def pop_event_values(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the shared event option values out of a command's kwargs."""
    return {name: kwargs.pop(name) for name in EVENT_OPTION_NAMES}
