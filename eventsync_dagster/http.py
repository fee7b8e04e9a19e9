"""The HTTP client both vendors share: dlt's REST client with its retries, plus what it lacks.

dlt's `Client` already retries 429/5xx, dropped connections and timeouts with exponential backoff
and honours `Retry-After`. What is added here, as dlt trusts the server: a client-side rate limiter
(Luma blocks a key for a minute when it is exceeded), a deadline on each whole answer (`requests`
bounds each read, so a body trickling a byte a second never times out), bodies of the wrong shape
retried like a 5xx, cursors that repeat or never end stopped, request statistics for run
metadata, and one-line errors that say whether a later attempt can help and name the variable to
fix instead of an HTTP trace (never the key itself).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from dlt.common import jsonpath
from dlt.common.jsonpath import TJsonPath
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.requests.retry import DEFAULT_RETRY_EXCEPTIONS
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import AuthConfigBase
from dlt.sources.helpers.rest_client.paginators import BasePaginator, JSONResponseCursorPaginator
from requests import HTTPError, PreparedRequest, Response
from requests.adapters import HTTPAdapter

from eventsync_dagster.budget import RateHeaders, SharedBudget, seconds_until

RETRY_STATUSES = (429, 500, 502, 503, 504)
USER_AGENT = "eventsync-dagster/0.1 (+https://github.com/eventsync/eventsync_dagster)"


ALL = "*"
"""A listing of the account's whole table (see `RequestStats.complete`)."""
MAX_PAGES = 20_000
"""Pages one listing may take (2,000,000 records at Luma's 100 a page); more means a server that
never says the listing ended."""


class SourceError(RuntimeError):
    """A vendor request failed; the message is one line for people. Retrying a step cannot fix it
    unless the error is `transient`."""

    transient = False


class VendorUnavailable(SourceError):
    """No usable answer after the HTTP retries (5xx, 429, timeouts, dropped connections, bodies
    that are not JSON or not of the expected shape): a later attempt may well succeed."""

    transient = True


class CredentialsRejected(SourceError):
    pass


class MissingCredentials(SourceError):
    pass


class RecordUnavailable(SourceError):
    """A 403 or 404 for one record's sub-resource (an event's guests): that record is gone or
    not ours, the key is fine."""

    def __init__(self, path: str, status: int) -> None:
        super().__init__(f"{path} answered {status}")
        self.status = status


class BadBody(requests.RequestException):
    """A 2xx body that is not JSON or not of the expected shape; dlt's retry loop retries it.
    Its message says what the body was (the retry loop re-creates it from the message alone)."""


Expect = Callable[[Any], str | None]
"""Checks a parsed body: None if usable, else what is wrong with it."""


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
    """Records dropped per table because their key was null or empty (see `rows.py`)."""
    complete: dict[str, set[str]] = field(default_factory=dict)
    """Per table, the listings read completely: `ALL` (the account's whole table) or parent
    ids (one event's guests). Only these may mark rows deleted (deletions.py)."""
    warnings: dict[str, list[str]] = field(default_factory=dict)
    """Per table, what a person should know although the run succeeded: listings cut short,
    records skipped. A listing named here was not read completely."""
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

    def read_completely(self, table: str, scope: str) -> None:
        with self._lock:
            self.complete.setdefault(table, set()).add(scope)

    def warn(self, table: str, message: str) -> None:
        with self._lock:
            self.warnings.setdefault(table, []).append(message)

    @classmethod
    def total(cls, parts: list[RequestStats]) -> RequestStats:
        total = cls()
        for part in parts:
            total.record(
                requests=part.requests, throttled=part.throttled, waited=part.waited_seconds
            )
            total.rejected.update(part.rejected)
            for table, messages in part.warnings.items():
                total.warnings.setdefault(table, []).extend(messages)
        return total

    def since(self, earlier: RequestStats) -> RequestStats:
        """What was spent after `earlier`, a copy of these stats taken then (`total([self])`):
        one round of a step that reads on with the same client."""
        spent = RequestStats(
            self.requests - earlier.requests,
            self.throttled - earlier.throttled,
            self.waited_seconds - earlier.waited_seconds,
            rejected=self.rejected - earlier.rejected,
        )
        for table, messages in self.warnings.items():
            if new := messages[len(earlier.warnings.get(table, [])) :]:
                spent.warnings[table] = new
        return spent

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


def _read_by(response: Response, deadline: float, seconds: float) -> None:
    """Read the whole body before `deadline` (`read1` returns what has arrived, so a trickling
    body is cut off in time; `requests` alone would wait a read timeout per byte)."""
    chunks = []
    while chunk := response.raw.read1(1 << 16, decode_content=True):
        chunks.append(chunk)
        if time.monotonic() > deadline:
            response.close()
            raise requests.ReadTimeout(f"the answer took longer than {seconds:g}s")
    response._content = b"".join(chunks)
    response._content_consumed = True


class _MeteredAdapter(HTTPAdapter):
    """Runs for every attempt, retries included: the place where budget, deadline and counts are
    exact. One per thread's session, so its state is that thread's."""

    def __init__(self, stats: RequestStats, budget: SharedBudget | None, deadline: float) -> None:
        super().__init__(pool_maxsize=16)
        self.stats, self.budget, self.deadline = stats, budget, deadline
        self._throttled_at: float | None = None

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        # Waits are measured, not announced: dlt's sleep after a 429 (Retry-After, capped) and
        # the budget's own wait each count once, whoever imposed them.
        started = time.monotonic()
        waited = 0.0 if self._throttled_at is None else started - self._throttled_at
        if self.budget:
            self.budget.acquire()
        deadline = time.monotonic()
        waited += deadline - started
        deadline += self.deadline
        response = super().send(request, *args, **{**kwargs, "stream": True})
        throttled = response.status_code == 429
        self._throttled_at = time.monotonic() if throttled else None
        if self.budget:
            self.budget.observe(RateHeaders.parse(response.headers))
            if throttled:
                # Every other request on this key, in any process, waits with this one.
                pause = _retry_after(response)
                self.budget.block(self.budget.window if pause is None else pause)
        self.stats.record(requests=1, throttled=int(throttled), waited=waited)
        _read_by(response, deadline, self.deadline)
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
    base_url_variable: str = "the base URL"
    """Where `base_url` comes from, for messages when the vendor cannot be reached."""

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
                exceptions=(*DEFAULT_RETRY_EXCEPTIONS, BadBody),
                request_max_attempts=self.settings.max_attempts,
                request_backoff_factor=self.settings.backoff_factor,
                request_max_retry_delay=self.settings.max_retry_delay,
            ).session
            # `requests` reads the proxy and CA-bundle variables again for every request (a
            # twentieth of a large sync); this client's requests all go to one host, so they are
            # read once, as `requests` itself reads them.
            environment = session.merge_environment_settings(self.base_url, {}, None, None, None)
            session.proxies.update(environment["proxies"])
            session.verify = environment["verify"]
            session.trust_env = False
            adapter = _MeteredAdapter(self.stats, self.budget, self.settings.timeout)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = USER_AGENT
            client = self._local.rest = RESTClient(
                base_url=self.base_url, auth=self.auth, session=session
            )
        return client

    def _hook(
        self, path: str, expect: Expect, record_statuses: tuple[int, ...]
    ) -> Callable[..., None]:
        """A response hook: it runs inside dlt's retry loop, which retries the `HTTPError`s it
        can and every `BadBody`."""

        def check(response: Response, *args: Any, **kwargs: Any) -> None:
            status = response.status_code
            if status in record_statuses:
                raise RecordUnavailable(path, status)
            if status in (401, 403):
                raise CredentialsRejected(
                    f"{self.credential_variable} was rejected by {self.vendor} ({status})"
                )
            if status >= 400:
                raise HTTPError(f"{status} from {self.vendor}", response=response)
            # dlt's client and paginator each call `response.json()`: parse the body once, with
            # orjson (a tenth of a sync's time went to parsing the same pages twice).
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError as error:
                raise BadBody(
                    f"a body that is not JSON (truncated or an error page: {error})"
                ) from None
            if problem := expect(body):
                raise BadBody(f"a body of the wrong shape ({problem})")
            response.json = lambda **_: body  # type: ignore[method-assign]

        return check

    @contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        attempts = f"in {self.settings.max_attempts} attempts"
        try:
            yield
        except BadBody as error:
            raise VendorUnavailable(f"{self.vendor} sent {error} for {path} {attempts}") from None
        except HTTPError as error:
            status = error.response.status_code if error.response is not None else "an error"
            if status not in RETRY_STATUSES:
                raise SourceError(f"{self.vendor} answered {status} for {path}") from None
            raise VendorUnavailable(
                f"{self.vendor} answered {status} for {path} after {self.settings.max_attempts} "
                "attempts"
            ) from None
        except requests.Timeout:
            raise VendorUnavailable(
                f"{self.vendor} timed out on {path}: no whole answer within "
                f"{self.settings.timeout:g}s {attempts} (EVENTSYNC_REQUEST_TIMEOUT_SECONDS)"
            ) from None
        except OSError as error:  # requests' errors, after dlt's retries
            host = urlsplit(self.base_url).netloc
            raise VendorUnavailable(
                f"{self.vendor} at {host} could not be reached for {path} {attempts} "
                f"({type(error).__name__}); check {self.base_url_variable}"
            ) from None

    def pages(
        self,
        path: str,
        *,
        data_selector: TJsonPath,
        expect: Expect,
        params: dict[str, Any] | None = None,
        paginator: BasePaginator | None = None,
        record_statuses: tuple[int, ...] = (),
    ) -> Iterator[list[Any]]:
        """Yield each page's records; errors become one-line `SourceError`s.

        `record_statuses` (403, 404 for one event's guests) raise `RecordUnavailable` for the
        caller to skip that record, instead of blaming the key.
        """
        with self._errors(path):
            for page in self.rest.paginate(
                path,
                params=params,
                paginator=paginator,
                data_selector=data_selector,
                hooks={"response": [self._hook(path, expect, record_statuses)]},
            ):
                yield list(page)

    def get_json(self, path: str, expect: Expect) -> Any:
        """One unpaginated GET (Eventee's endpoints)."""
        with self._errors(path):
            hook = self._hook(path, expect, ())
            return self.rest.get(path, hooks={"response": [hook]}).json()


class BoundedCursor(JSONResponseCursorPaginator):
    """dlt's cursor paginator, stopped where it would trust the server too far: a cursor seen
    before (an endless loop) or more than `MAX_PAGES` pages fail at once; `has_more` without a
    cursor ends the listing with a warning in `stats`, so it is never taken as complete."""

    def __init__(
        self, table: str, path: str, stats: RequestStats, vendor: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.table, self.path, self.stats, self.vendor = table, path, stats, vendor
        self.seen: set[str] = set()
        self.truncated = False

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        super().update_state(response, data)
        cursor = self._next_reference
        if self._has_next_page:
            if cursor in self.seen:
                raise SourceError(
                    f"{self.vendor} sent a pagination cursor it had sent before for {self.path}: "
                    "stopped, the listing would never end"
                )
            if len(self.seen) >= MAX_PAGES:
                raise SourceError(
                    f"{self.vendor} sent more than {MAX_PAGES} pages for {self.path}: stopped"
                )
            self.seen.add(str(cursor))
        elif cursor is None and self.has_more_path and _more(response.json(), self.has_more_path):
            self.truncated = True
            self.stats.warn(
                self.table,
                f"{self.vendor} said {self.path} has more but sent no cursor: the listing "
                "ended early",
            )


def _more(body: Any, path: TJsonPath) -> bool:
    return any(v is True or v == "true" for v in jsonpath.find_values(path, body))
