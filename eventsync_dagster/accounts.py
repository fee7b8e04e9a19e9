"""Several Luma calendars and Eventee events in one deployment: the accounts file.

Each account names the environment variable that holds its key (never the key itself), and every
row it loads carries the account's name in the `account` column, part of every primary key.
Without a file there is one account per vendor, `default`, keyed by `LUMA_API_KEY` /
`EVENTEE_API_TOKEN`.
"""

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from eventsync_dagster.eventee import source as eventee
from eventsync_dagster.luma import source as luma
from eventsync_dagster.luma.routes import GENERATIONS
from eventsync_dagster.spec import DEFAULT_ACCOUNT
from eventsync_dagster.tables import VENDORS

ACCOUNTS_FILE_VARIABLE = "EVENTSYNC_ACCOUNTS_FILE"
DEFAULT_ACCOUNTS_FILE = "accounts.toml"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]*$")

CREDENTIAL_VARIABLES = {"luma": luma.API_KEY_VARIABLE, "eventee": eventee.API_TOKEN_VARIABLE}
"""The default account's key variable per vendor."""


class AccountsFileError(ValueError):
    pass


@dataclass(frozen=True)
class Account:
    vendor: str
    name: str
    """Stored in every row's `account` column."""
    credential_variable: str
    """The environment variable holding this account's key."""
    base_url: str | None = None
    """None: the vendor's base URL setting (`LUMA_BASE_URL` / `EVENTEE_BASE_URL`, or the host)."""
    api_version: str | None = None
    """Luma only: `legacy` or `current` routes for this calendar; None: `LUMA_API_VERSION`."""

    @property
    def dlt_secret_key(self) -> str:
        """Where dlt's secrets.toml may hold the key instead: `[sources.luma] api_key` for the
        default account, `[sources.luma.<name>] api_key` for the others."""
        name = "api_key" if self.vendor == "luma" else "api_token"
        if self.name == DEFAULT_ACCOUNT:
            return f"sources.{self.vendor}.{name}"
        return f"sources.{self.vendor}.{self.name}.{name}"


def default_accounts(vendor: str) -> tuple[Account, ...]:
    return (Account(vendor, DEFAULT_ACCOUNT, CREDENTIAL_VARIABLES[vendor]),)


def accounts_file() -> Path | None:
    """`$EVENTSYNC_ACCOUNTS_FILE` (which must exist), else `accounts.toml` where Dagster runs."""
    configured = os.environ.get(ACCOUNTS_FILE_VARIABLE)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise AccountsFileError(f"{ACCOUNTS_FILE_VARIABLE} names {path}, which does not exist")
        return path
    path = Path(DEFAULT_ACCOUNTS_FILE)
    return path if path.is_file() else None


def load_accounts(vendor: str, path: Path | None = None) -> tuple[Account, ...]:
    """The vendor's accounts, in file order; the default account when the file lists none."""
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor {vendor!r}")
    path = path or accounts_file()
    if path is None:
        return default_accounts(vendor)
    try:
        entries = tomllib.loads(path.read_text()).get(vendor, [])
    except tomllib.TOMLDecodeError as error:
        raise AccountsFileError(f"{path} is not valid TOML: {error}") from None
    accounts = tuple(_account(vendor, entry, path) for entry in entries)
    names = [a.name for a in accounts]
    if len(set(names)) != len(names):
        raise AccountsFileError(f"{path}: account names repeat under [[{vendor}]]")
    return accounts or default_accounts(vendor)


def _account(vendor: str, entry: object, path: Path) -> Account:
    if not isinstance(entry, dict):
        raise AccountsFileError(f"{path}: each [[{vendor}]] entry is a table")
    name = entry.get("name", "")
    variable = entry.get("credential_variable") or (
        CREDENTIAL_VARIABLES[vendor] if name == DEFAULT_ACCOUNT else ""
    )
    if not _NAME.match(str(name)):
        raise AccountsFileError(
            f"{path}: [[{vendor}]] name {name!r} must be lowercase letters, digits, - or _"
        )
    if not _VARIABLE.match(str(variable)):
        raise AccountsFileError(
            f"{path}: [[{vendor}]] {name} needs credential_variable, the name of the environment "
            "variable holding its key (e.g. LUMA_API_KEY_BERLIN)"
        )
    known = {"name", "credential_variable", "base_url"} | (
        {"api_version"} if vendor == "luma" else set()
    )
    unknown = set(entry) - known
    if unknown:
        raise AccountsFileError(f"{path}: [[{vendor}]] {name} has unknown keys {sorted(unknown)}")
    version = entry.get("api_version")
    if version not in (None, *GENERATIONS):
        raise AccountsFileError(
            f"{path}: [[{vendor}]] {name} api_version must be {' or '.join(GENERATIONS)}"
        )
    return Account(vendor, str(name), str(variable), entry.get("base_url"), version)
