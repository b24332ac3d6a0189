"""Vemetric's error model (spec §4): ``{"error": {"code", "message"[, "details"]}}``."""

from __future__ import annotations

from collections.abc import Iterable

from pipelines.reference.vemetric.zod import Issue

NOT_FOUND_MESSAGE = "Route not found. See https://vemetric.com/docs/api"
PLAN_MESSAGE = "Upgrade to the Professional plan for longer data retention"


class ApiError(Exception):
    """An answer other than 200: status, machine code, human message, optional details."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, str]] | None = None
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def body(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


def validation_error(issues: Iterable[Issue]) -> ApiError:
    details = [{"field": issue.field, "message": issue.message} for issue in issues]
    return ApiError(400, "VALIDATION_ERROR", "Invalid request parameters", details)


def http_error(message: str) -> ApiError:
    """A framework-level 400 (Hono's HTTPException), e.g. a body that is not JSON."""
    return ApiError(400, "HTTP_ERROR", message)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message)


def plan_limit_exceeded() -> ApiError:
    return ApiError(403, "PLAN_LIMIT_EXCEEDED", PLAN_MESSAGE)


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)


def funnel_not_found() -> ApiError:
    return ApiError(404, "FUNNEL_NOT_FOUND", "Funnel not found")


def user_not_found() -> ApiError:
    return ApiError(404, "USER_NOT_FOUND", "User not found")


def rate_limit_exceeded() -> ApiError:
    return ApiError(429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded. Try again shortly.")


def internal_error() -> ApiError:
    # Runtime code; Vemetric's OpenAPI document says INTERNAL_SERVER_ERROR (spec §12).
    return ApiError(500, "INTERNAL_ERROR", "An unexpected error occurred")
