"""Golden table: one log line in, the exact Plausible request out (or the one reason it is dropped)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ndjson_rows, run_cli

CHROME_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 "
    "Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.105 "
    "Mobile Safari/537.36"
)
BOTS = {
    "Googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "AhrefsBot": "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "GPTBot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "ClaudeBot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
    "facebookexternalhit": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "HeadlessChrome": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/122.0.0.0 Safari/537.36"
    ),
    "empty agent": "-",
}
TOOLS = {"curl": "curl/8.5.0", "python-requests": "python-requests/2.31.0"}


def line(target: str = "/", status: int = 200, agent: str = CHROME_WIN, referrer: str = "-", method: str = "GET",
         ip: str = "203.0.113.42", xff: str | None = None) -> str:
    text = f'{ip} - - [05/Mar/2024:14:22:07 +0100] "{method} {target} HTTP/1.1" {status} 512 "{referrer}" "{agent}"'
    return text + (f' "{xff}"' if xff is not None else "")


def run_events(tmp_path: Path, lines: list[str], *flags: str, fmt: str = "combined") -> tuple[list[dict], dict]:
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    summary = tmp_path / "summary.json"
    result = run_cli("events", str(log), "--format", fmt, "--domain", "example.com",
                     "--summary-json", str(summary), *flags)
    assert result.exit_code == 0, result.stderr
    return ndjson_rows(result.stdout), json.loads(summary.read_text())


def dropped_as(tmp_path: Path, text: str, *flags: str) -> str:
    requests, summary = run_events(tmp_path, [text], *flags)
    assert requests == []
    reasons = [reason for reason, count in summary["dropped"].items() if count]
    assert len(reasons) == 1 and summary["dropped"][reasons[0]] == 1
    return reasons[0]


def test_page_view_with_utm_query_keeps_the_query_in_the_url(tmp_path: Path) -> None:
    text = line("/blog/post?utm_source=news&utm_medium=email", referrer="https://www.example.org/links")
    [request], summary = run_events(tmp_path, [text])
    assert request == {
        "ts": "2024-03-05T13:22:07+00:00",
        "headers": {"User-Agent": CHROME_WIN, "X-Forwarded-For": "203.0.113.42", "Content-Type": "application/json"},
        "body": {
            "name": "pageview",
            "url": "https://example.com/blog/post?utm_source=news&utm_medium=email",
            "domain": "example.com",
            "referrer": "https://www.example.org/links",
        },
    }
    assert summary["lines"] == 1 and summary["pageviews"] == 1


def test_no_referrer_means_no_referrer_key(tmp_path: Path) -> None:
    [request], _ = run_events(tmp_path, [line("/about")])
    assert request["body"] == {"name": "pageview", "url": "https://example.com/about", "domain": "example.com"}


def test_percent_encoded_non_ascii_path_is_sent_as_logged(tmp_path: Path) -> None:
    [request], _ = run_events(tmp_path, [line("/caf%C3%A9/men%C3%BC")])
    assert request["body"]["url"] == "https://example.com/caf%C3%A9/men%C3%BC"


def test_ipv6_client_is_sent_in_canonical_form(tmp_path: Path) -> None:
    [request], _ = run_events(tmp_path, [line("/", ip="2001:DB8:0:0::7")])
    assert request["headers"]["X-Forwarded-For"] == "2001:db8::7"


def test_xff_with_trusted_proxies_takes_the_rightmost_untrusted_address(tmp_path: Path) -> None:
    text = line("/", ip="198.51.100.10", xff="192.0.2.1, 203.0.113.9, 198.51.100.2")
    [request], _ = run_events(tmp_path, [text], "--client-ip", "xff", "--trusted-proxy", "198.51.100.0/24", fmt="main")
    assert request["headers"]["X-Forwarded-For"] == "203.0.113.9"


def test_xff_with_port_and_brackets_is_cleaned(tmp_path: Path) -> None:
    text = line("/", ip="198.51.100.10", xff="[2001:db8::5]:443")
    [request], _ = run_events(tmp_path, [text], "--client-ip", "xff", fmt="main")
    assert request["headers"]["X-Forwarded-For"] == "2001:db8::5"


def test_not_modified_304_is_a_page_view(tmp_path: Path) -> None:
    [request], _ = run_events(tmp_path, [line("/pricing", status=304)])
    assert request["body"]["url"] == "https://example.com/pricing"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (line("/", method="HEAD"), "method"),
        (line("/contact", method="POST"), "method"),
        (line("/missing", status=404), "status"),
        (line("/old", status=301), "status"),
        (line("/static/site.css"), "asset"),
        (line("/img/logo.png"), "asset"),
        (line("/robots.txt"), "asset"),
        (line("/wp-admin/"), "excluded_path"),
        *[(line("/", agent=agent), "bot") for agent in BOTS.values()],
        *[(line("/", agent=agent), "not_browser") for agent in TOOLS.values()],
    ],
    ids=["HEAD", "POST", "404", "301", "css", "png", "robots.txt", "wp-admin", *BOTS, *TOOLS],
)
def test_dropped_lines_have_exactly_one_reason(tmp_path: Path, text: str, reason: str) -> None:
    assert dropped_as(tmp_path, text) == reason


def test_track_404_sends_plausibles_404_event_with_the_path(tmp_path: Path) -> None:
    [request], summary = run_events(tmp_path, [line("/missing-page", status=404)], "--track-404")
    assert request["body"] == {
        "name": "404", "url": "https://example.com/missing-page", "domain": "example.com", "props": {"path": "/missing-page"}
    }
    assert summary["custom_events"] == {"404": 1} and summary["pageviews"] == 0


def test_track_downloads_sends_file_download_events(tmp_path: Path) -> None:
    [request], summary = run_events(tmp_path, [line("/files/report.pdf")], "--track-downloads", "pdf,zip")
    assert request["body"]["name"] == "File Download"
    assert request["body"]["props"] == {"url": "https://example.com/files/report.pdf"}
    assert summary["custom_events"] == {"File Download": 1}


def test_excluded_ip_range_drops_the_visitor(tmp_path: Path) -> None:
    assert dropped_as(tmp_path, line("/", ip="203.0.113.42"), "--exclude-ip", "203.0.113.0/24") == "excluded_ip"


def test_unmapped_host_is_dropped_as_excluded_host(tmp_path: Path) -> None:
    log = tmp_path / "vhost.log"
    log.write_text(
        'www.example.com:443 203.0.113.5 - - [05/Mar/2024:14:22:07 +0100] "GET / HTTP/1.1" 200 5 "-" "' + CHROME_WIN + '"\n'
        'shop.example.net:443 203.0.113.5 - - [05/Mar/2024:14:22:08 +0100] "GET / HTTP/1.1" 200 5 "-" "' + CHROME_WIN + '"\n'
    )
    result = run_cli("events", str(log), "--domain-map", "example.com=example.com", "--format", "vhost_combined")
    assert result.exit_code == 0
    [request] = ndjson_rows(result.stdout)
    assert request["body"]["url"] == "https://www.example.com/"
    assert request["body"]["domain"] == "example.com"
    assert "excluded_host 1" in result.stderr


def test_summary_adds_up_on_every_sample(tmp_path: Path) -> None:
    from tests.conftest import SAMPLES
    from tests.test_samples import EXPECTED

    for name, spec in EXPECTED.items():
        summary_path = tmp_path / f"{name}.json"
        result = run_cli("events", str(SAMPLES / name), *spec["flags"], "--domain", "example.com",
                         "--summary-json", str(summary_path))
        assert result.exit_code == 0, (name, result.stderr)
        summary = json.loads(summary_path.read_text())
        total = summary["pageviews"] + sum(summary["custom_events"].values()) + sum(summary["dropped"].values())
        assert summary["lines"] == total == spec["lines"], name
        assert summary["dropped"]["invalid"] == sum(spec["rejects"].values()), name
        assert len(ndjson_rows(result.stdout)) == summary["pageviews"]


def test_device_classes_reach_the_events(tmp_path: Path) -> None:
    from importer.pipeline import EventOptions, RunSummary
    from importer.pipeline import run_events as pipeline_events
    from importer.sites import SiteMap
    from parsers.inputs import expand_inputs
    from parsers.stream import FormatChoice

    log = tmp_path / "devices.log"
    log.write_text("\n".join(line(f"/{i}", agent=a) for i, a in enumerate([IPAD, ANDROID, CHROME_WIN])) + "\n")
    options = EventOptions(sites=SiteMap.build("example.com", (), None, "https"))
    batches = list(pipeline_events(expand_inputs([str(log)]), FormatChoice("combined"), options, RunSummary()))
    assert batches[0].events["device"].to_list() == ["Tablet", "Mobile", "Desktop"]


def test_url_over_2000_bytes_with_the_real_host_is_dropped(tmp_path: Path) -> None:
    path = "/" + "a" * 1989  # fits on its own, but not once https://example.com is in front
    assert dropped_as(tmp_path, line(path)) == "url_too_long"
