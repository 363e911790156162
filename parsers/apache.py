"""Apache httpd `LogFormat` strings -> compiled template formats."""

from __future__ import annotations

import re

from parsers.escapes import Escaping
from parsers.fields import Field, Kind
from parsers.nginx import FormatSyntaxError
from parsers.template import TemplateFormat, Token, check_separable

COMMON = '%h %l %u %t "%r" %>s %b'
COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"'
VHOST_COMBINED = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'
COMMON_VHOST = '%v %h %l %u %t "%r" %>s %b'

_DIRECTIVE = re.compile(r"%(?P<cond>!?[0-9,]+)?(?P<mod>[<>])?(?:\{(?P<arg>[^}]*)\})?(?P<letter>[A-Za-z%])")

_SIMPLE: dict[str, tuple[Kind, int]] = {
    "h": (Kind.CLIENT_IP, 1),
    "a": (Kind.CLIENT_IP, 0),
    "l": (Kind.SKIP, 0),
    "u": (Kind.SKIP, 0),
    "t": (Kind.TIME_CLF, 0),
    "r": (Kind.REQUEST, 0),
    "m": (Kind.METHOD, 0),
    "U": (Kind.PATH, 0),
    "q": (Kind.QUERY_Q, 0),
    "H": (Kind.PROTOCOL, 0),
    "s": (Kind.STATUS, 1),
    "b": (Kind.BYTES, 0),
    "B": (Kind.BYTES, 0),
    "O": (Kind.BYTES, 2),
    "D": (Kind.MICROS, 0),
    "T": (Kind.SECONDS, 1),
    "v": (Kind.HOST, 2),
    "V": (Kind.HOST, 1),
}

_REQUEST_HEADERS: dict[str, tuple[Kind, int]] = {
    "referer": (Kind.REFERRER, 0),
    "user-agent": (Kind.USER_AGENT, 0),
    "x-forwarded-for": (Kind.XFF, 0),
    "host": (Kind.HOST, 0),
    "x-forwarded-proto": (Kind.SCHEME, 0),
}


def _time_field(arg: str) -> Field:
    fmt = arg
    for prefix in ("begin:", "end:"):
        fmt = fmt.removeprefix(prefix)
    if fmt in ("sec",):
        return Field(Kind.TIME_EPOCH, "t")
    if fmt in ("msec",):
        return Field(Kind.TIME_EPOCH_MS, "t")
    if fmt in ("usec", "msec_frac", "usec_frac"):
        raise FormatSyntaxError(f"%{{{arg}}}t is not supported as the only time field; log %t or %{{sec}}t too")
    if not fmt:
        return Field(Kind.TIME_CLF, "t")
    return Field(Kind.TIME_STRFTIME, "t", arg=fmt)


def field_for(letter: str, arg: str | None, modifier: str | None) -> Field:
    """The field one `%` directive fills."""
    if letter == "i" and arg is not None:
        kind, priority = _REQUEST_HEADERS.get(arg.lower(), (Kind.EXTRA, 0))
        name = "http_" + arg.lower().replace("-", "_")
        return Field(kind, name, priority)
    if letter == "o" and arg is not None:
        name = "sent_http_" + arg.lower().replace("-", "_")
        return Field(Kind.CONTENT_TYPE if arg.lower() == "content-type" else Kind.EXTRA, name)
    if letter == "t":
        return _time_field(arg or "")
    if letter == "T" and arg in ("ms", "us", "s"):
        return Field({"ms": Kind.MILLIS, "us": Kind.MICROS, "s": Kind.SECONDS}[arg], "T")
    if letter == "s":
        return Field(Kind.STATUS, "status", 0 if modifier == ">" else 1)
    kind, priority = _SIMPLE.get(letter, (Kind.SKIP, 0))
    return Field(kind, letter, priority)


def _unescape_config(spec: str) -> str:
    """Undo the escaping of a LogFormat string as written in httpd.conf (\\" and \\t)."""
    text = spec.strip()
    if text.startswith('"') and text.endswith('"') and len(text) > 1:
        text = text[1:-1]
    return text.replace('\\"', '"').replace("\\t", "\t").replace("\\n", "\n")


def tokenize(spec: str) -> list[Token]:
    """Split a LogFormat string into literal text and fields."""
    text = _unescape_config(spec)
    tokens: list[Token] = []
    position = 0
    for match in _DIRECTIVE.finditer(text):
        tokens.append(text[position : match.start()])
        if match["letter"] == "%":
            tokens.append("%")
        elif match["letter"] == "t" and not match["arg"]:
            tokens.extend(["[", field_for("t", None, None), "]"])  # plain %t writes its own brackets
        else:
            tokens.append(field_for(match["letter"], match["arg"], match["mod"]))
        position = match.end()
    tokens.append(text[position:])
    return [t for t in tokens if t != ""]


def compile_apache_format(spec: str, name: str = "apache") -> TemplateFormat:
    """Compile an Apache LogFormat string."""
    if "%" not in spec:
        raise FormatSyntaxError("the Apache format has no % directives; pass the LogFormat string from httpd.conf")
    tokens = tokenize(spec)
    try:
        check_separable(tokens, "%")
        return TemplateFormat(name, tokens, Escaping.CLF, description="Apache LogFormat", template=spec)
    except ValueError as exc:
        raise FormatSyntaxError(str(exc)) from exc
