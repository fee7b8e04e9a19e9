"""Dagster resources shared by the vendors: the account-aware base of each vendor's resource
(`luma/defs.py`, `eventee/defs.py`), and the warehouse.

Every setting resolves when a run starts, in one order: the resource's config (set in code or in
the launchpad), then the environment variable (Dagster loads `.env` into it), then dlt's own
config (`.dlt/secrets.toml`), then the default. Keys are never config (the UI would show them):
each account in the accounts file names the variable that holds its key, and dlt's secrets
(`[sources.luma] api_key`) come after it. Resolving at run time,
rather than binding `EnvVar`s at load time, lets the definitions load without any key (the UI
opens on a fresh clone) while a run without one fails with one line naming the variable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

import dagster as dg
import dlt
from dlt.extract.source import DltSource
from pydantic import Field

from eventsync_dagster.accounts import Account, AccountsFileError, load_accounts
from eventsync_dagster.http import HttpSettings, VendorClient
from eventsync_dagster.settings import Settings
from eventsync_dagster.settings import load as load_settings
from eventsync_dagster.warehouse import Warehouse


def from_environment(variable: str, dlt_key: str) -> str | None:
    """The environment (with Dagster's `.env`), then dlt's config (secrets.toml, config.toml)."""
    if value := dg.EnvVar(variable).get_value():
        return value
    return dlt.config.get(dlt_key)


def http_settings(settings: Settings | None = None) -> HttpSettings:
    """Retry and timeout policy from the settings (tests shorten the backoff)."""
    s = settings or load_settings()
    return HttpSettings(
        timeout=s.request_timeout_seconds,
        max_attempts=s.request_max_attempts,
        backoff_factor=s.retry_backoff_factor,
        max_retry_delay=s.retry_max_delay_seconds,
    )


def pii_arguments(settings: Settings) -> dict[str, Any]:
    """The sources' `hash_pii` and `pii_salt` arguments."""
    salt = settings.pii_salt
    return {"hash_pii": settings.hash_pii, "pii_salt": salt.get_secret_value() if salt else None}


class VendorResource(dg.ConfigurableResource):
    """A vendor's accounts (accounts.py) and how to reach them; keys come from the environment."""

    account: str | None = Field(
        default=None,
        description="Only this account of the accounts file (schedules and sensors launch one "
        "run per account); by default every account, read at the same time.",
    )

    vendor: ClassVar[str]
    base_url_variable: ClassVar[str]
    default_base_url: ClassVar[str]

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

    def base_url(self, account: Account) -> str:
        return (
            account.base_url
            or from_environment(self.base_url_variable, f"sources.{self.vendor}.base_url")
            or self.default_base_url
        )

    def base_url_origin(self, account: Account) -> str:
        """Where the account's base URL is set, for a person to fix it."""
        if account.base_url:
            return f"base_url of {account.name} in the accounts file"
        return self.base_url_variable

    def client(self, account: Account, http: HttpSettings | None = None) -> VendorClient:
        """A client for one account (its key, base URL and budget)."""
        raise NotImplementedError

    def source(
        self,
        client: VendorClient,
        account: Account,
        log: Callable[[str], None] | None = None,
        arrow_pages: bool = False,
    ) -> DltSource:
        """A fresh dlt source per run (a reused one fails on its second run, dagster#34052);
        `arrow_pages` where the warehouse loads Arrow tables (`Warehouse.loads_arrow`)."""
        raise NotImplementedError


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
        return replace(
            default,
            destination=self.destination or default.destination,
            duckdb_path=self.duckdb_path or default.duckdb_path,
        )
