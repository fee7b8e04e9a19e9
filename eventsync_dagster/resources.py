"""Dagster resources: the vendors' credentials and settings, and the warehouse.

Every setting resolves when a run starts, in one order: the resource's config (set in code or in
the launchpad), then the environment variable (Dagster loads `.env` into it), then dlt's own
config (`.dlt/secrets.toml`), then the default. Keys are never config (the UI would show them):
each account in the accounts file names the variable that holds its key, and dlt's secrets
(`[sources.luma] api_key`) come after it. Resolving at run time,
rather than binding `EnvVar`s at load time, lets the definitions load without any key (the UI
opens on a fresh clone) while a run without one fails with one line naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import dagster as dg
import dlt
from dlt.extract.source import DltSource
from pydantic import Field

from eventsync_dagster.accounts import Account, AccountsFileError, load_accounts
from eventsync_dagster.sources import pii
from eventsync_dagster.sources.eventee import (
    DEFAULT_BASE_URL as EVENTEE_DEFAULT_BASE_URL,
)
from eventsync_dagster.sources.eventee import eventee_client, eventee_source
from eventsync_dagster.sources.http import HttpSettings, VendorClient
from eventsync_dagster.sources.luma import (
    DEFAULT_BASE_URL as LUMA_DEFAULT_BASE_URL,
)
from eventsync_dagster.sources.luma import luma_client, luma_source
from eventsync_dagster.warehouse import Warehouse


def from_environment(variable: str, dlt_key: str) -> str | None:
    """The environment (with Dagster's `.env`), then dlt's config (secrets.toml, config.toml)."""
    if value := dg.EnvVar(variable).get_value():
        return value
    return dlt.config.get(dlt_key)


def _number(variable: str, default: float) -> float:
    value = os.environ.get(variable)
    return float(value) if value else default


def http_settings() -> HttpSettings:
    """Retry and timeout policy, tunable by env (tests shorten the backoff)."""
    defaults = HttpSettings()
    return HttpSettings(
        timeout=_number("EVENTSYNC_REQUEST_TIMEOUT_SECONDS", defaults.timeout),
        max_attempts=int(_number("EVENTSYNC_REQUEST_MAX_ATTEMPTS", defaults.max_attempts)),
        backoff_factor=_number("EVENTSYNC_RETRY_BACKOFF_FACTOR", defaults.backoff_factor),
        max_retry_delay=_number("EVENTSYNC_RETRY_MAX_DELAY_SECONDS", defaults.max_retry_delay),
    )


class VendorResource(dg.ConfigurableResource):
    """A vendor's accounts (accounts.py) and how to reach them; keys come from the environment."""

    account: str | None = Field(
        default=None,
        description="Only this account of the accounts file (schedules and sensors launch one "
        "run per account); by default every account, one after another.",
    )

    vendor: ClassVar[str]

    def accounts(self) -> tuple[Account, ...]:
        accounts = load_accounts(self.vendor)
        if self.account is None:
            return accounts
        chosen = tuple(a for a in accounts if a.name == self.account)
        if not chosen:
            known = ", ".join(a.name for a in accounts)
            raise AccountsFileError(f"no {self.vendor} account {self.account!r} (known: {known})")
        return chosen

    def credential(self, account: Account) -> str | None:
        return from_environment(account.credential_variable, account.dlt_secret_key)

    def base_url(self, account: Account, variable: str, default: str) -> str:
        return (
            account.base_url
            or from_environment(variable, f"sources.{self.vendor}.base_url")
            or default
        )


class LumaResource(VendorResource):
    """Luma calendars: their keys and how hard to use them."""

    vendor: ClassVar[str] = "luma"
    requests_per_minute: int | None = Field(
        default=None,
        description="A cap on requests per minute per key; defaults to $LUMA_REQUESTS_PER_MINUTE, "
        "else none: the key is paced at the limit Luma announces (200 for a calendar key, 500 "
        "for an organisation key).",
    )
    guest_refresh_days: int | None = Field(
        default=None,
        description="Guests of events that ended longer ago are read once more, then kept; "
        "defaults to $EVENTSYNC_GUEST_REFRESH_DAYS, then 30.",
    )
    full_refresh: bool = Field(
        default=False,
        description="Read the guests of every event again ($EVENTSYNC_FULL_REFRESH=1).",
    )

    def refresh_days(self) -> int:
        if self.guest_refresh_days is not None:
            return self.guest_refresh_days
        return int(_number("EVENTSYNC_GUEST_REFRESH_DAYS", 30))

    def client(self, account: Account, http: HttpSettings | None = None) -> VendorClient:
        return luma_client(
            self.credential(account),
            self.base_url(account, "LUMA_BASE_URL", LUMA_DEFAULT_BASE_URL),
            requests_per_minute=self.requests_per_minute
            or (int(cap) if (cap := os.environ.get("LUMA_REQUESTS_PER_MINUTE")) else None),
            rate_window_seconds=_number("LUMA_RATE_WINDOW_SECONDS", 60.0),
            budget_dir=Path(folder) if (folder := os.environ.get("EVENTSYNC_BUDGET_DIR")) else None,
            http=http or http_settings(),
            credential_variable=account.credential_variable,
            dlt_secret_key=account.dlt_secret_key,
        )

    def source(
        self, client: VendorClient, account: Account, log: Callable[[str], None] | None = None
    ) -> DltSource:
        """A fresh dlt source per run (a reused one fails on its second run, dagster#34052)."""
        return luma_source(
            client=client,
            guest_refresh_days=self.refresh_days(),
            full_refresh=self.full_refresh or os.environ.get("EVENTSYNC_FULL_REFRESH") == "1",
            log=log,
            account=account.name,
            **pii.settings_from_env(),
        )


class EventeeResource(VendorResource):
    """Eventee events (one token is one event)."""

    vendor: ClassVar[str] = "eventee"

    def client(self, account: Account, http: HttpSettings | None = None) -> VendorClient:
        return eventee_client(
            self.credential(account),
            self.base_url(account, "EVENTEE_BASE_URL", EVENTEE_DEFAULT_BASE_URL),
            http=http or http_settings(),
            credential_variable=account.credential_variable,
            dlt_secret_key=account.dlt_secret_key,
        )

    def source(
        self, client: VendorClient, account: Account, log: Callable[[str], None] | None = None
    ) -> DltSource:
        return eventee_source(
            client=client, log=log, account=account.name, **pii.settings_from_env()
        )


class WarehouseResource(dg.ConfigurableResource):
    """The destination: DuckDB at $EVENTSYNC_DUCKDB_PATH, or any dlt destination by config."""

    destination: str | None = Field(
        default=None,
        description="A dlt destination name; defaults to $EVENTSYNC_DESTINATION, then "
        "dlt's $DESTINATION_TYPE, then duckdb.",
    )
    duckdb_path: str | None = Field(
        default=None,
        description="Defaults to $EVENTSYNC_DUCKDB_PATH, then data/eventsync.duckdb.",
    )

    def warehouse(self) -> Warehouse:
        default = Warehouse.from_env()
        return Warehouse(
            destination=self.destination or default.destination,
            duckdb_path=self.duckdb_path or default.duckdb_path,
            lock_timeout=default.lock_timeout,
        )
