"""The ordered registry of named log formats.

A format is a small declarative object: a name, a one-line description, an
example line and how to build its parser. Lookups of unknown names fail
with the list of names a user can pick from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from parsers import apache, nginx
from parsers.template import TemplateFormat


class UnknownFormatError(ValueError):
    """A format name that is not in the registry."""


@dataclass(frozen=True)
class FormatInfo:
    """One registry entry."""

    name: str
    description: str
    example: str
    build: Callable[[], TemplateFormat]
    detectable: bool = True


def _nginx(name: str, template: str) -> Callable[[], TemplateFormat]:
    return lambda: nginx.compile_log_format(template, name=name)


def _apache(name: str, template: str) -> Callable[[], TemplateFormat]:
    return lambda: apache.compile_apache_format(template, name=name)


_EXAMPLE_REQUEST = '[05/Mar/2024:14:22:07 +0100] "GET /blog/?utm_source=news HTTP/2.0" 200 5123'
_EXAMPLE_AGENTS = '"https://www.example.org/" "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"'

FORMATS: tuple[FormatInfo, ...] = (
    FormatInfo(
        "combined",
        "nginx and Apache `combined` (NCSA extended): the default of most servers",
        f"203.0.113.42 - - {_EXAMPLE_REQUEST} {_EXAMPLE_AGENTS}",
        _nginx("combined", nginx.COMBINED),
    ),
    FormatInfo(
        "main",
        "nginx `main` of the official Docker image: combined + \"$http_x_forwarded_for\"",
        f'198.51.100.4 - - {_EXAMPLE_REQUEST} {_EXAMPLE_AGENTS} "203.0.113.42"',
        _nginx("main", nginx.MAIN),
    ),
    FormatInfo(
        "common",
        "Apache/NCSA `common` (CLF): no referrer or user agent",
        f"203.0.113.42 - alice {_EXAMPLE_REQUEST}",
        _apache("common", apache.COMMON),
    ),
    FormatInfo(
        "vhost_combined",
        "Apache (Debian/Ubuntu) `vhost_combined`: %v:%p before combined",
        f"www.example.com:443 203.0.113.42 - - {_EXAMPLE_REQUEST} {_EXAMPLE_AGENTS}",
        _apache("vhost_combined", apache.VHOST_COMBINED),
    ),
    FormatInfo(
        "common_vhost",
        "Apache `vhost_common`: %v before common",
        f"www.example.com 203.0.113.42 - - {_EXAMPLE_REQUEST}",
        _apache("common_vhost", apache.COMMON_VHOST),
    ),
    FormatInfo(
        "nginx",
        "any nginx log_format string, given with --log-format '...' (escape=json templates too)",
        "--log-format '$host $remote_addr [$time_local] \"$request\" $status'",
        lambda: (_ for _ in ()).throw(UnknownFormatError("the nginx format needs --log-format '...'")),
        detectable=False,
    ),
    FormatInfo(
        "apache",
        "any Apache LogFormat string, given with --apache-format '...'",
        "--apache-format '%h %l %u %t \"%r\" %>s %b'",
        lambda: (_ for _ in ()).throw(UnknownFormatError("the apache format needs --apache-format '...'")),
        detectable=False,
    ),
)

_BY_NAME = {f.name: f for f in FORMATS}
ALIASES = {"ncsa_extended": "combined", "clf": "common", "vhost_common": "common_vhost"}


def names() -> list[str]:
    """Every format name, in registry order."""
    return [f.name for f in FORMATS]


def lookup(name: str) -> FormatInfo:
    """Find a format by name or alias, or fail with the names to choose from."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in _BY_NAME:
        raise UnknownFormatError(f"unknown format '{name}'. Try one of: {', '.join(['auto', *names()])}.")
    return _BY_NAME[key]


def detectable() -> list[FormatInfo]:
    """The formats auto-detection scores."""
    return [f for f in FORMATS if f.detectable]
