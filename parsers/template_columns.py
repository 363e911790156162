"""How a template's captured groups become canonical columns: one polars expression per column.

The chosen field of each kind (the lowest priority wins, e.g. `%>s` over `%s`) is mapped onto the
canonical table; the request target is split into path and query, and absolute-form targets
(`GET http://host/path`) also give scheme and host.
"""

from __future__ import annotations

import polars as pl

from parsers.compiled import PATH_SUFFIX, QUERY_SUFFIX
from parsers.fields import Field, Kind, time_expr
from parsers.fields import nullify as _nullify


def has_absolute_targets(frame: pl.DataFrame, chosen: dict[Kind, tuple[Field, str]], ready: bool = False) -> bool:
    """Absolute-form targets (`GET http://host/path`) are rare; skip their regex when a batch has none.

    The kernel (`ready`) leaves requests with an absolute target to the regex engine.
    """
    if Kind.TARGET in chosen:
        column = chosen[Kind.TARGET][1]
    elif Kind.REQUEST in chosen and not ready:
        column = f"{chosen[Kind.REQUEST][1]}_t"
    else:
        return False
    return bool(frame.get_column(column).str.starts_with("http").any())


def canonical_exprs(
    chosen: dict[Kind, tuple[Field, str]], absolute_targets: bool, ready: bool = False
) -> dict[str, pl.Expr]:
    """Map the chosen field groups onto canonical column expressions.

    `ready` groups come from the compiled kernel: `-` and empty values already null, status and
    bytes already integers, and a request's target already split into `_path` and `_query`.
    """
    exprs: dict[str, pl.Expr] = {}
    nullify = _already_null if ready else _nullify

    def col(kind: Kind) -> pl.Expr | None:
        return pl.col(chosen[kind][1]) if kind in chosen else None

    if Kind.TIME_CLF in chosen:
        field, group = chosen[Kind.TIME_CLF]
        exprs["ts"] = time_expr(field, pl.col(group))
    request = chosen.get(Kind.REQUEST)
    method = pl.col(f"{request[1]}_m") if request else None
    target = pl.col(f"{request[1]}_t") if request and not ready else None
    protocol = pl.col(f"{request[1]}_p") if request else None
    method = col(Kind.METHOD) if Kind.METHOD in chosen else method
    target = col(Kind.TARGET) if Kind.TARGET in chosen else target
    protocol = col(Kind.PROTOCOL) if Kind.PROTOCOL in chosen else protocol
    if method is not None:
        exprs["method"] = nullify(method)
    if protocol is not None:
        exprs["protocol"] = nullify(protocol)
    if request and ready:
        exprs["path"] = pl.col(f"{request[1]}{PATH_SUFFIX}")
        exprs["query"] = pl.col(f"{request[1]}{QUERY_SUFFIX}")
    exprs.update(_target_exprs(target, col(Kind.PATH), col(Kind.QUERY), col(Kind.QUERY_Q), absolute_targets))
    absolute = exprs.pop("_absolute", None)
    for kind, name in ((Kind.CLIENT_IP, "client_ip"), (Kind.REFERRER, "referrer"), (Kind.USER_AGENT, "user_agent"),
                       (Kind.CONTENT_TYPE, "content_type"), (Kind.XFF, "xff")):
        if (c := col(kind)) is not None:
            exprs[name] = nullify(c)
    host = col(Kind.HOST)
    host_expr = nullify(host).str.to_lowercase().str.replace(r":\d+$", "").str.strip_chars("[]") if host is not None \
        else None
    scheme = nullify(col(Kind.SCHEME)).str.to_lowercase() if Kind.SCHEME in chosen else None
    if absolute is not None:
        abs_scheme = absolute.struct.field("scheme")
        abs_host = absolute.struct.field("host").str.to_lowercase().str.replace(r":\d+$", "")
        host_expr = abs_host if host_expr is None else pl.coalesce(host_expr, abs_host)
        scheme = abs_scheme if scheme is None else pl.coalesce(scheme, abs_scheme)
    if host_expr is not None:
        exprs["host"] = host_expr
    if scheme is not None:
        exprs["scheme"] = scheme
    if (c := col(Kind.STATUS)) is not None:
        exprs["status"] = c if ready else c.cast(pl.UInt16, strict=False)
    if (c := col(Kind.BYTES)) is not None:
        exprs["bytes"] = c if ready else _nullify(c).cast(pl.UInt64, strict=False)
    for kind, scale in ((Kind.SECONDS, 1000.0), (Kind.MILLIS, 1.0), (Kind.MICROS, 0.001)):
        if (c := col(kind)) is not None:
            exprs["request_time_ms"] = nullify(c).cast(pl.Float64, strict=False) * scale
            break
    return exprs


_ABSOLUTE = r"^(?P<scheme>https?)://(?P<host>[^/?#]*)(?P<rest>.*)$"


def _target_exprs(
    target: pl.Expr | None,
    path: pl.Expr | None,
    query: pl.Expr | None,
    query_q: pl.Expr | None,
    absolute_targets: bool,
) -> dict[str, pl.Expr]:
    """Split a request target into path and query; absolute-form targets also give scheme and host."""
    exprs: dict[str, pl.Expr] = {}
    if target is not None and not absolute_targets:
        split = target.str.splitn("?", 2)
        exprs["path"] = _nullify(split.struct.field("field_0"))
        exprs["query"] = _nullify(split.struct.field("field_1"))
    elif target is not None:
        absolute = target.str.extract_groups(_ABSOLUTE)
        is_absolute = target.str.starts_with("http://") | target.str.starts_with("https://")
        rest = absolute.struct.field("rest")
        relative = pl.when(is_absolute).then(pl.when(rest == "").then(pl.lit("/")).otherwise(rest)).otherwise(target)
        exprs["_absolute"] = pl.when(is_absolute).then(absolute)
        split = relative.str.splitn("?", 2)
        exprs["path"] = _nullify(split.struct.field("field_0"))
        exprs["query"] = _nullify(split.struct.field("field_1"))
    if path is not None:
        exprs["path"] = _nullify(path)
    if query is not None:
        exprs["query"] = _nullify(query)
    if query_q is not None:
        exprs["query"] = _nullify(query_q.str.strip_prefix("?"))
    return exprs


def _already_null(column: pl.Expr) -> pl.Expr:
    return column
