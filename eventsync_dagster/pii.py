"""Optional PII protection: guest, participant and speaker emails and phone numbers are stored
as salted SHA-256 digests instead of the values (`EVENTSYNC_HASH_PII=1`, salt in
`EVENTSYNC_PII_SALT`).

A digest is `sha256(salt + normalised value)` as 64 lowercase hex characters. Values are
normalised first, so one person hashes the same in every table and from either vendor: an email
is stripped and lowercased; a phone number keeps its digits and a leading `+`. The same salt must
be used for every run (another salt gives other digests, and merges on a hashed key such as
`eventee.participants.email` would then duplicate people). Plain dlt code turns it on with the
sources' `hash_pii` and `pii_salt` arguments; the Dagster resources read the settings.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from dlt.extract.resource import DltResource

from eventsync_dagster.http import MissingCredentials
from eventsync_dagster.spec import EMAIL, Table

HASH_PII_VARIABLE = "EVENTSYNC_HASH_PII"
SALT_VARIABLE = "EVENTSYNC_PII_SALT"


_NOT_PHONE_CHARS = re.compile(r"[^\d+]")


def normalise(value: str, kind: str) -> str:
    value = value.strip()
    if kind == EMAIL:
        return value.lower()
    digits = _NOT_PHONE_CHARS.sub("", value)
    return digits[:1] + digits[1:].replace("+", "")


def pii_hash(value: str, kind: str, salt: str) -> str:
    """The stored digest of one email or phone number (compute it to look a person up)."""
    return hashlib.sha256((salt + normalise(value, kind)).encode("utf-8")).hexdigest()


def require_salt(salt: str | None) -> str:
    """The salt, or one line naming the variable (checked before any request)."""
    if not salt:
        raise MissingCredentials(
            f"{SALT_VARIABLE} is not set: {HASH_PII_VARIABLE}=1 stores emails and phone numbers "
            f"as salted SHA-256 and needs a long random salt; export it or add it to .env, and "
            f"keep it (another salt gives other hashes)"
        )
    return salt


def hasher(fields: Mapping[str, str], salt: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A record map that replaces the given fields by their digests (nulls and "" stay)."""

    def hash_record(record: dict[str, Any]) -> dict[str, Any]:
        out = dict(record)
        for name, kind in fields.items():
            value = out.get(name)
            if value is not None and value != "":
                out[name] = pii_hash(str(value), kind, salt)
        return out

    return hash_record


def protect(resource: DltResource, spec: Table, salt: str) -> DltResource:
    """Hash the table's personal fields, if it has any (a dlt `add_map`, after the key check)."""
    return resource.add_map(hasher(spec.personal, salt)) if spec.personal else resource
