"""EngageTrack's error model: ``{"error": "<message>"}``, with the seed's exact texts."""

from __future__ import annotations

from datetime import UTC, datetime

INVALID_KEY = "Invalid or expired API key"
PLAN_REQUIRED = "API key access requires a Startup plan or higher"
MISSING_SCOPE = "API key missing required scope: {scope}"
RATE_LIMITED = "Rate limit exceeded. Retry after {reset}"
# Not in the public docs (peer-apis.md §2.3): chosen here and documented in the OpenAPI spec.
MISSING_AUTH = "Missing Authorization header. Use Bearer <key>"
INVALID_SESSION = "Invalid or expired session token"
SESSION_REQUIRED = "API keys cannot manage API keys: use a session token from POST /api/v1/auth/login"
BAD_LOGIN = "Invalid email or password"
TOO_MANY_LOGINS = "Too many login attempts. Retry after {reset}"
INTERNAL = "Internal server error"


class ApiError(Exception):
    """An answer other than 2xx: its status and the one-line message of ``{"error": ...}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message

    def body(self) -> dict[str, str]:
        return {"error": self.message}


def reset_text(reset: int) -> str:
    """The 429 message's time: the window's end as ``2026-03-14T12:01:00Z``."""
    return datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def unauthorized(message: str = INVALID_KEY) -> ApiError:
    return ApiError(401, message)


def plan_required() -> ApiError:
    return ApiError(402, PLAN_REQUIRED)


def missing_scope(scope: str) -> ApiError:
    return ApiError(403, MISSING_SCOPE.format(scope=scope))


def forbidden(message: str) -> ApiError:
    return ApiError(403, message)


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def rate_limited(reset: int, template: str = RATE_LIMITED) -> ApiError:
    return ApiError(429, template.format(reset=reset_text(reset)))


def fault_body(kind: str, headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The body of an injected 429/500 (``faults.with_faults``), naming the honest reset."""
    if kind == "500":
        return {"error": INTERNAL}
    reset = next((int(v) for k, v in headers if k.lower() == b"x-ratelimit-reset"), None)
    return {"error": RATE_LIMITED.format(reset=reset_text(reset))} if reset is not None \
        else {"error": "Rate limit exceeded"}


FAULT_PATHS = ("/api/v1/organizations/",)
