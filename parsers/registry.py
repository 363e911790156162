"""The ordered registry of named log formats.

A format is a small declarative object: a name, a one-line description, an
example line and how to build its parser. Lookups of unknown names fail
with the list of names a user can pick from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from parsers import alb, apache, bunny, cloudfront_json, elb, haproxy, jsonpresets, nginx, s3access, w3c
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


def _json(name: str, description: str) -> Callable[[], TemplateFormat]:
    return lambda: jsonpresets.preset(name, description)  # type: ignore[return-value]


# Traefik's CLF: %{...}e are fields it writes that have no canonical column.
TRAEFIK_CLF = (
    '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %{RequestCount}e "%{RouterName}e" "%{ServiceURL}e" %{ms}Tms'
)
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
        "cloudfront",
        w3c.CLOUDFRONT.description,
        "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status ... (TAB-separated)",
        w3c.cloudfront,
    ),
    FormatInfo(
        "cloudfront_json",
        "Amazon CloudFront standard logging v2, JSON output (W3C field names as keys, string values)",
        '{"date":"2024-03-05","time":"13:22:07","c-ip":"203.0.113.42","cs-method":"GET","x-host-header":'
        '"www.example.com","cs-uri-stem":"/blog/","sc-status":"200","cs(User-Agent)":"Mozilla/5.0%20(X11)"}',
        lambda: cloudfront_json.cloudfront_json("Amazon CloudFront standard logging v2 JSON"),
    ),
    FormatInfo(
        "iis",
        w3c.IIS.description,
        "2024-03-05 13:22:07 10.0.0.4 GET /pricing plan=pro 443 - 203.0.113.42 Mozilla/5.0+(X11) - 200 0 0 46",
        w3c.iis,
    ),
    FormatInfo(
        "cloudfront_realtime",
        w3c.CLOUDFRONT_REALTIME.description,
        "1709644927.123 203.0.113.42 0.002 200 5821 GET https d1.cloudfront.net /pricing?plan=pro ... (TABs)",
        w3c.cloudfront_realtime,
    ),
    FormatInfo(
        "alb",
        alb.ALBFormat.description,
        'h2 2024-03-05T13:22:07.123456Z app/web/50dc6c 203.0.113.42:52114 10.0.1.17:8080 0.000 0.012 0.000 200 200 '
        '512 8321 "GET https://www.example.com:443/pricing HTTP/2.0" "Mozilla/5.0 (X11)" ...',
        alb.alb,
    ),
    FormatInfo(
        "elb_classic",
        elb.ELBClassicFormat.description,
        '2024-03-05T13:22:07.123456Z web-elb 203.0.113.42:52114 10.0.1.17:80 0.000042 0.012001 0.000031 200 200 0 '
        '8321 "GET https://www.example.com:443/pricing HTTP/1.1" "Mozilla/5.0 (X11)" ECDHE-RSA-AES128-SHA TLSv1.2',
        elb.elb_classic,
    ),
    FormatInfo(
        "s3",
        s3access.S3AccessFormat.description,
        '79a59df9... www.example.com [05/Mar/2024:13:22:07 +0000] 203.0.113.42 - 3E57427F3EXAMPLE WEBSITE.GET.OBJECT '
        'index.html "GET / HTTP/1.1" 200 - 5821 5821 12 11 "-" "Mozilla/5.0 (X11)" - ... www.example.com TLSv1.3',
        s3access.s3,
    ),
    FormatInfo(
        "haproxy",
        haproxy.HAProxyFormat.description,
        "203.0.113.42:52114 [05/Mar/2024:14:22:07.123] https-in~ web/web1 0/0/1/11/12 200 8321 - - ---- 12/12/3/1/0 "
        '0/0 {www.example.com|Mozilla/5.0 (X11)|https://www.example.org/} "GET /pricing?plan=pro HTTP/1.1"',
        haproxy.haproxy,
    ),
    FormatInfo(
        "bunny",
        bunny.BunnyFormat.description,
        "HIT|200|1709644927123|8123|123456|203.0.113.0|-|https://cdn.example.com/blog/|DE|Mozilla/5.0 (X11)|4b1c|DE",
        bunny.bunny,
    ),
    FormatInfo(
        "traefik",
        "Traefik access log, default CLF: combined + RequestCount \"router\" \"service URL\" duration ms",
        f'203.0.113.42 - - {_EXAMPLE_REQUEST} {_EXAMPLE_AGENTS} 1523 "web@docker" "http://172.18.0.5:8080" 12ms',
        _apache("traefik", TRAEFIK_CLF),
    ),
    FormatInfo(
        "caddy",
        "Caddy v2 JSON access log (ts float seconds, request.headers arrays)",
        '{"level":"info","ts":1709644927.123,"logger":"http.log.access","msg":"handled request",'
        '"request":{"remote_ip":"203.0.113.42","method":"GET","host":"www.example.com","uri":"/blog/"},"status":200}',
        _json("caddy", "Caddy v2 JSON access log"),
    ),
    FormatInfo(
        "cloudflare",
        "Cloudflare Logpush http_requests NDJSON (EdgeStartTimestamp unixnano, unix or RFC 3339)",
        '{"ClientIP":"203.0.113.42","ClientRequestHost":"www.example.com","ClientRequestMethod":"GET",'
        '"ClientRequestURI":"/blog/?utm_source=news","EdgeResponseStatus":200,"EdgeStartTimestamp":1709644927123000000}',
        _json("cloudflare", "Cloudflare Logpush http_requests"),
    ),
    FormatInfo(
        "traefik_json",
        "Traefik access log with format: json (StartUTC, RequestPath with query, request_* headers if kept)",
        '{"ClientHost":"203.0.113.42","RequestMethod":"GET","RequestHost":"www.example.com","RequestPath":"/blog/",'
        '"DownstreamStatus":200,"StartUTC":"2024-03-05T13:22:07.123456789Z"}',
        _json("traefik_json", "Traefik JSON access log"),
    ),
    FormatInfo(
        "akamai",
        "Akamai DataStream 2 JSON (reqTimeSec, URL-encoded UA and referer)",
        '{"reqTimeSec":"1709644927","cliIP":"203.0.113.42","reqMethod":"GET","reqHost":"www.example.com",'
        '"reqPath":"/blog/","queryStr":"utm_source=news","statusCode":"200","UA":"Mozilla%2F5.0+%28X11%29"}',
        _json("akamai", "Akamai DataStream 2 JSON"),
    ),
    FormatInfo(
        "gcp",
        "Google Cloud external Application Load Balancer / Cloud CDN LogEntry JSON (httpRequest.*)",
        '{"httpRequest":{"requestMethod":"GET","requestUrl":"https://www.example.com/blog/","status":200,'
        '"remoteIp":"203.0.113.42"},"timestamp":"2024-03-05T13:22:07.123456Z"}',
        _json("gcp", "Google Cloud load balancer request log"),
    ),
    FormatInfo(
        "azure_frontdoor",
        "Azure Front Door Standard/Premium FrontDoorAccessLog JSON lines (properties.requestUri)",
        '{"time":"2024-03-05T13:22:07.1234567Z","category":"FrontDoorAccessLog","properties":{"httpMethod":"GET",'
        '"requestUri":"https://www.example.com:443/blog/","clientIp":"203.0.113.42","httpStatusCode":"200"}}',
        _json("azure_frontdoor", "Azure Front Door access log"),
    ),
    FormatInfo(
        "fastly_json",
        "Fastly real-time log streaming, the documented JSON format (timestamp, url, request_method, ...)",
        '{"timestamp":"2024-03-05T13:22:07+0000","client_ip":"203.0.113.42","host":"www.example.com",'
        '"url":"/blog/","request_method":"GET","response_status":200}',
        _json("fastly_json", "Fastly JSON log"),
    ),
    FormatInfo(
        "json",
        "any JSON-lines log, given with --json-map ts=KEY,client_ip=KEY,uri=KEY,... (dotted JSON paths)",
        "--json-map ts=time,client_ip=remote_addr,method=method,uri=uri,status=status,user_agent=ua",
        lambda: (_ for _ in ()).throw(UnknownFormatError("the json format needs --json-map ts=KEY,uri=KEY,...")),
        detectable=False,
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
# Fastly's default log format is CLF exactly, so it is read (and detected) as `common`.
ALIASES = {
    "ncsa_extended": "combined", "clf": "common", "vhost_common": "common_vhost", "fastly": "common",
    "cloudfront_v2": "cloudfront_json", "elb": "elb_classic",
}


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
