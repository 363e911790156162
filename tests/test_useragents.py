"""User-agent description and bot classification, checked against a hand-written corpus."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from importer.bots import BotDetector, literal_of, pattern_set
from importer.useragents import AGENT_SCHEMA, AgentClassifier, default_parse, describe_agents

CORPUS = Path(__file__).parent / "data" / "agents.tsv"


def load_corpus() -> list[tuple[str, str, str, str]]:
    """(class, browser, device, user_agent) rows; '-' means not checked."""
    rows = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            klass, browser, device, agent = line.split("\t")
            rows.append((klass, browser, device, agent))
    return rows


ROWS = load_corpus()


@pytest.fixture(scope="module")
def classifier() -> AgentClassifier:
    return AgentClassifier()


@pytest.fixture(scope="module")
def described(classifier: AgentClassifier) -> dict[str, dict]:
    table = classifier.describe(pl.Series([row[3] for row in ROWS]))
    return {row["user_agent"]: row for row in table.iter_rows(named=True)}


class CountingParser:
    """Wraps the real parser and counts calls, to prove each distinct agent is parsed once."""

    def __init__(self) -> None:
        self.parse = default_parse()
        self.calls: list[str] = []

    def __call__(self, agent: str) -> object:
        self.calls.append(agent)
        return self.parse(agent)


@pytest.fixture(scope="module")
def detector() -> BotDetector:
    return BotDetector.default()


def test_corpus_is_big_and_balanced() -> None:
    classes = [row[0] for row in ROWS]
    assert len(ROWS) >= 200
    assert len(set(row[3] for row in ROWS)) == len(ROWS), "duplicate agents in the corpus"
    assert classes.count("browser") >= 100
    assert classes.count("bot") >= 60
    assert classes.count("not_browser") >= 30


@pytest.mark.parametrize(("klass", "browser", "device", "agent"), ROWS, ids=[r[3][:70] for r in ROWS])
def test_corpus_agent(described: dict[str, dict], klass: str, browser: str, device: str, agent: str) -> None:
    got = described[agent]
    assert got["agent_class"] == klass
    if klass == "browser":
        assert got["browser"] == browser
        assert got["device"] == device


def test_no_browser_is_a_bot_and_no_bot_is_a_browser(described: dict[str, dict]) -> None:
    browsers_as_bots = [a for k, _, _, a in ROWS if k == "browser" and described[a]["agent_class"] != "browser"]
    bots_as_browsers = [a for k, _, _, a in ROWS if k != "browser" and described[a]["agent_class"] == "browser"]
    assert browsers_as_bots == []
    assert bots_as_browsers == []


def test_crawler_package_examples_are_never_browsers(classifier: AgentClassifier) -> None:
    from crawleruseragents import CRAWLER_USER_AGENTS_DATA

    examples = sorted({i for entry in CRAWLER_USER_AGENTS_DATA for i in entry.get("instances", ())})
    table = classifier.describe(pl.Series(examples))
    assert table.filter(pl.col("agent_class") == "browser")["user_agent"].to_list() == []


def find(*needles: str) -> str:
    """The first corpus agent containing every needle (keeps long literals out of the tests)."""
    return next(row[3] for row in ROWS if all(n in row[3] for n in needles))


def test_devices_and_names(described: dict[str, dict]) -> None:
    ipad = described[find("iPad; CPU OS 17_5", "Version/17.5")]
    phone = described[find("Android 13; SM-G991B", "Chrome/124")]
    windows = described[find("Windows NT 10.0; Win64; x64", "Chrome/126.0.0.0 Safari/537.36")]
    assert (ipad["device"], ipad["browser"], ipad["os"], ipad["os_version"]) == ("Tablet", "Safari", "iPadOS", "17.5")
    assert (phone["device"], phone["browser"], phone["os"]) == ("Mobile", "Chrome", "Android")
    assert (windows["device"], windows["browser"], windows["os"], windows["os_version"]) == (
        "Desktop",
        "Chrome",
        "Windows",
        "10",
    )


def test_versions_are_major_minor_like_plausible(described: dict[str, dict]) -> None:
    # Plausible's own test: Chrome 70 on macOS 10.13 -> Chrome 70.0, Mac 10.13.
    got = described[find("Mac OS X 10_13_6", "Chrome/70.0.3538.102")]
    assert (got["browser"], got["browser_version"], got["os"], got["os_version"]) == ("Chrome", "70.0", "Mac", "10.13")


def test_webviews_are_mobile_app_without_version(described: dict[str, dict]) -> None:
    webview = described[find("Pixel 7 Build/TQ3A.230805.001; wv")]
    assert (webview["browser"], webview["browser_version"]) == ("Mobile App", None)


def test_empty_and_dash_agents_are_bots_without_parsing() -> None:
    counting = CountingParser()
    classifier = AgentClassifier(parse=counting)
    table = classifier.describe(pl.Series([None, "", "-", "  "], dtype=pl.String))
    assert table.height == 4
    assert set(table["agent_class"]) == {"bot"}
    assert counting.calls == []


def test_each_distinct_agent_is_parsed_once_across_batches() -> None:
    counting = CountingParser()
    classifier = AgentClassifier(parse=counting)
    agents = [row[3] for row in ROWS[:5]]
    batch = pl.DataFrame({"user_agent": agents * 2_000 + [None, "-"]})
    first = classifier.enrich(batch)
    assert first.height == batch.height
    assert first["user_agent"].to_list() == batch["user_agent"].to_list()  # order kept
    assert sorted(counting.calls) == sorted(agents)
    new_agent = ROWS[6][3]
    classifier.enrich(pl.DataFrame({"user_agent": [*agents, new_agent] * 3}))
    assert counting.calls.count(new_agent) == 1
    assert len(counting.calls) == 6 == classifier.parse_calls


def test_enrich_adds_the_agent_columns_and_null_agents_are_bots(classifier: AgentClassifier) -> None:
    frame = pl.DataFrame({"line": [1, 2, 3], "user_agent": [ROWS[0][3], None, "-"]})
    out = classifier.enrich(frame)
    assert out.columns == ["line", *AGENT_SCHEMA]
    assert out["agent_class"].to_list() == ["browser", "bot", "bot"]
    assert out["line"].to_list() == [1, 2, 3]
    again = classifier.enrich(out)  # re-enriching replaces, never duplicates, the columns
    assert again.columns == out.columns


def test_describe_agents_schema_one_row_per_distinct_agent() -> None:
    agents = pl.Series(["curl/8.5.0", "curl/8.5.0", ROWS[0][3], None])
    table = describe_agents(agents)
    assert table.schema == pl.Schema(AGENT_SCHEMA)
    assert table.height == 3


def test_cache_is_bounded() -> None:
    classifier = AgentClassifier(max_cached=3)
    agents = [row[3] for row in ROWS[:5]]
    first = classifier.describe(pl.Series(agents[:2]))
    second = classifier.describe(pl.Series(agents[2:]))
    assert first.height == 2
    assert second.height == 3
    assert classifier.cached_agents <= 3


def test_pattern_classes_without_ua_parser(detector: BotDetector) -> None:
    got = detector.classify(pl.Series(["curl/8.5.0", "Mozilla/5.0 (compatible; GPTBot/1.2)", "Mozilla/5.0 (X11)", "-"]))
    assert got.to_list() == ["not_browser", "bot", "browser", "bot"]


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        ("Googlebot\\/", "Googlebot/"),
        ("Mediapartners \\(Googlebot\\)", "Mediapartners (Googlebot)"),
        ("bingbot", "bingbot"),
        ("^curl", None),
        ("[wW]get", None),
        ("BlogTraffic\\/\\d\\.\\d+ Feed-Fetcher", None),
        ("grub.org", None),
    ],
)
def test_literal_detection(pattern: str, literal: str | None) -> None:
    assert literal_of(pattern) == literal


def test_pattern_set_keeps_regexes_case_sensitive() -> None:
    patterns = pattern_set(["Googlebot\\/", "^curl"])
    frame = pl.DataFrame({"ua": ["Googlebot/2.1", "googlebot/2.1", "curl/8", "xcurl"]})
    assert frame.select(patterns.matches(pl.col("ua"))).to_series().to_list() == [True, False, True, False]
