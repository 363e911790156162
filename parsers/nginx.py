"""nginx `log_format` strings -> compiled template formats.

Accepts what people paste from nginx.conf: an optional `escape=` parameter,
single-quoted pieces that nginx concatenates, `$var` and `${var}`.
"""

from __future__ import annotations

import re

from parsers.escapes import Escaping
from parsers.fields import Field, Kind
from parsers.template import TemplateFormat, Token, check_separable

COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)
MAIN = COMBINED + ' "$http_x_forwarded_for"'

_VARIABLES: dict[str, tuple[Kind, int]] = {
    "remote_addr": (Kind.CLIENT_IP, 0),
    "binary_remote_addr": (Kind.SKIP, 0),
    "time_local": (Kind.TIME_CLF, 0),
    "time_iso8601": (Kind.TIME_ISO, 0),
    "msec": (Kind.TIME_EPOCH, 1),
    "request": (Kind.REQUEST, 0),
    "request_method": (Kind.METHOD, 0),
    "request_uri": (Kind.TARGET, 0),
    "uri": (Kind.PATH, 1),
    "document_uri": (Kind.PATH, 2),
    "args": (Kind.QUERY, 0),
    "query_string": (Kind.QUERY, 0),
    "server_protocol": (Kind.PROTOCOL, 0),
    "scheme": (Kind.SCHEME, 0),
    "host": (Kind.HOST, 0),
    "http_host": (Kind.HOST, 1),
    "server_name": (Kind.HOST, 2),
    "status": (Kind.STATUS, 0),
    "body_bytes_sent": (Kind.BYTES, 0),
    "bytes_sent": (Kind.BYTES, 1),
    "http_referer": (Kind.REFERRER, 0),
    "http_user_agent": (Kind.USER_AGENT, 0),
    "sent_http_content_type": (Kind.CONTENT_TYPE, 0),
    "http_x_forwarded_for": (Kind.XFF, 0),
    "request_time": (Kind.SECONDS, 0),
    "remote_user": (Kind.SKIP, 0),
    "is_args": (Kind.SKIP, 0),
    "is_args_args": (Kind.QUERY_Q, 0),
}

_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z0-9_]+)\}|(?P<plain>[A-Za-z0-9_]+))")
_ESCAPE = re.compile(r"^\s*escape=(?P<mode>default|json|none)\s+")
_DECLARATION = re.compile(r"^\s*log_format\s+\S+\s+")


class FormatSyntaxError(ValueError):
    """A format string that cannot be understood."""


def _unquote_pieces(text: str) -> str:
    """Join nginx.conf style '...' '...' pieces; a plain string is returned as it is."""
    stripped = text.strip().rstrip(";").strip()
    pieces = re.findall(r"'((?:[^'\\]|\\.)*)'", stripped)
    if pieces and re.fullmatch(r"(?:\s*'(?:[^'\\]|\\.)*'\s*)+", stripped):
        return "".join(pieces)
    return text


def field_for(name: str) -> Field:
    """The field a variable fills; unknown variables are kept as extra columns."""
    kind, priority = _VARIABLES.get(name, (Kind.EXTRA, 0))
    if kind is Kind.EXTRA and not name.startswith(("http_", "sent_http_", "upstream_", "realip_", "proxy_")):
        return Field(Kind.EXTRA, name, priority)
    return Field(kind, name, priority)


def tokenize(template: str) -> list[Token]:
    """Split a template into literal text and fields."""
    tokens: list[Token] = []
    position = 0
    for match in _VARIABLE.finditer(template):
        tokens.append(template[position : match.start()])
        tokens.append(field_for(match["braced"] or match["plain"]))
        position = match.end()
    tokens.append(template[position:])
    return [t for t in tokens if t != ""]


def compile_log_format(spec: str, name: str = "nginx") -> TemplateFormat:
    """Compile an nginx log_format string (with optional `escape=` prefix)."""
    text = _DECLARATION.sub("", spec)
    escaping = Escaping.CLF
    found = _ESCAPE.match(text)
    if found:
        escaping = {"default": Escaping.CLF, "json": Escaping.JSON, "none": Escaping.NONE}[found["mode"]]
        text = text[found.end() :]
    text = _unquote_pieces(text)
    if "$" not in text:
        raise FormatSyntaxError("the log format has no $variables; pass the log_format string from nginx.conf")
    tokens = tokenize(text.replace("$is_args$args", "$is_args_args"))
    try:
        check_separable(tokens, "$")
        return TemplateFormat(name, tokens, escaping, description="nginx log_format", template=spec)
    except ValueError as exc:
        raise FormatSyntaxError(str(exc)) from exc

