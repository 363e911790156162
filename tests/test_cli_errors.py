"""The CLI's error messages: one line, says what to do, exit code 2."""

from __future__ import annotations

from pathlib import Path

from parsers.registry import names
from tests.conftest import run_cli

FORMATS_LIST = ", ".join(["auto", *names()])


def test_unknown_format_lists_the_choices(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("x\n")
    result = run_cli("parse", "--format", "nginxx", str(log))
    assert result.exit_code == 2
    assert result.stderr == f"Error: unknown format 'nginxx'. Try one of: {FORMATS_LIST}.\n"


def test_missing_file_is_named() -> None:
    result = run_cli("parse", "/no/such/access.log")
    assert result.exit_code == 2
    assert result.stderr == "Error: file '/no/such/access.log' does not exist.\n"


def test_glob_matching_nothing_is_named(tmp_path: Path) -> None:
    result = run_cli("parse", str(tmp_path / "*.log"))
    assert result.exit_code == 2
    assert result.stderr == f"Error: no files match '{tmp_path / '*.log'}'.\n"


def test_bad_flag_is_a_usage_error() -> None:
    result = run_cli("parse", "--colour", "x.log")
    assert result.exit_code == 2
    assert "Error: No such option '--colour'." in result.stderr


def test_bad_output_choice_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("parse", "--output", "xml", str(tmp_path))
    assert result.exit_code == 2
    assert "Invalid value for '--output': 'xml' is not one of 'table', 'ndjson', 'csv', 'parquet'." in result.stderr


def test_undetectable_log_names_the_closest_formats(tmp_path: Path) -> None:
    log = tmp_path / "odd.log"
    log.write_text("this is not an access log\nnor is this\n")
    result = run_cli("parse", str(log))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: cannot detect the format of '{log}' (closest: ")
    assert result.stderr.endswith(
        "Choose one with --format NAME, or describe it with --log-format or --apache-format.\n"
    )
    assert result.stderr.count("\n") == 1


def test_log_format_without_variables_is_explained(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("x\n")
    result = run_cli("parse", "--log-format", "remote_addr time_local", str(log))
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: the log format has no $variables; pass the log_format string from nginx.conf.\n"
    )


def test_log_format_without_time_is_explained(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("x\n")
    result = run_cli("parse", "--log-format", '$remote_addr "$request"', str(log))
    assert result.exit_code == 2
    assert result.stderr == "Error: the format has no time variable, so events cannot be dated.\n"


def test_both_format_strings_is_refused(tmp_path: Path) -> None:
    result = run_cli("parse", "--log-format", "$msec", "--apache-format", "%t", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == "Error: give either --log-format or --apache-format, not both.\n"


def test_parquet_to_stdout_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("x\n")
    result = run_cli("parse", "--format", "combined", "--output", "parquet", str(log))
    assert result.exit_code == 2
    assert result.stderr == "Error: parquet output needs a file: add -o PATH.\n"


def test_formats_lists_every_name_with_an_example() -> None:
    result = run_cli("formats")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert names == FORMATS_LIST.split(", ")[1:]
    assert result.stdout.count("e.g. ") == len(names)
