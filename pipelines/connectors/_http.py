"""The HTTP client core every API connector uses: auth, retries, pacing, paging, redaction.

A connector states its endpoints, paginators and auth; the loop that sends, checks, retries,
paces and pages lives here, once. The core wraps an ``httpx.Client`` it is given (a
Starlette ``TestClient`` in tests), so nothing opens a connection at import.

Retries (stamina, around one request): 429, 502/503/504, timeouts and connection errors are
retried with exponential backoff and jitter, or as long as ``Retry-After`` (or a spent
``X-RateLimit-Reset``) says; 500s and malformed 2xx bodies are retried a few times only
(``RetryPolicy.transient_attempts``), since they often persist; other 4xx fail at once.
An error that persists is raised with the server's own code and message and
``gave up after N attempts``.

Example::

    with httpx.Client(timeout=30) as http:
        api = ApiClient(http, "https://api.vemetric.com", auth=BearerAuth(key))
        project = api.request("GET", "/v1/project", expect=("project",))["project"]
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import stamina

from pipelines.connectors.errors import (
    ApiError,
    AuthError,
    MalformedResponseError,
    NotFoundError,
    PagingError,
    PlanGateError,
    RateLimitError,
    TransientError,
)
from pipelines.connectors.pacing import RateBudget, RateLimitHeaders
from pipelines.connectors.paging import PageRequest, PageShapeError, Paginator

__all__ = [
    "ApiClient",
    "BearerAuth",
    "ClientStats",
    "DEFAULT_POLICY",
    "HeaderAuth",
    "RetryPolicy",
    "SecretAuth",
    "backoff",
    "redact",
    "retry_after",
    "retry_cause",
]

logger = logging.getLogger("pipelines.connectors")

MASK = "***"
RETRIED_STATUSES = frozenset({429, 502, 503, 504})


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first, so none leaks in part)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class _RedactingFilter(logging.Filter):
    """Masks registered secrets in records of the HTTP libraries' own loggers.

    httpx logs every request's full URL at INFO; an auth style that puts a key in the URL
    would otherwise leak it there. Secrets are registered process-wide by each client.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = redact(text, self.secrets)
        if masked != text:
            record.msg, record.args = masked, None
        return True


_LOG_FILTER = _RedactingFilter()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_LOG_FILTER)


class SecretAuth(httpx.Auth):
    """An ``httpx.Auth`` that knows its secrets, so the client can redact them everywhere.

    Subclass it for other auth styles (a custom header, a token exchange with refresh):
    set the request's credentials in ``auth_flow`` and list every secret in ``secrets``.
    """

    secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({MASK})"


class BearerAuth(SecretAuth):
    """``Authorization: Bearer <key>`` on every request."""

    def __init__(self, key: str) -> None:
        self.secrets = (key,)

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self.secrets[0]}"
        yield request


class HeaderAuth(SecretAuth):
    """The key in a custom header, e.g. Umami Cloud's ``x-umami-api-key``."""

    def __init__(self, header: str, key: str) -> None:
        self.header = header
        self.secrets = (key,)

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers[self.header] = self.secrets[0]
        yield request


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request is retried (a page of a listing is one request)."""

    attempts: int = 10  # every retried cause, first try included
    transient_attempts: int = 4  # 500s and malformed bodies: usually not a passing glitch
    timeout: float = 15 * 60.0  # seconds for all attempts of one request
    wait_initial: float = 0.5
    wait_max: float = 30.0
    max_header_wait: float = 300.0  # a Retry-After/Reset further out than this is clamped
    reset_margin: float = 1.0  # the server's window may end up to a second after its Reset


@dataclass
class ClientStats:
    """Counters the sync's progress display and run metadata read; safe across threads."""

    requests: int = 0  # every HTTP request sent, retries included
    calls: Counter[str] = field(default_factory=Counter)  # logical calls per "METHOD /path"
    retries: Counter[str] = field(default_factory=Counter)  # by cause: "429", "500", "timeout"…
    backoff_seconds: float = 0.0  # waits the retries scheduled
    paced_seconds: float = 0.0  # waits the rate budget imposed before sending
    last_rate_limit: RateLimitHeaders | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def seconds_waited(self) -> float:
        return self.backoff_seconds + self.paced_seconds

    def snapshot(self) -> dict[str, Any]:
        """A plain-dict copy, e.g. for Dagster metadata."""
        with self._lock:
            limit = self.last_rate_limit
            return {
                "requests": self.requests,
                "calls": sum(self.calls.values()),
                "calls_by_endpoint": dict(self.calls),
                "retries": dict(self.retries),
                "seconds_waited": round(self.seconds_waited, 3),
                "rate_limit": None if limit is None else vars(limit).copy(),
            }

    def _call(self, endpoint: str) -> None:
        with self._lock:
            self.calls[endpoint] += 1

    def _sent(self, paced: float, limit: RateLimitHeaders | None) -> None:
        with self._lock:
            self.requests += 1
            self.paced_seconds += paced
            self.last_rate_limit = limit or self.last_rate_limit

    def _retry(self, cause: str, wait: float) -> None:
        with self._lock:
            self.retries[cause] += 1
            self.backoff_seconds += wait


DEFAULT_POLICY = RetryPolicy()


class ApiClient:
    """Send requests to one API root with auth, pacing, retries and paging.

    ``http`` is any ``httpx.Client`` (its own timeouts apply); ``budget`` paces requests
    (share one per project and run: :func:`pipelines.connectors.pacing.budget_for`);
    ``clock`` and ``rng`` make waits reproducible in tests.
    """

    def __init__(
        self,
        http: httpx.Client,
        base_url: str,
        *,
        auth: SecretAuth | None = None,
        budget: RateBudget | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.stats = ClientStats()
        self._auth = auth
        self._budget = budget
        self._clock = clock
        self._rng = rng or random.Random()
        self._secrets: set[str] = set()
        for secret in auth.secrets if auth is not None else ():
            self.register_secret(secret)

    def __repr__(self) -> str:
        return f"ApiClient(base_url={self.base_url!r}, auth={self._auth!r})"

    def register_secret(self, secret: str) -> None:
        """Add a value that must never appear in a log line, error or repr."""
        self._secrets.add(secret)
        _LOG_FILTER.secrets.add(secret)

    def redact(self, text: str) -> str:
        """``text`` with every secret registered with this client replaced by ``***``."""
        return redact(text, self._secrets)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        expect: Iterable[str] = (),
        check: Callable[[Any], Any] | None = None,
        route: str | None = None,
    ) -> Any:
        """Send one request (retried) and return its parsed JSON body.

        ``expect`` names the top-level fields the endpoint always answers with; a body
        without them is malformed (retried like a truncated body), never a partial result.
        ``check``, if given, validates the body further and returns what ``request`` returns;
        it raises :class:`~pipelines.connectors.paging.PageShapeError` for a malformed body.
        ``route`` is the path template counted in ``stats.calls`` (``/v1/funnels/{id}``).
        """
        required = tuple(expect)

        def checked(body: Any) -> Any:
            body = _envelope(body, required)
            return check(body) if check is not None else body

        return self._call(method, path, dict(params or {}), json, checked, route)

    def paginate(
        self,
        method: str,
        path: str,
        paging: Paginator,
        *,
        params: Mapping[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        expect: Iterable[str] = (),
    ) -> Iterator[tuple[Any, Any]]:
        """Yield ``(body, items)`` for every page of a listing, until ``paging`` says done.

        ``expect`` names top-level fields every page must carry besides the paging ones.
        """
        required = tuple(expect)
        request: PageRequest | None = paging.first(PageRequest(dict(params or {}), json))
        pages = 0
        while request is not None:
            if pages == paging.max_pages:
                raise self._paging_error(method, path, request, f"stopped after max_pages={pages}")
            current = request
            check = _page_check(paging, current, required)
            body, items = self._call(method, path, current.params, current.json, check)
            pages += 1
            yield body, items
            try:
                request = paging.next(current, body, items)
            except PageShapeError as exc:
                raise self._paging_error(method, path, current, str(exc)) from None

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        json: Any,
        check: Callable[[Any], Any],
        route: str | None = None,
    ) -> Any:
        self.stats._call(f"{method} {route or path}")
        send = lambda: self._send_once(method, path, params, json, check)  # noqa: E731
        try:
            # Most requests succeed at once: the first attempt is sent before the retry loop
            # is set up (stamina costs as much per call as a tenth of a request's client CPU).
            return send()
        except Exception as exc:  # what the first attempt did is decided in the loop below
            failed: list[Exception] = [exc]
        decide = _RetryDecider(self)
        policy = self.policy
        try:
            for attempt in stamina.retry_context(
                on=decide, attempts=policy.attempts, timeout=policy.timeout
            ):
                with attempt:
                    if failed:
                        raise failed.pop()
                    return send()
        except (RateLimitError, TransientError, MalformedResponseError) as exc:
            raise exc.with_detail(f"gave up after {decide.tries} attempts") from None
        raise AssertionError("unreachable: stamina either returns or raises")

    def _send_once(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        json: Any,
        check: Callable[[Any], Any],
    ) -> Any:
        paced = self._budget.acquire() if self._budget is not None else 0.0
        response = self._exchange(method, path, params, json, paced)
        if response.is_error:
            raise self._error_from(self._endpoint(method, path, params), response)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            endpoint = self._endpoint(method, path, params)
            raise self._malformed(endpoint, response.status_code, _not_json(response)) from None
        try:
            return check(body)
        except PageShapeError as exc:
            endpoint = self._endpoint(method, path, params)
            raise self._malformed(endpoint, response.status_code, str(exc)) from None

    def _exchange(
        self, method: str, path: str, params: dict[str, Any], json: Any, paced: float
    ) -> httpx.Response:
        limits: Mapping[str, str] | None = None
        failure: TransientError | None = None
        try:
            response = self.http.request(
                method, self.base_url + path, params=params or None, auth=self._auth,
                **_json_body(json),
            )
            limits = _rate_limit_headers(response.headers)
        except httpx.TimeoutException as exc:
            failure = self._transport_error(self._endpoint(method, path, params), "TIMEOUT", exc)
        except httpx.TransportError as exc:
            endpoint = self._endpoint(method, path, params)
            failure = self._transport_error(endpoint, "CONNECTION_ERROR", exc)
        finally:
            if self._budget is not None:
                self._budget.release(limits)
            self.stats._sent(paced, RateLimitHeaders.parse(limits or {}, self._clock()))
        if failure is not None:
            # Raised outside the except block: httpx's exception holds the request and its
            # auth header, and must not ride along as __context__.
            raise failure
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s -> %s", self._endpoint(method, path, params), response.status_code)
        return response

    def _endpoint(self, method: str, path: str, params: Mapping[str, Any]) -> str:
        query = f"?{urlencode(params, doseq=True)}" if params else ""
        return self.redact(f"{method} {path}{query}")

    def _error_from(self, endpoint: str, response: httpx.Response) -> ApiError:
        code, message = _server_error(response)
        status = response.status_code
        kind = _error_class(status, code)
        error = kind(endpoint, status, code, self.redact(message))
        error.retry_after = retry_after(response.headers, self._clock(), self.policy)
        return error

    def _malformed(self, endpoint: str, status: int, why: str) -> MalformedResponseError:
        return MalformedResponseError(endpoint, status, "MALFORMED_RESPONSE", self.redact(why))

    def _transport_error(self, endpoint: str, code: str, exc: Exception) -> TransientError:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return TransientError(endpoint, None, code, self.redact(text))

    def _paging_error(self, method: str, path: str, request: PageRequest, why: str) -> PagingError:
        endpoint = self._endpoint(method, path, request.params)
        return PagingError(endpoint, None, "PAGING_ERROR", self.redact(why))


_RATE_LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
_JSON_CONTENT = {"Content-Type": "application/json"}


def _rate_limit_headers(headers: httpx.Headers) -> dict[str, str]:
    """The answer's ``X-RateLimit-*`` headers only: the budget and the stats both read them,
    and a small dict is cheaper to read twice than httpx's case-insensitive headers."""
    return {name: value for name in _RATE_LIMIT_HEADERS if (value := headers.get(name)) is not None}


def _json_body(json: Any) -> dict[str, Any]:
    """``request()`` arguments sending ``json`` as the body, encoded by orjson (compact UTF-8,
    as httpx's own ``json=``, at a fraction of the standard library's cost)."""
    if json is None:
        return {}
    return {"content": orjson.dumps(json), "headers": _JSON_CONTENT}


class _RetryDecider:
    """stamina's ``on=`` hook for one request: retry or not, and how long to wait first."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.tries = 1  # the attempt that just failed
        self.bounded = 0  # failures of the kind retried only transient_attempts times

    def __call__(self, exc: Exception) -> bool | float:
        cause = retry_cause(exc)
        if cause is None:
            return False
        policy = self.client.policy
        if _bounded(cause):
            self.bounded += 1
            if self.bounded >= policy.transient_attempts:
                return False
        if self.tries >= policy.attempts:
            return False
        wait = getattr(exc, "retry_after", None)
        if wait is None:
            wait = backoff(self.tries, policy, self.client._rng)
        self.tries += 1
        self.client.stats._retry(cause, wait)
        logger.warning("%s; retry %d in %.1f s", self.client.redact(str(exc)), self.tries, wait)
        return wait


def retry_cause(exc: BaseException) -> str | None:
    """The stats label of a retryable failure ("429", "503", "timeout", …), or None if final."""
    if isinstance(exc, MalformedResponseError):
        return "malformed"
    if isinstance(exc, (RateLimitError, TransientError)):
        if exc.status is not None:
            return str(exc.status)
        return "timeout" if exc.code == "TIMEOUT" else "connection"
    return None


def _bounded(cause: str) -> bool:
    """500s, other non-gateway 5xx and malformed bodies: retried only a few times."""
    return cause == "malformed" or cause.startswith("5") and int(cause) not in RETRIED_STATUSES


def backoff(tries: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Exponential backoff with jitter: half of the step fixed, half random."""
    step = min(policy.wait_max, policy.wait_initial * 2 ** (tries - 1))
    return step / 2 + rng.uniform(0, step / 2)


def retry_after(headers: Mapping[str, str], now: float, policy: RetryPolicy) -> float | None:
    """Seconds the server asks us to wait, clamped, or None when it says nothing.

    ``Retry-After`` (delay seconds or an HTTP date) wins; otherwise a spent window
    (``X-RateLimit-Remaining: 0``) waits until ``X-RateLimit-Reset`` plus a margin.
    """
    wait = _retry_after_header(headers.get("retry-after"), now)
    if wait is None:
        limit = RateLimitHeaders.parse(headers, now)
        if limit is None or limit.remaining > 0:
            return None
        wait = limit.reset_at - now + policy.reset_margin
    return min(max(wait, 0.0), policy.max_header_wait)


def _retry_after_header(value: str | None, now: float) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError):
        return None  # unreadable: fall back to our own backoff


def _error_class(status: int, code: str) -> type[ApiError]:
    if status == 401:
        return AuthError
    # Vemetric gates by plan with 403 PLAN_LIMIT_EXCEEDED, EngageTrack with 402.
    if status == 402 or (status == 403 and code == "PLAN_LIMIT_EXCEEDED"):
        return PlanGateError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return TransientError
    return ApiError


def _server_error(response: httpx.Response) -> tuple[str, str]:
    """The server's own error code and message, from the shapes peer APIs use."""
    fallback = response.reason_phrase.upper().replace(" ", "_") or "HTTP_ERROR"
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return fallback, _snippet(response.text) or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # Vemetric: {"error": {"code", "message"}}
        return str(error.get("code") or fallback), str(error.get("message") or "")
    if isinstance(error, str):  # {"error": "...", "message"?: "..."}
        message = body.get("message")
        return (error, str(message)) if isinstance(message, str) else (fallback, error)
    return fallback, _snippet(response.text)


def _page_check(
    paging: Paginator, request: PageRequest, required: tuple[str, ...]
) -> Callable[[Any], tuple[Any, Any]]:
    """Checks one page inside the retried call, so a malformed page is retried."""
    return lambda body: (body, paging.items(request, _envelope(body, required)))


def _envelope(body: Any, required: tuple[str, ...]) -> Any:
    if required:
        if not isinstance(body, dict):
            raise PageShapeError(f"expected a JSON object, got {type(body).__name__}")
        missing = [name for name in required if name not in body]
        if missing:
            raise PageShapeError(f"expected field(s) {', '.join(missing)} in the answer")
    return body


def _not_json(response: httpx.Response) -> str:
    return (
        f"body is not valid JSON ({len(response.content)} bytes: {_snippet(response.text, 80)!r})"
    )


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
