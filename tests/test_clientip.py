"""The visitor address: one canonical text per address, however the log spelled it."""

from __future__ import annotations

import ipaddress
import random

import polars as pl
import pytest

from importer.clientip import ClientIpPolicy, normalise_ip, with_client_ip


def reference(value: str) -> str | None:
    """What the standard library calls this address (None when it is not one)."""
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        return None


@pytest.mark.parametrize(
    ("logged", "expected"),
    [
        ("2001:DB8:0:0::7", "2001:db8::7"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  # the first of two equal zero runs is the one compressed
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  # a single zero group is not compressed
        ("0:0:0:0:0:0:0:0", "::"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"),  # embedded IPv4, written as ipaddress writes it
        ("::192.0.2.1", "::c000:201"),
        ("[2001:db8::5]:443", "2001:db8::5"),
        ("fe80::1%eth0", "fe80::1"),
        ("203.0.113.9:8080", "203.0.113.9"),
        ('"198.51.100.4"', "198.51.100.4"),
        ("203.0.113.09", None),  # a leading zero is not an address
        ("2001:db8::1::2", None),
        ("2001:db8:g::1", None),
        ("unknown", None),
    ],
)
def test_normalise_ip_cases(logged: str, expected: str | None) -> None:
    assert normalise_ip(logged) == expected


def test_normalise_ip_agrees_with_ipaddress_on_generated_addresses() -> None:
    """The C library's IPv6 text is taken only where it is what ipaddress would write."""
    rng = random.Random(7)
    checked = 0
    for _ in range(20_000):
        groups = [rng.choice([0, 0, 0, 1, 0xFFFF, rng.randrange(65536)]) for _ in range(8)]
        text = ":".join(rng.choice(["%x", "%04x", "%X"]) % g for g in groups)
        if rng.random() < 0.3:  # shorten a zero run by hand, or break the text
            text = text.replace(":0:0:", "::", 1) if rng.random() < 0.5 else text[: rng.randrange(len(text))] + "::"
        assert normalise_ip(text) == reference(text), text
        checked += 1
    assert checked == 20_000


def test_remote_addr_policy_rewrites_only_what_is_not_canonical() -> None:
    frame = pl.DataFrame({"client_ip": ["192.0.2.1", "2001:DB8::1", "203.0.113.7:51234", None, "not-an-ip", "192.0.2.1"]})
    out = with_client_ip(frame, ClientIpPolicy()).get_column("client_ip").to_list()
    assert out == ["192.0.2.1", "2001:db8::1", "203.0.113.7", None, None, "192.0.2.1"]
