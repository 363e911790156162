"""The time zone of log times written without a UTC offset (HAProxy's accept date).

Such a time means nothing until someone says where the server's clock was, so the
command line sets the zone once per run (`--timezone`, default UTC) and the formats
that need it read it when they are built, before any batch is parsed.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "UTC"
_zone = DEFAULT_ZONE


class UnknownZoneError(ValueError):
    """A time zone name the tz database does not know."""


def check_zone(name: str) -> str:
    """The name, if it is an IANA zone; otherwise a one-line error that says what to give."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownZoneError(f"unknown time zone '{name}'; use an IANA name such as Europe/Berlin or UTC") from exc
    return name


def set_log_timezone(name: str) -> None:
    """Say which zone offset-less log times are in, for the formats built from now on."""
    global _zone
    _zone = check_zone(name)


def log_timezone() -> str:
    """The zone offset-less log times are read in."""
    return _zone
