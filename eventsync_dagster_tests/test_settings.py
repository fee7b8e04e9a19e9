"""The settings module: defaults, one-line errors, the lenient load, and the generated docs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from eventsync_dagster import settings
from eventsync_dagster.settings import Settings, SettingsError, load, load_lenient

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "eventsync_dagster"

DOCUMENTED = {
    "LUMA_API_KEY",
    "LUMA_BASE_URL",
    "LUMA_API_VERSION",
    "LUMA_REQUESTS_PER_MINUTE",
    "LUMA_RATE_WINDOW_SECONDS",
    "EVENTEE_API_TOKEN",
    "EVENTEE_BASE_URL",
    "EVENTSYNC_ACCOUNTS_FILE",
    "EVENTSYNC_DUCKDB_PATH",
    "EVENTSYNC_DESTINATION",
    "EVENTSYNC_DUCKDB_MEMORY_LIMIT",
    "EVENTSYNC_LOCK_TIMEOUT_SECONDS",
    "EVENTSYNC_STEP_RETRIES",
    "EVENTSYNC_STEP_RETRY_DELAY_SECONDS",
    "EVENTSYNC_SENSOR_TICK_SECONDS",
    "EVENTSYNC_READER_COPY",
    "EVENTSYNC_BUDGET_DIR",
    "EVENTSYNC_HARD_DELETE",
    "EVENTSYNC_GUEST_REFRESH_DAYS",
    "EVENTSYNC_FULL_REFRESH",
    "EVENTSYNC_REQUEST_TIMEOUT_SECONDS",
    "EVENTSYNC_REQUEST_MAX_ATTEMPTS",
    "EVENTSYNC_RETRY_BACKOFF_FACTOR",
    "EVENTSYNC_RETRY_MAX_DELAY_SECONDS",
    "EVENTSYNC_DAILY_CRON",
    "EVENTSYNC_TIMEZONE",
    "EVENTSYNC_SENSOR_INTERVAL_SECONDS",
    "EVENTSYNC_FRESHNESS_HOURS",
    "EVENTSYNC_PROGRESS_SECONDS",
    "EVENTSYNC_HASH_PII",
    "EVENTSYNC_PII_SALT",
}


def test_defaults_when_the_environment_is_empty() -> None:
    s = load({})
    assert s == Settings()
    assert s.luma_api_key is None and s.eventee_api_token is None and s.pii_salt is None
    assert s.luma_base_url == "https://public-api.luma.com"
    assert s.luma_api_version == "legacy"
    assert s.luma_requests_per_minute is None
    assert s.destination == "duckdb"
    assert s.duckdb_path == Path("data/eventsync.duckdb")
    assert s.lock_timeout_seconds == 3600
    assert s.reader_copy is True and s.hard_delete is False and s.hash_pii is False
    assert s.request_max_attempts == 4 and s.daily_cron == "0 6 * * *" and s.timezone == "UTC"
    assert s.budget_dir is None
    assert not any(s.is_set(name) for name in Settings.model_fields)


def test_empty_or_blank_is_unset() -> None:
    assert load({name: "" for name in DOCUMENTED}) == Settings()
    assert load({"EVENTSYNC_DAILY_CRON": "  ", "EVENTSYNC_DESTINATION": ""}) == Settings()


def test_the_documented_defaults_are_the_defaults() -> None:
    """Uncommenting a line of .env.example as it is changes nothing."""
    lines = re.findall(r"^# ([A-Z_]+)=(.*)$", settings.env_example(), flags=re.MULTILINE)
    assert load(dict(lines)).model_dump() == Settings().model_dump()


def test_values_are_parsed() -> None:
    s = load(
        {
            "LUMA_REQUESTS_PER_MINUTE": "10",
            "EVENTSYNC_LOCK_TIMEOUT_SECONDS": "0.5",
            "EVENTSYNC_READER_COPY": "Off",
            "EVENTSYNC_HASH_PII": "YES",
            "EVENTSYNC_HARD_DELETE": "1",
            "EVENTSYNC_DAILY_CRON": "30 2 * * 1-5",
            "EVENTSYNC_TIMEZONE": "Europe/Prague",
            "EVENTSYNC_BUDGET_DIR": "/tmp/budgets",
            "LUMA_API_VERSION": "current",
            "EVENTSYNC_PII_SALT": "pepper",
            "EVENTSYNC_DUCKDB_MEMORY_LIMIT": "1.5GiB",
        }
    )
    assert s.luma_requests_per_minute == 10 and s.lock_timeout_seconds == 0.5
    assert s.reader_copy is False and s.hash_pii is True and s.hard_delete is True
    assert s.daily_cron == "30 2 * * 1-5" and s.timezone == "Europe/Prague"
    assert s.budget_dir == Path("/tmp/budgets") and s.luma_api_version == "current"
    assert s.pii_salt is not None and s.pii_salt.get_secret_value() == "pepper"
    assert s.is_set("timezone") and not s.is_set("luma_base_url")


def test_the_destination_falls_back_to_dlts_variable() -> None:
    assert load({"DESTINATION_TYPE": "postgres"}).destination == "postgres"
    both = {"EVENTSYNC_DESTINATION": "duckdb", "DESTINATION_TYPE": "postgres"}
    assert load(both).destination == "duckdb"
    with pytest.raises(SettingsError, match=r"^DESTINATION_TYPE='no way' is not valid"):
        load({"DESTINATION_TYPE": "no way"})


@pytest.mark.parametrize(
    ("variable", "value", "shown", "accepts"),
    [
        ("EVENTSYNC_LOCK_TIMEOUT_SECONDS", "1h", "1h", "a number of seconds greater than 0"),
        ("EVENTSYNC_LOCK_TIMEOUT_SECONDS", "0", "0", "greater than 0"),
        ("EVENTSYNC_FRESHNESS_HOURS", "nan", "nan", "hours greater than 0"),
        ("EVENTSYNC_REQUEST_MAX_ATTEMPTS", "0", "0", "1 or more"),
        ("EVENTSYNC_REQUEST_MAX_ATTEMPTS", "2.5", "2.5", "a whole number"),
        ("EVENTSYNC_TIMEZONE", "Mars/Base", "Mars/Base", "an IANA timezone name"),
        ("EVENTSYNC_DAILY_CRON", "every day", "'every day'", "a five-field cron expression"),
        ("EVENTSYNC_DAILY_CRON", "0 0 30 2 *", "'0 0 30 2 *'", "on a day that exists"),
        ("EVENTSYNC_DAILY_CRON", "0 0 6 * * *", "'0 0 6 * * *'", "five-field"),
        ("LUMA_API_VERSION", "v3", "v3", "legacy or current"),
        ("EVENTSYNC_HASH_PII", "maybe", "maybe", "1 or 0"),
        ("EVENTSYNC_DESTINATION", "postgres; drop", "'postgres; drop'", "a dlt destination"),
        ("LUMA_BASE_URL", "public-api.luma.com", "public-api.luma.com", "http:// or https://"),
        ("EVENTSYNC_DUCKDB_MEMORY_LIMIT", "lots", "lots", "a size such as 256MB"),
        ("LUMA_REQUESTS_PER_MINUTE", "0", "0", "1 or more"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    variable: str, value: str, shown: str, accepts: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load({variable: value})
    message = str(raised.value)
    assert message.startswith(f"{variable}={shown} is not valid: "), message
    assert accepts in message and "\n" not in message
    assert isinstance(raised.value, ValueError)
    assert raised.value.__suppress_context__  # no pydantic traceback under it


def test_several_bad_values_are_one_line_listing_each() -> None:
    with pytest.raises(SettingsError) as raised:
        load(
            {"EVENTSYNC_TIMEZONE": "Mars/Base", "EVENTSYNC_HASH_PII": "maybe", "LUMA_API_KEY": "k"}
        )
    assert "\n" not in str(raised.value)
    assert [p.split(" ")[0] for p in raised.value.problems] == [
        "EVENTSYNC_TIMEZONE=Mars/Base",
        "EVENTSYNC_HASH_PII=maybe",
    ]


def test_a_value_with_a_newline_stays_on_one_line() -> None:
    with pytest.raises(SettingsError) as raised:
        load({"EVENTSYNC_TIMEZONE": "UTC\nEurope/Prague"})
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("variable", ["LUMA_API_KEY", "EVENTEE_API_TOKEN"])
def test_a_secret_never_appears_in_an_error_or_a_repr(variable: str) -> None:
    secret = "sk-live 7f3a9c"  # a pasted key with a space in it
    with pytest.raises(SettingsError) as raised:
        load({variable: secret, "EVENTSYNC_LOCK_TIMEOUT_SECONDS": "1h"})
    message = str(raised.value)
    assert message.startswith(f"{variable} is not valid (value not shown): ")
    assert "7f3a9c" not in message and "7f3a9c" not in repr(raised.value)
    _, problems = load_lenient({variable: secret})
    assert problems and not any("7f3a9c" in line for line in problems)

    good = load({variable: "sk-live-7f3a9c", "EVENTSYNC_PII_SALT": "pepper-1234"})
    assert "7f3a9c" not in repr(good) and "7f3a9c" not in str(good)
    assert "pepper-1234" not in repr(good) and "pepper-1234" not in good.model_dump_json()


def test_lenient_load_falls_back_to_defaults_and_says_so() -> None:
    loaded, problems = load_lenient(
        {
            "EVENTSYNC_DAILY_CRON": "every day",
            "EVENTSYNC_TIMEZONE": "Mars/Base",
            "EVENTSYNC_SENSOR_INTERVAL_SECONDS": "soon",
            "EVENTSYNC_FRESHNESS_HOURS": "48",
        }
    )
    assert loaded.daily_cron == "0 6 * * *" and loaded.timezone == "UTC"
    assert loaded.sensor_interval_seconds == 300 and loaded.freshness_hours == 48
    assert problems == [
        "EVENTSYNC_DAILY_CRON='every day' is not valid: a five-field cron expression such as "
        "'0 6 * * *', on a day that exists; using the default (0 6 * * *)",
        "EVENTSYNC_TIMEZONE=Mars/Base is not valid: an IANA timezone name such as UTC or "
        "Europe/Prague; using the default (UTC)",
        "EVENTSYNC_SENSOR_INTERVAL_SECONDS=soon is not valid: a whole number of seconds, 1 or "
        "more; using the default (300)",
    ]
    assert not loaded.is_set("daily_cron") and loaded.is_set("freshness_hours")
    assert load_lenient({}) == (Settings(), [])


def test_settings_are_frozen() -> None:
    with pytest.raises(ValueError):
        load({}).lock_timeout_seconds = 1  # type: ignore[misc]


def test_the_fields_are_exactly_the_documented_variables() -> None:
    assert set(settings.VARIABLES) == DOCUMENTED
    assert len(settings.VARIABLES) == len(Settings.model_fields)
    assert settings.variable("lock_timeout_seconds") == "EVENTSYNC_LOCK_TIMEOUT_SECONDS"
    assert settings.FIELDS["EVENTSYNC_TIMEZONE"] == "timezone"


def test_every_variable_the_package_reads_is_a_field() -> None:
    read = {
        name
        for path in PACKAGE.rglob("*.py")
        for name in re.findall(r'"((?:LUMA|EVENTEE|EVENTSYNC)_[A-Z0-9_]+)"', path.read_text())
    }
    assert read <= set(settings.VARIABLES), sorted(read - set(settings.VARIABLES))


def test_env_example_in_the_repo_is_the_generated_one() -> None:
    assert (REPO / ".env.example").read_text() == settings.env_example(), (
        "regenerate: python -m eventsync_dagster.settings env-example > .env.example"
    )


def test_env_example_changes_nothing_until_a_line_is_uncommented() -> None:
    text = settings.env_example()
    assert all(not line or line.startswith("#") for line in text.splitlines())
    sections = re.findall(r"^# --- (.+?) -+$", text, flags=re.MULTILINE)
    assert sections == list(settings.SECTIONS)
    assert re.findall(r"^# ([A-Z_]+)=", text, flags=re.MULTILINE) == list(settings.VARIABLES)
    assert "# EVENTSYNC_LOCK_TIMEOUT_SECONDS=3600\n" in text
    assert all(len(line) <= 100 for line in text.splitlines())


def test_markdown_table_has_a_row_per_variable() -> None:
    rows = settings.markdown_table().splitlines()
    assert rows[0] == "| variable | default | what |"
    names = [re.findall(r"^\| `([A-Z_]+)` \|", row) for row in rows[2:]]
    assert names == [[name] for name in settings.VARIABLES]
    assert "| `EVENTSYNC_LOCK_TIMEOUT_SECONDS` | `3600` |" in settings.markdown_table()


def test_the_command_prints_both() -> None:
    for what, expected in (("env-example", settings.env_example()), ("table", None)):
        done = subprocess.run(
            [sys.executable, "-m", "eventsync_dagster.settings", what],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        )
        assert done.stdout == (expected or settings.markdown_table())


def test_importing_settings_does_not_import_dagster() -> None:
    code = "import eventsync_dagster.settings, sys; assert 'dagster' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
