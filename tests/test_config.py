"""A TOML config file fills option defaults; flags on the command line still win."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SAMPLES, ndjson_rows, run_cli


def test_config_file_supplies_options_and_flags_override(tmp_path: Path) -> None:
    config = tmp_path / "plausible-logs.toml"
    config.write_text('format = "combined"\ndomain = "example.com"\n[events]\nscheme = "http"\n')
    from_file = run_cli("--config", str(config), "events", str(SAMPLES / "nginx_combined.log"))
    assert from_file.exit_code == 0, from_file.stderr
    urls = [r["body"]["url"] for r in ndjson_rows(from_file.stdout)]
    assert urls and all(u.startswith("http://example.com/") for u in urls)
    overridden = run_cli("--config", str(config), "events", "--scheme", "https", str(SAMPLES / "nginx_combined.log"))
    assert all(r["body"]["url"].startswith("https://") for r in ndjson_rows(overridden.stdout))


def test_domain_map_table_in_config(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[domain_map]\n"www.example.com" = "example.com"\n')
    result = run_cli("--config", str(config), "events", "--format", "vhost_combined",
                     str(SAMPLES / "apache_vhost_combined.log"))
    assert result.exit_code == 0, result.stderr
    assert {r["body"]["domain"] for r in ndjson_rows(result.stdout)} == {"example.com"}
    assert "excluded_host" in result.stderr


def test_unreadable_config_is_a_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("domain = [unclosed\n")
    result = run_cli("--config", str(config), "formats")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: cannot read config file '{config}': ")
    assert result.stderr.count("\n") == 1


def test_a_section_for_a_command_imported_on_demand_applies_to_it(tmp_path: Path) -> None:
    """report, export and send are imported only when they run; their config sections must still apply."""
    db = tmp_path / "site.duckdb"
    config = tmp_path / "c.toml"
    config.write_text(f'domain = "example.com"\ndb = "{db}"\n[load]\nkey_file = "{tmp_path / "k"}"\n'
                      '[report]\nformat = "json"\nperiod = "all"\n')
    loaded = run_cli("--config", str(config), "load", str(SAMPLES / "nginx_combined.log"))  # `db` is --db
    assert loaded.exit_code == 0, loaded.stderr
    result = run_cli("--config", str(config), "report")  # in [report], `format` is the report's format
    assert result.exit_code == 0, result.stderr
    assert result.stdout.lstrip().startswith("{")
