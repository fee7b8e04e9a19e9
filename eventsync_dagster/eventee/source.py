"""Eventee as a pure dlt source: seven programme tables from one `/content` call, plus one
request each for partners, participants, groups, reviews and registrations.

The seed's config requests `/content` once per table; here one unselected parent resource reads
it once per run and a transformer per table picks its list, so each table stays its own resource
(and its own Dagster asset).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dlt
from dlt.extract.resource import DltResource
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth

from eventsync_dagster import pii
from eventsync_dagster.arrow import as_arrow
from eventsync_dagster.eventee.tables import CONTENT_TABLES, TABLES
from eventsync_dagster.http import (
    ALL,
    HttpSettings,
    VendorClient,
    require_credential,
)
from eventsync_dagster.progress import Progress
from eventsync_dagster.rows import loadable
from eventsync_dagster.spec import DEFAULT_ACCOUNT, Table

DEFAULT_BASE_URL = "https://api.eventee.co/public/v1"
API_TOKEN_VARIABLE = "EVENTEE_API_TOKEN"


def eventee_client(
    api_token: str | None,
    base_url: str = DEFAULT_BASE_URL,
    *,
    http: HttpSettings | None = None,
    credential_variable: str = API_TOKEN_VARIABLE,
    dlt_secret_key: str = "sources.eventee.api_token",
    base_url_variable: str = "EVENTEE_BASE_URL",
) -> VendorClient:
    """`credential_variable` and `dlt_secret_key` say where the token comes from, and
    `base_url_variable` where the URL does, for messages."""
    api_token = require_credential(api_token, credential_variable, dlt_secret_key)
    return VendorClient(
        vendor="Eventee",
        credential_variable=credential_variable,
        base_url=base_url,
        auth=BearerTokenAuth(token=api_token),
        settings=http or HttpSettings(),
        base_url_variable=base_url_variable,
    )


ONE_OBJECT = ("registrations",)
"""Listings that answer a bare object when they hold one record (seen on `/registrations`)."""


def rows_of(body: Any, table: Table) -> list[dict[str, Any]] | None:
    """A listing's records, or None when `body` is not a listing: the seed's `{data: [...]}`, the
    real API's bare list, or, where Eventee does that, one bare record carrying its key. Any
    other object (an error body sent with a 200) is not taken for a record."""
    if isinstance(body, dict) and table.name in ONE_OBJECT and "data" not in body:
        keyed = all(body.get(column) is not None for column in table.natural_key)
        rows: Any = [body] if keyed else None
    elif isinstance(body, dict):
        rows = body.get("data")
    else:
        rows = body
    if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
        return rows
    return None


def listing_shape(table: Table) -> Callable[[Any], str | None]:
    def shape(body: Any) -> str | None:
        if rows_of(body, table) is None:
            one = ", nor one record" if table.name in ONE_OBJECT else ""
            return f"neither a list of objects nor {{data: [...]}}{one}"
        return None

    return shape


def read_listing(client: VendorClient, table: Table) -> list[dict[str, Any]]:
    """A listing's records, in one request (the sync's and the change poll's)."""
    return rows_of(client.get_json(table.endpoint, listing_shape(table)), table) or []


def content_shape(body: Any) -> str | None:
    if not isinstance(body, dict) or not body:
        return "no object of programme lists"
    if not all(isinstance(body.get(name, []), list) for name in CONTENT_TABLES):
        return "a programme entry that is not a list"
    return None


@dlt.source(name="eventee", max_table_nesting=0)
def eventee_source(
    api_token: str | None = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    http: HttpSettings | None = None,
    client: VendorClient | None = None,
    log: Callable[[str], None] | None = None,
    hash_pii: bool = False,
    pii_salt: str | None = None,
    account: str = DEFAULT_ACCOUNT,
    arrow_pages: bool = False,
) -> list[DltResource]:
    """All twelve Eventee tables in six requests per run.

    `hash_pii` stores the emails and phone numbers of participants, registrations and speakers
    as salted SHA-256 (`pii.py`). Every row carries `account`, the event's name in the accounts
    file. `arrow_pages` hands dlt Arrow tables (`arrow.py`), for destinations that load them as
    they are.
    """
    salt = pii.require_salt(pii_salt) if hash_pii else None
    client = client or eventee_client(api_token, base_url, http=http)
    progress = Progress("eventee", client.stats, log, account=account)

    @dlt.resource(name="content", selected=False)
    def content() -> Iterator[dict[str, Any]]:
        yield client.get_json("/content", content_shape)

    def content_table(spec: Table) -> DltResource:
        def pick(body: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
            rows = body.get(spec.name) or []
            progress.add(**{f"{spec.name}_read": len(rows)})
            yield rows
            client.stats.read_completely(spec.name, ALL)

        return dlt.transformer(pick, data_from=content, **spec.dlt_resource_hints())

    def listing(spec: Table) -> DltResource:
        def read() -> Iterator[list[dict[str, Any]]]:
            rows = read_listing(client, spec)
            progress.add(**{f"{spec.name}_read": len(rows)})
            yield rows
            client.stats.read_completely(spec.name, ALL)

        return dlt.resource(read, **spec.dlt_resource_hints())

    tables = [
        loadable(
            content_table(spec) if spec.name in CONTENT_TABLES else listing(spec), spec, progress
        )
        for spec in TABLES
    ]
    if salt:
        tables = [pii.protect(r, spec, salt) for r, spec in zip(tables, TABLES, strict=True)]
    if arrow_pages:
        tables = [as_arrow(r, spec) for r, spec in zip(tables, TABLES, strict=True)]
    return [*tables, content]
