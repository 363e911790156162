"""Options shared by the commands that read logs: how to read them, and which lines become which events."""

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
from parsers.jsonlines import JsonMapError
from parsers.logzone import DEFAULT_ZONE, UnknownZoneError, set_log_timezone
from parsers.nginx import FormatSyntaxError
from parsers.registry import UnknownFormatError, lookup
from parsers.stream import FormatChoice

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


def _remember_json_map(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """Keep --json-map on the context, so every command taking format_options gets it without a new argument."""
    ctx.meta["plausible_logs.json_map"] = value


def _remember_s3_endpoint(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """Keep --endpoint-url on the context: only expanding s3:// inputs needs it, not the command bodies."""
    ctx.meta["plausible_logs.s3_endpoint"] = value


def s3_endpoint() -> str | None:
    """The --endpoint-url given to the running command (None: boto3 reads AWS_ENDPOINT_URL or uses AWS)."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get("plausible_logs.s3_endpoint")


def _remember_timezone(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """Keep --timezone on the context: format_choice gives it to the formats whose times carry no offset."""
    ctx.meta["plausible_logs.timezone"] = value


def _has_timezone_option(command: Callable[..., Any]) -> bool:
    return any("--timezone" in getattr(p, "opts", ()) for p in getattr(command, "__click_params__", []))


def _use_log_timezone() -> None:
    """Offset-less log times (HAProxy) are read in --timezone: load's site zone, or the reading commands' own."""
    ctx = click.get_current_context(silent=True)
    zone = None if ctx is None else ctx.params.get("site_timezone") or ctx.meta.get("plausible_logs.timezone")
    try:
        set_log_timezone(zone or DEFAULT_ZONE)
    except UnknownZoneError as exc:
        raise UsageProblem(f"{exc}.") from exc


def format_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say how to read the logs, shared by every command that reads them."""
    options = [
        click.option("--format", "format_name", default="auto", show_default=True, metavar="NAME",
                     help="Log format name (see `plausible-logs formats`), or auto to detect it."),
        click.option("--log-format", default=None, metavar="STR", help="An nginx log_format string."),
        click.option("--apache-format", default=None, metavar="STR", help="An Apache LogFormat string."),
        click.option("--json-map", default=None, metavar="MAP", expose_value=False, callback=_remember_json_map,
                     help="Read JSON lines: ts=KEY,client_ip=KEY,uri=KEY,... (dotted JSON paths; ts is required)."),
        click.option("--endpoint-url", default=None, metavar="URL", expose_value=False, callback=_remember_s3_endpoint,
                     help="S3 API endpoint for s3:// inputs on S3-compatible stores (R2, MinIO); "
                          "default: AWS_ENDPOINT_URL, else AWS."),
    ]
    if not _has_timezone_option(command):  # load has its own --timezone (the site's), which serves both
        options.append(click.option(
            "--timezone", default=DEFAULT_ZONE, show_default=True, metavar="TZ", expose_value=False,
            callback=_remember_timezone, help="IANA zone of log times written without an offset (HAProxy)."))
    for option in reversed(options):
        command = option(command)
    return command


def format_choice(
    format_name: str, log_format: str | None, apache_format: str | None, json_map: str | None = None
) -> FormatChoice:
    """Validate the format flags early, so a typo fails before any file is read."""
    if json_map is None and (ctx := click.get_current_context(silent=True)) is not None:
        json_map = ctx.meta.get("plausible_logs.json_map")
    if log_format and apache_format:
        raise UsageProblem("give either --log-format or --apache-format, not both.")
    if json_map and (log_format or apache_format):
        raise UsageProblem("give either --json-map or a format string (--log-format, --apache-format), not both.")
    if not (log_format or apache_format or json_map) and format_name.lower() != "auto":
        try:
            lookup(format_name)
        except UnknownFormatError as exc:
            raise UsageProblem(str(exc)) from exc
    _use_log_timezone()
    choice = FormatChoice(format_name, log_format, apache_format, json_map)
    try:
        choice.build()
    except (FormatSyntaxError, UnknownFormatError, JsonMapError) as exc:
        raise UsageProblem(f"{exc}.") from exc
    return choice
