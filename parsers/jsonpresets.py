"""Field mappings of JSON-lines logs: the ones we know by name (Caddy, Cloudflare, Traefik, Akamai, GCP, Azure,
Fastly) and the ones users give with --json-map.

Each mapping says, per canonical column, which JSON path holds it and how to convert it;
the engine that reads them is parsers.jsonlines.
"""

from __future__ import annotations

from parsers.jsonlines import CONVERTERS, TIME_CONVERTERS, JsonField, JsonLinesFormat, JsonMapError, jf

CADDY = {
    "ts": jf("ts", conv="auto"),
    "client_ip": jf("request.client_ip", "request.remote_ip"),
    "method": jf("request.method"),
    "host": jf("request.host"),
    "uri": jf("request.uri"),
    "protocol": jf("request.proto"),
    "scheme": jf("request.tls.version", conv="tls"),
    "status": jf("status"),
    "bytes": jf("size"),
    "referrer": jf("request.headers.Referer[0]"),
    "user_agent": jf("request.headers.User-Agent[0]"),
    "content_type": jf("resp_headers.Content-Type[0]"),
    "xff": jf("request.headers.X-Forwarded-For[0]"),
    "request_time_ms": jf("duration", conv="seconds"),
}

CLOUDFLARE = {
    "ts": jf("EdgeStartTimestamp", conv="auto"),
    "client_ip": jf("ClientIP"),
    "method": jf("ClientRequestMethod"),
    "host": jf("ClientRequestHost"),
    "uri": jf("ClientRequestURI"),
    "path": jf("ClientRequestPath"),
    "protocol": jf("ClientRequestProtocol"),
    "scheme": jf("ClientRequestScheme", conv="lower"),
    "status": jf("EdgeResponseStatus"),
    "bytes": jf("EdgeResponseBodyBytes", "EdgeResponseBytes"),
    "referrer": jf("ClientRequestReferer"),
    "user_agent": jf("ClientRequestUserAgent"),
    "content_type": jf("EdgeResponseContentType"),
}

TRAEFIK = {
    "ts": jf("StartUTC", "StartLocal", "time", conv="auto"),
    "client_ip": jf("ClientHost"),
    "method": jf("RequestMethod"),
    "host": jf("RequestHost", "RequestAddr"),
    "uri": jf("RequestPath"),
    "protocol": jf("RequestProtocol"),
    "scheme": jf("RequestScheme", conv="lower"),
    "status": jf("DownstreamStatus", "OriginStatus"),
    "bytes": jf("DownstreamContentSize"),
    "referrer": jf("request_Referer"),
    "user_agent": jf("request_User-Agent"),
    "content_type": jf("downstream_Content-Type"),
    "xff": jf("request_X-Forwarded-For"),
    "request_time_ms": jf("Duration", conv="ns"),
}

AKAMAI = {
    "ts": jf("reqTimeSec", conv="epoch_s"),
    "client_ip": jf("cliIP"),
    "method": jf("reqMethod"),
    "host": jf("reqHost"),
    "path": jf("reqPath"),
    "query": jf("queryStr"),
    "scheme": jf("proto", conv="lower"),
    "status": jf("statusCode"),
    "bytes": jf("bytes"),
    "referrer": jf("referer", conv="urldecode"),
    "user_agent": jf("UA", conv="urldecode"),
    "content_type": jf("rspContentType"),
    "xff": jf("xForwardedFor"),
}

GCP = {
    "ts": jf("timestamp", conv="iso"),
    "client_ip": jf("httpRequest.remoteIp"),
    "method": jf("httpRequest.requestMethod"),
    "url": jf("httpRequest.requestUrl"),
    "protocol": jf("httpRequest.protocol"),
    "status": jf("httpRequest.status"),
    "bytes": jf("httpRequest.responseSize"),
    "referrer": jf("httpRequest.referer"),
    "user_agent": jf("httpRequest.userAgent"),
    "request_time_ms": jf("httpRequest.latency", conv="duration"),
}

AZURE_FRONTDOOR = {
    "ts": jf("time", conv="iso"),
    "client_ip": jf("properties.clientIp"),
    "method": jf("properties.httpMethod"),
    "url": jf("properties.requestUri"),
    "host": jf("properties.hostName"),
    "scheme": jf("properties.requestProtocol", conv="lower"),
    "status": jf("properties.httpStatusCode"),
    "bytes": jf("properties.responseBytes"),
    "referrer": jf("properties.referer"),
    "user_agent": jf("properties.userAgent"),
    "request_time_ms": jf("properties.timeTaken", conv="seconds"),
}

FASTLY_JSON = {
    "ts": jf("timestamp", conv="auto"),
    "client_ip": jf("client_ip"),
    "method": jf("request_method"),
    "host": jf("host"),
    "uri": jf("url"),
    "protocol": jf("request_protocol"),
    "scheme": jf("is_tls", conv="bool_https"),
    "status": jf("response_status"),
    "bytes": jf("response_body_size"),
    "referrer": jf("request_referer"),
    "user_agent": jf("request_user_agent"),
    "content_type": jf("content_type"),
}

PRESETS: dict[str, tuple[dict[str, JsonField], tuple[str, ...]]] = {
    "caddy": (CADDY, ("request.method", "request.uri")),
    "cloudflare": (CLOUDFLARE, ("ClientRequestMethod", "ClientRequestURI")),
    "traefik_json": (TRAEFIK, ("RequestMethod", "RequestPath")),
    "akamai": (AKAMAI, ("reqMethod", "reqPath", "cliIP")),
    "gcp": (GCP, ("httpRequest.requestMethod", "httpRequest.requestUrl")),
    "azure_frontdoor": (AZURE_FRONTDOOR, ("properties.httpMethod", "properties.requestUri")),
    "fastly_json": (FASTLY_JSON, ("request_method", "url", "response_status")),
}


def preset(name: str, description: str = "") -> JsonLinesFormat:
    """One of the bundled JSON formats."""
    mapping, required = PRESETS[name]
    return JsonLinesFormat(name, mapping, required, description)


def from_json_map(spec: str, name: str = "json") -> JsonLinesFormat:
    """`ts=time,client_ip=remote_addr,uri=request.uri,...` -> a format.

    The time format is detected per value (epoch s/ms/µs/ns or ISO 8601) unless a converter is
    given after a colon (`ts=time:epoch_ms`); request_time_ms is read as seconds unless `:ms` or `:ns`.
    A field given twice is read from the first path that has a value.
    """
    mapping: dict[str, JsonField] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        target, eq, path = item.partition("=")
        target, path = target.strip(), path.strip()
        if not eq or not path:
            raise JsonMapError(f"--json-map items look like field=json.path, not '{item.strip()}'")
        conv = "auto" if target == "ts" else "seconds" if target == "request_time_ms" else "text"
        head, colon, tail = path.rpartition(":")
        if colon and tail in CONVERTERS:
            path, conv = head, tail
        if target == "ts" and conv not in TIME_CONVERTERS:
            raise JsonMapError(f"ts takes one of the time converters {', '.join(TIME_CONVERTERS)}")
        if target in mapping:
            mapping[target] = JsonField((*mapping[target].paths, path), conv)
        else:
            mapping[target] = JsonField((path,), conv)
    if "ts" not in mapping:
        raise JsonMapError("--json-map needs ts=KEY, the JSON key holding the time")
    if "url" not in mapping and "uri" not in mapping and "path" not in mapping:
        raise JsonMapError("--json-map needs uri=KEY (path?query), path=KEY or url=KEY (a full URL)")
    return JsonLinesFormat(name, mapping, description="JSON lines read with --json-map")
