"""Fault switches, so tests can make the fake APIs misbehave the ways real vendors do."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

# Module-level so Faults stays a plain, copyable dataclass (asdict/replace work).
_LOCK = threading.Lock()
DEEP_NESTING = 300
"""Deeper than orjson (254) and DuckDB's JSON go."""


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth - 1):
        value = {"next": value}
    return value


@dataclass
class Faults:
    """All off by default; fields may be changed while the server runs.

    Counters (``rate_limit_429``, ``status_burst``, ``truncate_json``, ``non_json`` and a
    non-negative ``slow_count``) count down as matching requests are answered.
    """

    rate_limit_429: int = 0
    retry_after: float = 1
    status_burst: int = 0
    burst_status: int = 503
    burst_paths: tuple[str, ...] = ()
    slow_seconds: float = 0
    slow_paths: tuple[str, ...] = ()
    slow_count: int = -1
    truncate_json: int = 0
    non_json: int = 0
    drop_connection_after: int = -1
    duplicate_across_pages: bool = False
    null_required_every: int = 0
    null_field_every: int = 0
    null_field: str = "name"
    extra_fields: dict[str, object] = field(default_factory=dict)
    eventee_bare_lists: bool = False
    meet_at_once: int = 0
    """Hold answers until this many requests are waiting at once (up to 60 s), then switch off:
    shows that clients fetch at the same time."""
    repeat_cursor: bool = False
    """Luma pages point back at the first page's cursor, with `has_more` true: never ends."""
    more_without_cursor: bool = False
    """Luma pages say `has_more` but send no `next_cursor`."""
    wrong_shape: int = 0
    wrong_shape_body: Any = None
    """A countdown: answer 200 with this JSON body (null, a string, {}, a list) instead."""
    wrong_shape_paths: tuple[str, ...] = ()
    guest_status: dict[str, int] = field(default_factory=dict)
    """event_api_id -> status its guests answer with (404: deleted mid-sync, 403: external)."""
    trickle_bytes_per_second: float = 0
    """Send bodies at this pace (0: at once); slow_paths selects the paths."""
    deep_nesting_every: int = 0
    """Every k-th Luma event carries a field nested 300 levels deep."""
    luma_rate_limit: int = 0
    luma_rate_window: float = 60.0
    luma_block_seconds: float = 60.0

    def take(self, name: str) -> bool:
        """Consume one unit of a countdown switch; True if the fault fires for this request."""
        with _LOCK:
            left = getattr(self, name)
            if left <= 0:
                return False
            setattr(self, name, left - 1)
            return True

    @staticmethod
    def matches(path: str, prefixes: tuple[str, ...]) -> bool:
        """Empty means every path; else path prefixes, e.g. "/v1/" or "/public/v1/content"."""
        return not prefixes or any(path.startswith(p) for p in prefixes)

    @property
    def shapes_records(self) -> bool:
        """Whether shape() would change anything (lets the server skip copying records)."""
        return (
            self.null_required_every > 0
            or self.null_field_every > 0
            or self.deep_nesting_every > 0
            or bool(self.extra_fields)
        )

    def shape(self, records: list[Any], pk: str, start: int = 0) -> list[Any]:
        """Apply the record-level faults to copies, keeping the dataset itself clean.

        ``start`` is the position of ``records[0]`` in the whole collection, so "every k-th
        record" means the same records however the client pages.
        """
        if not self.shapes_records:
            return records
        k_pk, k_field, extra = self.null_required_every, self.null_field_every, self.extra_fields
        out = []
        for pos, rec in enumerate(records, start + 1):
            rec = {**rec, **extra}
            if k_pk > 0 and pos % k_pk == 0:
                rec[pk] = None
            if k_field > 0 and pos % k_field == 0 and self.null_field in rec:
                rec[self.null_field] = None
            if self.deep_nesting_every > 0 and pos % self.deep_nesting_every == 0:
                rec["nested_deep"] = _nested(DEEP_NESTING)
            out.append(rec)
        return out
