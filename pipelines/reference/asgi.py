"""The ASGI gate both reference servers put in front of their routes.

A plain ASGI middleware (not BaseHTTPMiddleware), so that it also wraps error answers
produced further in, and so that an unhandled exception still gets the API's own 500 body.
The mechanism lives here: headers the gate collects (rate-limit headers) are added to the
response start, the API's errors raised while admitting or serving become the API's error
body, and anything else is logged and answered with the API's 500 unless an answer has
already started. Each server's subclass says what to check (auth, limiter keys) and what
its error bodies look like.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Headers = list[tuple[bytes, bytes]]


class Gate:
    """Subclasses set :attr:`api_error`, :attr:`log` and :attr:`server`, and implement
    :meth:`admit`, :meth:`error_response` and :meth:`internal_error_response`."""

    api_error: type[Exception]  # the API's own error, answered with its body
    log: logging.Logger
    server: str  # the API's name, for the log line of an unhandled error

    def __init__(self, app: ASGIApp):
        self.app = app

    def admit(self, scope: Scope, extra: Headers) -> None:
        """Check the request before any route runs; raise :attr:`api_error` to refuse it.

        Headers appended to ``extra`` go on the answer, whatever it turns out to be.
        """
        raise NotImplementedError

    def error_response(self, exc: Exception) -> Response:
        raise NotImplementedError

    def internal_error_response(self) -> Response:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra: Headers = []
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            self.admit(scope, extra)
            await self.app(scope, receive, send_with_headers)
        except self.api_error as exc:
            await self.error_response(exc)(scope, receive, send_with_headers)
        except Exception:
            self.log.exception(f"unhandled error in the {self.server} reference server")
            if not started:
                await self.internal_error_response()(scope, receive, send_with_headers)


    async def answer(self, scope: Scope, receive: Receive, send: Send, respond: Responder) -> None:
        """Admit and answer a request in one step, for a route the server answers itself.

        What :meth:`__call__` does around an app, with ``respond`` in its place, minus the
        layers between: same checks, same error bodies, same headers in the same order (the
        response's own, then ``extra``). The hot routes of a reference server use it.
        """
        extra: Headers = []
        started = False
        try:
            self.admit(scope, extra)
            response = await respond(scope, receive)
            started = True
            await _send(send, response, extra)
        except self.api_error as exc:
            await _send(send, self.error_response(exc), extra)
        except Exception:
            self.log.exception(f"unhandled error in the {self.server} reference server")
            if not started:
                await _send(send, self.internal_error_response(), extra)


Responder = Callable[[Scope, Receive], Awaitable[Response]]


async def _send(send: Send, response: Response, extra: Headers) -> None:
    headers = [*response.raw_headers, *extra] if extra else response.raw_headers
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def read_body(receive: Receive) -> bytes:
    """The whole request body, as ``Request.body()`` reads it (ClientDisconnect if the client
    goes away first)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then defers to ``receive`` (for a handler
    that reads the body again after :func:`read_body`)."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def add_headers(extra: Headers, headers: dict[str, str]) -> None:
    """Append ``headers`` (e.g. a rate-limit state's) to ``extra`` as ASGI header pairs."""
    extra.extend((k.lower().encode(), v.encode()) for k, v in headers.items())


def header(scope: Scope, name: bytes) -> str | None:
    """The request header ``name`` (lowercase bytes), or None."""
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return None
