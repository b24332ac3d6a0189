"""Run a reference app over HTTP: in the foreground (``funnelhouse serve``) or in a thread.

``run_server`` prints exactly one line, ``listening on http://HOST:PORT``, once the socket
accepts connections (with port 0 it shows the port the OS picked), so scripts can wait for
that line instead of polling. Access logs stay off; Ctrl-C and SIGTERM stop it cleanly.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    """uvicorn's server, reporting its bound address once it listens."""

    def __init__(self, config: uvicorn.Config, announce: bool):
        super().__init__(config)
        self.announce = announce
        self.url = ""

    async def startup(self, sockets: list | None = None) -> None:
        await super().startup(sockets)
        if not self.servers:  # startup failed (e.g. port taken); uvicorn has logged why
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        if self.announce:
            print(f"listening on {self.url}", flush=True)


def _config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )


def run_server(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` until Ctrl-C or SIGTERM; returns normally after a graceful shutdown."""
    server = _Server(_config(app, host, port), announce=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        # While uvicorn serves, it owns SIGTERM; after its graceful shutdown it re-raises the
        # signal to the handler that was there before it: this one, which then has nothing
        # left to do. Before uvicorn has started, a SIGTERM simply ends the process.
        if not server.started:
            raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


class ServerThread:
    """Serve an app on a background thread, for tests, benchmarks and the demo.

    >>> with ServerThread(create_app(dataset)) as server:
    ...     httpx.get(f"{server.url}/v1/project", headers=auth)
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0):
        self._server = _Server(_config(app, host, port), announce=False)
        self._thread = threading.Thread(
            target=self._server.run, name="reference-server", daemon=True
        )

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> ServerThread:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("reference server failed to start")
            self._thread.join(0.01)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
