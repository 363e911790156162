"""Which Plausible site (domain) a row belongs to, and the host and scheme of its URL.

One site: `--domain`. Many hosts in one log (vhost or CDN logs): a host ->
domain map; hosts it does not name are dropped as `excluded_host`. A leading
`www.` is ignored when matching, as Plausible strips it from domains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl


class SiteConfigError(ValueError):
    """Domain options that cannot be used together or cannot be read."""


def strip_www(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


@dataclass(frozen=True)
class SiteMap:
    """Domain resolution and URL defaults."""

    domain: str | None = None
    host_map: dict[str, str] = field(default_factory=dict)
    hostname: str | None = None  # host for logs that do not record one
    scheme: str = "https"  # scheme for logs that do not record one

    @classmethod
    def build(
        cls, domain: str | None, pairs: tuple[str, ...], hostname: str | None, scheme: str
    ) -> SiteMap:
        mapping: dict[str, str] = {}
        for pair in pairs:
            host, sep, target = pair.partition("=")
            if not sep or not host.strip() or not target.strip():
                raise SiteConfigError(
                    f"--domain-map '{pair}' must look like HOST=DOMAIN (e.g. blog.example.com=example.com)"
                )
            mapping[strip_www(host)] = strip_www(target)
        if domain is None and not mapping:
            raise SiteConfigError(
                "say which Plausible site the events belong to: --domain example.com (or --domain-map)"
            )
        if scheme not in ("http", "https"):
            raise SiteConfigError(f"--scheme must be http or https, not '{scheme}'")
        return cls(strip_www(domain) if domain else None, mapping, hostname.lower() if hostname else None, scheme)

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Add url_host, url_scheme and domain (null where the host maps to no site)."""
        fallback_host = self.hostname or self.domain
        host = pl.col("host").fill_null(pl.lit(fallback_host, dtype=pl.String))
        frame = frame.with_columns(
            host.alias("url_host"),
            pl.col("scheme").fill_null(pl.lit(self.scheme)).alias("url_scheme"),
        )
        if not self.host_map:
            return frame.with_columns(pl.lit(self.domain, dtype=pl.String).alias("domain"))
        key = pl.col("url_host").str.to_lowercase().str.strip_prefix("www.")
        mapped = key.replace_strict(self.host_map, default=pl.lit(self.domain, dtype=pl.String), return_dtype=pl.String)
        return frame.with_columns(mapped.alias("domain"))
