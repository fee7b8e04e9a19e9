"""Every environment variable eventsync_dagster reads: its name, default, validation and meaning.

One place, so a setting is parsed the same way everywhere, a bad value fails with one line that
names the variable (not a `float()` traceback deep inside a run), and `.env.example` and the
README's table are generated from the same fields instead of drifting from the code
(`python -m eventsync_dagster.settings env-example` / `table`).

`load()` is strict, for code that runs when a run starts. `load_lenient()` is for code that runs
when Dagster loads the definitions (cron, timezone, sensor interval, freshness window): a bad
value falls back to its default and is reported, so the UI still opens.

Dagster-free on purpose, so the dlt sources (which run without Dagster) can read it too.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import textwrap
import zoneinfo
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from croniter import croniter  # type: ignore[import-untyped]  # a dlt dependency, no stubs
from dlt.common.destination.reference import Destination
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
)

SECTIONS = (
    "Luma",
    "Eventee",
    "Warehouse",
    "What a sync reads",
    "HTTP",
    "Schedules and sensors",
    "Privacy",
)
"""The groups of `.env.example` and the README's table, in order."""

DESTINATION_FALLBACK = "DESTINATION_TYPE"
"""dlt's own variable for the destination, read when EVENTSYNC_DESTINATION is unset."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_DESTINATION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_MEMORY = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB|%)", re.IGNORECASE)
_WIDTH = 96


class SettingsError(ValueError):
    """One or more variables hold a value the project cannot use; one line naming each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def _flag(value: object) -> object:
    """1/0, true/false, yes/no, on/off in any case; anything else is an error, not False."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError("not a flag")
    return value


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http(s) URL")
    return value


def _credential(value: SecretStr | None) -> SecretStr | None:
    """A pasted key with a space or a newline in it would fail as an HTTP header, and requests'
    error would print it; refused here, without showing it."""
    if value is not None and not re.fullmatch(r"[\x21-\x7e]+", value.get_secret_value()):
        raise ValueError("not a key")
    return value


def _destination(value: str) -> str:
    """A name dlt resolves (a typo would otherwise fail deep inside dlt, with its traceback)."""
    if not _DESTINATION.fullmatch(value):
        raise ValueError("not a destination name")
    try:
        Destination.from_reference(value)
    except Exception:
        raise ValueError("not a dlt destination") from None
    return value


def _memory(value: str) -> str:
    if not _MEMORY.fullmatch(value):
        raise ValueError("not a size")
    return value


def _cron(value: str) -> str:
    """What Dagster accepts (dagster._utils.schedules.is_valid_cron_string, without importing
    Dagster): five fields, and not a day February never has."""
    if not croniter.is_valid(value):
        raise ValueError("not a cron expression")
    fields = croniter.expand(value)[0]
    if len(fields) != 5:
        raise ValueError("not five fields")
    if fields[3] == [2] and len(fields[2]) == 1 and fields[2][0] in (30, 31):
        raise ValueError("never happens")
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError("not a timezone") from error
    return value


Flag = Annotated[bool, BeforeValidator(_flag)]
Credential = Annotated[SecretStr | None, AfterValidator(_credential)]
Url = Annotated[str, AfterValidator(_url)]


def _setting(
    variable: str,
    default: Any,
    section: str,
    description: str,
    accepts: str,
    summary: str,
    *,
    shown: str | None = None,
    secret: bool = False,
    **constraints: Any,
) -> Any:
    """A field read from `variable`. `accepts` ends the error message; `summary` is the README's
    cell; `shown` is what `.env.example` writes when the default is not a plain value."""
    assert section in SECTIONS, section
    extra: dict[str, Any] = {
        "section": section,
        "accepts": accepts,
        "summary": summary,
        "secret": secret,
    }
    if shown is not None:
        extra["shown"] = shown
    return Field(
        default,
        alias=variable,
        description=" ".join(description.split()),
        json_schema_extra=extra,
        **constraints,
    )


_SECONDS = "a number of seconds greater than 0"
_FLAG = "1 or 0 (also true/false, yes/no, on/off)"


class Settings(BaseModel):
    """Every setting, typed; the field's alias is its environment variable.

    `is_set(field)` tells a value from the environment from a default, for settings that have
    a further fallback (dlt's config for the base URLs).
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_alias=True, validate_by_name=True
    )

    # --- Luma
    luma_api_key: Credential = _setting(
        "LUMA_API_KEY",
        None,
        "Luma",
        """The calendar's API key (Luma settings > API), sent as the x-luma-api-key header. It
        may instead live in .dlt/secrets.toml ([sources.luma] api_key); other accounts name
        their own variable in the accounts file.""",
        "a key without spaces or control characters",
        "Luma API key of the default account",
        secret=True,
    )
    luma_base_url: Url = _setting(
        "LUMA_BASE_URL",
        "https://public-api.luma.com",
        "Luma",
        """Everything before /v1/...: the real host, or the fake API's for local runs.""",
        "an http:// or https:// URL with a host",
        "everything before `/v1/...`",
    )
    luma_api_version: Literal["legacy", "current"] = _setting(
        "LUMA_API_VERSION",
        "legacy",
        "Luma",
        """Which generation of Luma's routes a sync calls: legacy (/v1/calendar/list-events,
        the seeds') or current (/v1/calendars/events/list); the warehouse keeps one shape
        either way. An account in the accounts file may set its own api_version.""",
        "legacy or current",
        "`legacy` or `current`: which generation of Luma's routes is called (also per account)",
    )
    luma_requests_per_minute: int | None = _setting(
        "LUMA_REQUESTS_PER_MINUTE",
        None,
        "Luma",
        """A hard cap on requests per minute per key, shared by the sync and the change sensor.
        Unset, each key is paced at 95% of the limit Luma announces on every answer (200 per
        minute for a calendar key, 500 for an organisation key).""",
        "a whole number of requests, 1 or more (unset: the limit Luma announces)",
        "a hard cap per key; unset, each key is paced at the limit Luma announces (200/min "
        "calendar key, 500/min organisation key)",
        ge=1,
    )
    luma_rate_window_seconds: float = _setting(
        "LUMA_RATE_WINDOW_SECONDS",
        60.0,
        "Luma",
        """The window of that budget, in seconds (tests scale it down).""",
        _SECONDS,
        "the request budget's window",
        gt=0,
        allow_inf_nan=False,
    )
    budget_dir: Path | None = _setting(
        "EVENTSYNC_BUDGET_DIR",
        None,
        "Luma",
        """Where each key's request budget lives: one SQLite file per key, shared by every
        process that sees this folder. Unset: the machine's temp folder.""",
        "a folder",
        "where the per-key request budgets live (one SQLite file per key, shared by every "
        "process that can see the folder); unset, the temp folder",
    )

    # --- Eventee
    eventee_api_token: Credential = _setting(
        "EVENTEE_API_TOKEN",
        None,
        "Eventee",
        """The event's public API token (one token is one event), sent as a Bearer token. It may
        instead live in .dlt/secrets.toml ([sources.eventee] api_token).""",
        "a token without spaces or control characters",
        "Eventee token of the default account",
        secret=True,
    )
    eventee_base_url: Url = _setting(
        "EVENTEE_BASE_URL",
        "https://api.eventee.co/public/v1",
        "Eventee",
        """The API's root, /public/v1 included.""",
        "an http:// or https:// URL with a host",
        "includes `/public/v1`",
    )

    # --- Warehouse
    duckdb_path: Path = _setting(
        "EVENTSYNC_DUCKDB_PATH",
        Path("data/eventsync.duckdb"),
        "Warehouse",
        """The DuckDB file; its folder is created and dlt's state is kept beside it.""",
        "a file path",
        "the DuckDB file (folder created)",
    )
    destination: Annotated[str, AfterValidator(_destination)] = _setting(
        "EVENTSYNC_DESTINATION",
        "duckdb",
        "Warehouse",
        """Any dlt destination instead of DuckDB, e.g. postgres, with its credentials in dlt's
        config, e.g. DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:password@host:5432/db.
        Unset, dlt's own DESTINATION_TYPE is used if set, else duckdb.""",
        "a dlt destination name such as duckdb or postgres",
        "any dlt destination, e.g. `postgres`, with credentials by dlt's config "
        "(`DESTINATION__POSTGRES__CREDENTIALS`); unset, dlt's `DESTINATION_TYPE`",
    )
    duckdb_memory_limit: Annotated[str, AfterValidator(_memory)] = _setting(
        "EVENTSYNC_DUCKDB_MEMORY_LIMIT",
        "256MB",
        "Warehouse",
        """DuckDB's memory cap while loading and checking; past it DuckDB spills to disk beside
        the file.""",
        "a size such as 256MB, 1.5GiB or 50% (of the machine's memory)",
        "DuckDB's memory cap while loading and checking (it spills to disk past it)",
    )
    lock_timeout_seconds: float = _setting(
        "EVENTSYNC_LOCK_TIMEOUT_SECONDS",
        3600.0,
        "Warehouse",
        """How long a load waits for another run's load, or for a process holding the DuckDB
        file open (a notebook), before it fails.""",
        _SECONDS,
        "how long a load waits for another run's load, or for a process holding the DuckDB "
        "file open",
        gt=0,
        allow_inf_nan=False,
    )
    reader_copy: Flag = _setting(
        "EVENTSYNC_READER_COPY",
        True,
        "Warehouse",
        """1: refresh data/eventsync.read.duckdb (beside the DuckDB file) after every load, a
        copy analysts query without ever blocking a sync. 0: off.""",
        _FLAG,
        "refresh `data/eventsync.read.duckdb` after every load, for analysts (`0`: off)",
    )
    hard_delete: Flag = _setting(
        "EVENTSYNC_HARD_DELETE",
        False,
        "Warehouse",
        """1 deletes the rows that vanished from a complete listing of the vendor. 0 keeps them
        and marks them with _deleted_at, so history survives and analysts filter them out.""",
        _FLAG,
        "`1` deletes rows that vanished from a complete listing instead of marking `_deleted_at`",
    )

    # --- What a sync reads
    accounts_file: Path = _setting(
        "EVENTSYNC_ACCOUNTS_FILE",
        Path("accounts.toml"),
        "What a sync reads",
        """Several Luma calendars / Eventee events: a TOML file naming each account and the
        variable that holds its key (see accounts.example.toml). Set, the file must exist.
        Unset: accounts.toml where Dagster runs, if any, else one account per vendor
        ("default", keyed by LUMA_API_KEY / EVENTEE_API_TOKEN).""",
        "a file path",
        "several calendars / events (below)",
    )
    guest_refresh_days: int = _setting(
        "EVENTSYNC_GUEST_REFRESH_DAYS",
        30,
        "What a sync reads",
        """Guests of events that ended more than this many days ago are read once more, then
        kept.""",
        "a whole number of days, 0 or more",
        "guests of events that ended longer ago are read once more, then kept",
        ge=0,
    )
    full_refresh: Flag = _setting(
        "EVENTSYNC_FULL_REFRESH",
        False,
        "What a sync reads",
        """1 reads the guests of every event again (e.g. once after changing the window).""",
        _FLAG,
        "`1` reads the guests of every event again",
    )

    # --- HTTP
    request_timeout_seconds: float = _setting(
        "EVENTSYNC_REQUEST_TIMEOUT_SECONDS",
        30.0,
        "HTTP",
        """Per request, in seconds.""",
        _SECONDS,
        "per request",
        gt=0,
        allow_inf_nan=False,
    )
    request_max_attempts: int = _setting(
        "EVENTSYNC_REQUEST_MAX_ATTEMPTS",
        4,
        "HTTP",
        """Attempts per request (429, 5xx, timeouts and dropped connections are retried).""",
        "a whole number of attempts, 1 or more",
        "attempts per request; 429, 5xx, timeouts and dropped connections are retried",
        ge=1,
    )
    retry_backoff_factor: float = _setting(
        "EVENTSYNC_RETRY_BACKOFF_FACTOR",
        2.0,
        "HTTP",
        """Exponential backoff factor between attempts (Retry-After wins when the server sends
        it).""",
        "a number, 0 or more",
        "exponential backoff between attempts; `Retry-After` wins",
        ge=0,
        allow_inf_nan=False,
    )
    retry_max_delay_seconds: float = _setting(
        "EVENTSYNC_RETRY_MAX_DELAY_SECONDS",
        120.0,
        "HTTP",
        """The longest wait between attempts, Retry-After included.""",
        "a number of seconds, 0 or more",
        "the longest wait between attempts, `Retry-After` included",
        ge=0,
        allow_inf_nan=False,
    )
    step_retries: int = _setting(
        "EVENTSYNC_STEP_RETRIES",
        2,
        "HTTP",
        """How often a sync step is run again after a transient failure (a vendor outage, a busy
        warehouse) that outlasted the HTTP retries; permanent ones (a key, a setting) never are.""",
        "a whole number of retries, 0 or more",
        "step retries after a transient failure (outage, busy warehouse); never a permanent one",
        ge=0,
    )
    step_retry_delay_seconds: float = _setting(
        "EVENTSYNC_STEP_RETRY_DELAY_SECONDS",
        30.0,
        "HTTP",
        """Wait before the first step retry, doubled for each one after it.""",
        "a number of seconds, 0 or more",
        "wait before the first step retry, doubled after",
        ge=0,
        allow_inf_nan=False,
    )

    # --- Schedules and sensors
    daily_cron: Annotated[str, AfterValidator(_cron)] = _setting(
        "EVENTSYNC_DAILY_CRON",
        "0 6 * * *",
        "Schedules and sensors",
        """When the daily schedules run (a five-field cron expression).""",
        "a five-field cron expression such as '0 6 * * *', on a day that exists",
        "when the daily schedules run",
    )
    timezone: Annotated[str, AfterValidator(_timezone)] = _setting(
        "EVENTSYNC_TIMEZONE",
        "UTC",
        "Schedules and sensors",
        """The timezone of that cron and of the checks' schedule (an IANA name).""",
        "an IANA timezone name such as UTC or Europe/Prague",
        "the schedules' timezone",
    )
    sensor_tick_seconds: float = _setting(
        "EVENTSYNC_SENSOR_TICK_SECONDS",
        50.0,
        "Schedules and sensors",
        """How long a change sensor's tick waits for its accounts' polls (Dagster cancels a tick at
        60 s); accounts not heard from go first next tick.""",
        "a number of seconds above 0 and below 60",
        "how long a sensor tick waits for its polls (Dagster stops a tick at 60 s)",
        gt=0,
        lt=60,
        allow_inf_nan=False,
    )
    sensor_interval_seconds: int = _setting(
        "EVENTSYNC_SENSOR_INTERVAL_SECONDS",
        300,
        "Schedules and sensors",
        """How often the change sensors poll the vendors, in seconds.""",
        "a whole number of seconds, 1 or more",
        "how often the change sensors poll",
        ge=1,
    )
    freshness_hours: float = _setting(
        "EVENTSYNC_FRESHNESS_HOURS",
        26.0,
        "Schedules and sensors",
        """The freshness check warns when a table's last sync is older than this many hours.""",
        "a number of hours greater than 0",
        "the freshness check's window",
        gt=0,
        allow_inf_nan=False,
    )
    progress_seconds: float = _setting(
        "EVENTSYNC_PROGRESS_SECONDS",
        10.0,
        "Schedules and sensors",
        """How often a long sync logs its progress, in seconds (0: at every step).""",
        "a number of seconds, 0 or more",
        "how often a long sync logs its progress",
        ge=0,
        allow_inf_nan=False,
    )

    # --- Privacy
    hash_pii: Flag = _setting(
        "EVENTSYNC_HASH_PII",
        False,
        "Privacy",
        """1 stores guests' and participants' emails and phone numbers as salted SHA-256 (the
        same person hashes the same in every table, so they still join).""",
        _FLAG,
        "store guests' and participants' emails and phones as salted SHA-256",
    )
    pii_salt: SecretStr | None = _setting(
        "EVENTSYNC_PII_SALT",
        None,
        "Privacy",
        """The salt of that hash; required when EVENTSYNC_HASH_PII=1. Keep it secret and never
        change it (another salt gives other hashes).""",
        "any text",
        "the salt of that hash (required with `EVENTSYNC_HASH_PII=1`)",
        secret=True,
    )

    def is_set(self, field: str) -> bool:
        """Whether the environment gave this field (rather than its default)."""
        return field in self.model_fields_set


def _meta(field: str) -> dict[str, Any]:
    extra = Settings.model_fields[field].json_schema_extra
    assert isinstance(extra, dict)
    return extra


def variable(field: str) -> str:
    """The environment variable of a Settings field, e.g. `lock_timeout_seconds` ->
    `EVENTSYNC_LOCK_TIMEOUT_SECONDS`."""
    alias = Settings.model_fields[field].alias
    assert alias is not None
    return alias


FIELDS: dict[str, str] = {variable(name): name for name in Settings.model_fields}
"""Each variable, in `.env.example` order, and its Settings field."""

VARIABLES: tuple[str, ...] = tuple(FIELDS)


def _read(environ: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The set variables (empty is unset; whitespace around a plain value is dropped), and the
    variable each was read from (dlt's DESTINATION_TYPE stands in for EVENTSYNC_DESTINATION)."""
    values: dict[str, str] = {}
    read_from: dict[str, str] = {}
    for name, field in FIELDS.items():
        source = name
        value = environ.get(name, "")
        if not value.strip() and field == "destination":
            source, value = DESTINATION_FALLBACK, environ.get(DESTINATION_FALLBACK, "")
        if not value.strip():
            continue
        values[name] = value if _meta(field)["secret"] else value.strip()
        read_from[name] = source
    return values, read_from


def _shown_value(value: str) -> str:
    if len(value) > 80:
        value = value[:77] + "..."
    return shlex.quote(value) if value.isprintable() else repr(value)


def _problems(
    error: ValidationError, values: Mapping[str, str], read_from: Mapping[str, str]
) -> dict[str, str]:
    """One line per bad variable, in `.env.example` order; never a secret's value."""
    bad = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
    lines: dict[str, str] = {}
    for name in VARIABLES:
        if name not in bad:
            continue
        meta = _meta(FIELDS[name])
        source = read_from.get(name, name)
        if meta["secret"]:
            lines[name] = f"{source} is not valid (value not shown): {meta['accepts']}"
        else:
            shown = _shown_value(values[name])
            lines[name] = f"{source}={shown} is not valid: {meta['accepts']}"
    if len(lines) < len(bad):  # not a field's error: still one line, still without values
        lines["?"] = "; ".join(e["msg"] for e in error.errors(include_input=False))
    return lines


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from `environ` (default: os.environ); `SettingsError` names every bad one."""
    values, read_from = _read(_environ(environ))
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise SettingsError(list(_problems(error, values, read_from).values())) from None


def load_lenient(environ: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
    """The settings, every bad value replaced by its default, and a line per replaced value.

    For code that runs while Dagster loads the definitions: a typo in the cron must not keep
    the UI from opening; the caller logs the lines (or shows them as a schedule's description).
    """
    values, read_from = _read(_environ(environ))
    try:
        return Settings.model_validate(values), []
    except ValidationError as error:
        problems = _problems(error, values, read_from)
    kept = {name: value for name, value in values.items() if name not in problems}
    settings = Settings.model_validate(kept)
    lines = [
        f"{line}; using the default ({_default_text(FIELDS[name]) or 'unset'})"
        for name, line in problems.items()
    ]
    return settings, lines


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _default_text(field: str) -> str:
    """The default as a variable would spell it: `3600`, `1`, `` for none."""
    meta = _meta(field)
    if "shown" in meta:
        return str(meta["shown"])
    default = Settings.model_fields[field].default
    if default is None:
        return ""
    if isinstance(default, bool):
        return "1" if default else "0"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


_HEADER = """\
Every environment variable eventsync_dagster reads, each with its default. Generated from
eventsync_dagster/settings.py (python -m eventsync_dagster.settings env-example > .env.example):
edit that, not this file. Copy it to .env (git-ignored): every line is commented out with its
default, so the copy changes nothing until you uncomment a line and set it. Dagster's CLI and UI
load .env from the folder they start in, and a value in .env wins over an exported variable of
the same name. Keys may instead live in .dlt/secrets.toml ([sources.luma] api_key,
[sources.eventee] api_token). An empty value is the same as unset."""


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, _WIDTH - 2)]


def env_example() -> str:
    """The whole `.env.example`: a section per group, each variable explained, all commented."""
    lines = [f"# {line}" if line else "#" for line in _HEADER.splitlines()]
    for section in SECTIONS:
        lines += ["", f"# --- {section} ".ljust(_WIDTH, "-")]
        for name, field in FIELDS.items():
            if _meta(field)["section"] != section:
                continue
            lines += _comment(Settings.model_fields[field].description or "")
            lines.append(f"# {name}={_default_text(field)}")
    return "\n".join(lines) + "\n"


def markdown_table() -> str:
    """The README's table of variables (variable | default | what)."""
    rows = ["| variable | default | what |", "|---|---|---|"]
    for name, field in FIELDS.items():
        default = _default_text(field)
        cell = f"`{default}`" if default else "—"
        rows.append(f"| `{name}` | {cell} | {_meta(field)['summary']} |")
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the documentation of the settings.")
    parser.add_argument("what", choices=("env-example", "table"))
    args = parser.parse_args(argv)
    sys.stdout.write(env_example() if args.what == "env-example" else markdown_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
