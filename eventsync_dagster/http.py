"""The HTTP client both vendors share: dlt's REST client with its retries, plus what it lacks.

dlt's `Client` already retries 429/5xx, dropped connections and timeouts with exponential backoff
and honours `Retry-After`. What is added here: a client-side rate limiter (Luma blocks a key for a
minute when it is exceeded), request statistics for run metadata, and one-line errors that name the
variable to fix instead of an HTTP trace (never the key itself).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests
from dlt.common.jsonpath import TJsonPath
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import AuthConfigBase
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import HTTPError, PreparedRequest, Response
from requests.adapters import HTTPAdapter

from eventsync_dagster.budget import RateHeaders, SharedBudget, seconds_until

RETRY_STATUSES = (429, 500, 502, 503, 504)
USER_AGENT = "eventsync-dagster/0.1 (+https://github.com/eventsync/eventsync_dagster)"


class SourceError(RuntimeError):
    """A vendor request failed in a way retrying cannot fix; the message is one line for people."""


class CredentialsRejected(SourceError):
    pass


class MissingCredentials(SourceError):
    pass


def require_credential(value: str | None, variable: str, dlt_key: str) -> str:
    """The credential, or one line saying where to put it (checked before any request)."""
    if not value:
        section, _, name = dlt_key.rpartition(".")
        raise MissingCredentials(
            f"{variable} is not set: export it, add it to .env, or set {name} under "
            f"[{section}] in .dlt/secrets.toml"
        )
    return value


@dataclass(frozen=True)
class HttpSettings:
    """Retry and timeout policy (the seeds ask for 3 retries with backoff factor 2)."""

    timeout: float = 30.0
    max_attempts: int = 4
    backoff_factor: float = 2.0
    max_retry_delay: float = 120.0
    """Long enough to honour Luma's one-minute block."""


@dataclass
class RequestStats:
    """What a run cost upstream; shown in materialization metadata and progress logs."""

    requests: int = 0
    throttled: int = 0
    """429 answers met (each was waited out and retried)."""
    waited_seconds: float = 0.0
    """Time spent in the rate limiter and in `Retry-After` waits."""
    rejected: Counter[str] = field(default_factory=Counter)
    """Records dropped per table because their key was null or empty (see `keys.py`)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, *, requests: int = 0, throttled: int = 0, waited: float = 0.0) -> None:
        with self._lock:
            self.requests += requests
            self.throttled += throttled
            self.waited_seconds += waited

    def reject(self, table: str) -> int:
        """Count one rejected record; returns the table's count so far."""
        with self._lock:
            self.rejected[table] += 1
            return self.rejected[table]

    @classmethod
    def total(cls, parts: list[RequestStats]) -> RequestStats:
        total = cls()
        for part in parts:
            total.record(
                requests=part.requests, throttled=part.throttled, waited=part.waited_seconds
            )
            total.rejected.update(part.rejected)
        return total

    def summary(self) -> str:
        rejected = "".join(
            f", {n} {table} without a key" for table, n in sorted(self.rejected.items())
        )
        return (
            f"{self.requests} requests, {self.throttled} throttled (429), "
            f"{self.waited_seconds:.1f}s waited on rate limits{rejected}"
        )

    def as_metadata(self) -> dict[str, float | int]:
        return {
            "http_requests": self.requests,
            "http_429s": self.throttled,
            "http_wait_seconds": round(self.waited_seconds, 2),
        }


def _retry_after(response: Response) -> float | None:
    """Seconds a 429 asks to wait: `Retry-After`, else `X-RateLimit-Reset` (seconds or epoch)."""
    for header in ("Retry-After", "X-RateLimit-Reset"):
        value = response.headers.get(header)
        try:
            seconds = float(value) if value else None
        except ValueError:
            continue
        if seconds is not None and seconds >= 0:
            return seconds_until(seconds)
    return None


class _MeteredAdapter(HTTPAdapter):
    """Runs for every attempt, retries included: the place where budget and counts are exact."""

    def __init__(self, stats: RequestStats, budget: SharedBudget | None) -> None:
        super().__init__(pool_maxsize=16)
        self.stats, self.budget = stats, budget

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        waited = self.budget.acquire() if self.budget else 0.0
        response = super().send(request, *args, **kwargs)
        throttled = response.status_code == 429
        if self.budget:
            self.budget.observe(RateHeaders.parse(response.headers))
            if throttled:
                # dlt's retry sleeps through `Retry-After` (counted here, once); the block makes
                # every other request on this key, in any process, wait with it.
                pause = _retry_after(response)
                waited += self.budget.block(self.budget.window if pause is None else pause)
        self.stats.record(requests=1, throttled=int(throttled), waited=waited)
        return response


@dataclass
class VendorClient:
    """A REST client for one vendor that turns failures into `SourceError`s."""

    vendor: str
    """The vendor's name as people say it, for messages (e.g. "Luma")."""
    credential_variable: str
    """The environment variable to fix when the vendor rejects the credentials."""
    base_url: str
    auth: AuthConfigBase
    settings: HttpSettings = field(default_factory=HttpSettings)
    budget: SharedBudget | None = None
    stats: RequestStats = field(default_factory=RequestStats)

    def __post_init__(self) -> None:
        self._local = threading.local()

    @property
    def rest(self) -> RESTClient:
        """One session per thread, as `requests` sessions are not thread-safe."""
        client: RESTClient | None = getattr(self._local, "rest", None)
        if client is None:
            session = Client(
                request_timeout=self.settings.timeout,
                raise_for_status=False,
                status_codes=RETRY_STATUSES,
                request_max_attempts=self.settings.max_attempts,
                request_backoff_factor=self.settings.backoff_factor,
                request_max_retry_delay=self.settings.max_retry_delay,
            ).session
            adapter = _MeteredAdapter(self.stats, self.budget)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = USER_AGENT
            client = self._local.rest = RESTClient(
                base_url=self.base_url, auth=self.auth, session=session
            )
        return client

    def _check(self, response: Response, *args: Any, **kwargs: Any) -> None:
        """Response hook: runs inside dlt's retry loop, which retries the `HTTPError`s it can."""
        status = response.status_code
        if status in (401, 403):
            raise CredentialsRejected(
                f"{self.credential_variable} was rejected by {self.vendor} ({status})"
            )
        if status >= 400:
            raise HTTPError(f"{status} from {self.vendor}", response=response)
        # dlt's client and paginator each call `response.json()`: parse the body once, with
        # orjson (a tenth of a sync's time went to parsing the same pages twice).
        body = orjson.loads(response.content)
        response.json = lambda **_: body  # type: ignore[method-assign]

    @contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        try:
            yield
        except (json.JSONDecodeError, requests.JSONDecodeError) as error:
            # requests' own JSONDecodeError is an OSError too: caught here, before the retry text.
            raise SourceError(
                f"{self.vendor} sent a body that is not JSON (truncated or an error page) for "
                f"{path}: {error}"
            ) from None
        except HTTPError as error:
            status = error.response.status_code if error.response is not None else "an error"
            retried = status in RETRY_STATUSES
            raise SourceError(
                f"{self.vendor} answered {status} for {path}"
                + (f" after {self.settings.max_attempts} attempts" if retried else "")
            ) from None
        except requests.Timeout:
            raise SourceError(
                f"{self.vendor} timed out on {path}: no answer within {self.settings.timeout:g}s "
                f"in {self.settings.max_attempts} attempts (EVENTSYNC_REQUEST_TIMEOUT_SECONDS)"
            ) from None
        except OSError as error:  # requests' errors, after dlt's retries
            raise SourceError(
                f"{self.vendor} request to {path} failed after "
                f"{self.settings.max_attempts} attempts: {type(error).__name__}"
            ) from None

    def pages(
        self,
        path: str,
        *,
        data_selector: TJsonPath,
        params: dict[str, Any] | None = None,
        paginator: BasePaginator | None = None,
    ) -> Iterator[list[Any]]:
        """Yield each page's records; errors become one-line `SourceError`s."""
        with self._errors(path):
            for page in self.rest.paginate(
                path,
                params=params,
                paginator=paginator,
                data_selector=data_selector,
                hooks={"response": [self._check]},
            ):
                yield list(page)

    def get_json(self, path: str) -> Any:
        """One unpaginated GET (Eventee's endpoints)."""
        with self._errors(path):
            return self.rest.get(path, hooks={"response": [self._check]}).json()
