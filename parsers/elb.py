"""Classic Elastic Load Balancer (ELB) access logs: the ALB layout's ancestor.

`time elb client:port backend:port rpt bpt spt elb_status backend_status received sent "request" "user_agent"
ssl_cipher ssl_protocol`
Read by the ALB reader with its own prefix and tail: there is no leading `type` field (the
scheme comes from the absolute URL in the request) and nothing after the two TLS fields.
TCP and SSL listeners log `"- - - "` as the request: those lines are invalid requests.
"""

from __future__ import annotations

import polars as pl

from parsers.alb import ALBFormat

_PREFIX = (
    r"^(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z) (?P<elb>\S+) (?P<client>\S+) "
    r"(?P<target>\S+) (?P<rpt>-?[\d.]+) (?P<tpt>-?[\d.]+) (?P<spt>-?[\d.]+) (?P<status>\d{3}|-) (?P<tstatus>\S+) "
    r"(?P<received>\d+|-) (?P<sent>\d+|-) $"
)
# ssl_cipher and ssl_protocol (`-` on plain HTTP); logs written before they were added end at the agent.
_TAIL = r"^(?: \S+ \S+)?$"


class ELBClassicFormat(ALBFormat):
    """Classic ELB access logs (stateless)."""

    name = "elb_classic"
    description = "AWS Classic Load Balancer (ELB) access logs (like ALB without the type field; absolute URL)"
    prefix = _PREFIX
    tail = _TAIL

    @property
    def specificity(self) -> int:
        return 10

    @staticmethod
    def _listener_scheme() -> pl.Expr:
        return pl.lit(None, dtype=pl.String)


def elb_classic() -> ELBClassicFormat:
    """The classic ELB reader."""
    return ELBClassicFormat()
