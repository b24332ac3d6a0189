"""Errors raised by the API connectors.

Every error names the endpoint, what the server said (its own ``code`` and ``message``) and
never contains a secret: messages are built from redacted text only.

    ConnectorError
    ├── MissingCredentialsError
    └── ApiError
        ├── AuthError
        ├── PlanGateError
        ├── NotFoundError
        ├── RateLimitError
        ├── TransientError
        ├── MalformedResponseError
        └── PagingError
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "AuthError",
    "ConnectorError",
    "MalformedResponseError",
    "MissingCredentialsError",
    "NotFoundError",
    "PagingError",
    "PlanGateError",
    "RateLimitError",
    "TransientError",
]


class ConnectorError(Exception):
    """Base class of every error a connector raises."""


class MissingCredentialsError(ConnectorError):
    """An API key that should come from the environment is not set (or is blank)."""


class ApiError(ConnectorError):
    """An API call that failed for good: HTTP status, the server's code and message, endpoint."""

    # Seconds the server asked us to wait before trying again (Retry-After, a spent window).
    retry_after: float | None = None

    def __init__(
        self, endpoint: str, status: int | None, code: str, message: str, *, detail: str = ""
    ) -> None:
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        super().__init__(self._text())

    def _text(self) -> str:
        head = f"{self.endpoint}: " + (f"{self.status} " if self.status is not None else "")
        text = f"{head}{self.code}: {self.message}"
        return f"{text} ({self.detail})" if self.detail else text

    def with_detail(self, detail: str) -> ApiError:
        """A copy of this error (same class) with ``detail`` appended in parentheses."""
        return type(self)(self.endpoint, self.status, self.code, self.message, detail=detail)


class AuthError(ApiError):
    """401: the key is missing, malformed, of the wrong format, or invalid/revoked."""


class PlanGateError(ApiError):
    """The plan does not allow it: Vemetric's 403 PLAN_LIMIT_EXCEEDED, EngageTrack's 402."""


class NotFoundError(ApiError):
    """404: the route, funnel or user does not exist (for this key's project)."""


class RateLimitError(ApiError):
    """429 that persisted after every retry the client was allowed."""


class TransientError(ApiError):
    """5xx, timeout or connection error that persisted after the allowed retries."""


class MalformedResponseError(ApiError):
    """A 2xx answer whose body is not JSON or lacks the fields the endpoint always sends."""


class PagingError(ApiError):
    """A paging loop that could not finish: ``max_pages`` reached or a cursor that repeats."""
