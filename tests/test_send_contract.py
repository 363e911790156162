"""`send`'s flags and usage errors, and the test receiver's own faithfulness to Plausible's contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from importer.cli_send import parse_duration, send
from importer.ledger import default_ledger_path
from tests.conftest import SAMPLES
from tests.receiver import CHROME, Receiver, validate

SAMPLE = str(SAMPLES / "nginx_combined.log")


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400),
                                          ("1h30m", 5400), ("0.5h", 1800)])
def test_durations(text, seconds):
    assert parse_duration(text, "--max-age").total_seconds() == seconds


@pytest.mark.parametrize("args,message", [
    (["--max-age", "soon"], "--max-age: 'soon' is not a duration"),
    (["--endpoint", "plausible.io/api/event"], "is not an http(s) URL"),
    (["--concurrency", "0"], "--concurrency"),
    (["--follow", "-"], "--follow cannot read standard input"),
])
def test_usage_errors_exit_2(tmp_path, args, message):
    argv = [SAMPLE, "--domain", "example.com", "--state", str(tmp_path / "l.sqlite"), *args]
    result = CliRunner().invoke(send, argv)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_proxy_that_is_not_http_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    argv = [SAMPLE, "--domain", "example.com", "--state", str(tmp_path / "l.sqlite"), "--dry-run"]
    result = CliRunner().invoke(send, argv)
    assert result.exit_code == 2
    assert "HTTPS_PROXY 'socks5://127.0.0.1:1080' is not an http://host:port proxy" in result.stderr


def test_default_ledger_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_ledger_path() == tmp_path / "plausible-logs" / "ledger.sqlite"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_ledger_path() == Path.home() / ".local" / "state" / "plausible-logs" / "ledger.sqlite"


def test_send_shares_the_events_commands_options():
    from importer.cli import main

    def names(command):
        return {p.name: (p.default, p.multiple) for p in command.params}

    events = names(main.commands["events"])
    mine = names(send)
    shared = {k: v for k, v in events.items() if k not in ("limit", "out_path", "summary_json")}
    assert {k: mine[k] for k in shared} == shared


@pytest.mark.parametrize("payload,errors", [
    ({"name": "pageview", "url": "https://a.example/", "domain": "a.example"}, {}),
    ({"name": "pageview", "domain": "a.example"}, {"url": ["is required"]}),
    ({"name": "pageview", "url": "https://a.example/" + "x" * 2000, "domain": "a.example"},
     {"url": ["must be a valid url"]}),
    ({"name": "pageview", "url": "https://a.example/", "domain": " "}, {"domain": ["can't be blank"]}),
    ({"name": "pageview", "url": "data:text/html,hi"}, {"url": ["scheme is not allowed"]}),
    ({"url": "https://a.example/"}, {"event_name": ["can't be blank"]}),
])
def test_the_receiver_validates_like_plausible(payload, errors):
    assert validate(json.dumps(payload).encode(), "application/json") == errors
    assert validate(b"{not json", "application/json") == {"request": ["Unable to parse request body as json"]}


def test_the_receiver_answers_like_plausible(receiver):
    import urllib.error
    import urllib.request

    def post(body: bytes, agent: str = CHROME, path: str = "/api/event") -> tuple[int, str, str | None]:
        request = urllib.request.Request(receiver.url.replace("/api/event", path), data=body, method="POST",
                                         headers={"User-Agent": agent, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode(), response.headers.get("x-plausible-dropped")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), exc.headers.get("x-plausible-dropped")

    good = json.dumps({"name": "pageview", "url": "https://a.example/", "domain": "a.example"}).encode()
    assert post(good) == (202, "ok", None)
    assert post(good, agent="Mozilla/5.0 (compatible; Googlebot/2.1)") == (202, "ok", "1")
    status, body, _ = post(json.dumps({"name": "pageview", "domain": "a.example"}).encode())
    assert (status, json.loads(body)) == (400, {"errors": {"url": ["is required"]}})
    assert post(good, path="/api/other")[0] == 404
