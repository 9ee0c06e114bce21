"""Running the sandbox: in-process for tests (`start_sandbox`) or in the foreground (`run_sandbox`).

    handle = start_sandbox(port=0)          # a free port, served by a daemon thread
    httpx.get(f"{handle.url}/_sandbox/health")
    handle.state                            # the SandboxState, for white-box assertions
    handle.stop()

Both use werkzeug's threaded WSGI server; every connection gets its own thread.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import SandboxApp
from .simulator import Simulator
from .state import SandboxState

log = logging.getLogger("integrations.allegro.sandbox")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SandboxHandle:
    """A running sandbox: `.url`, `.state`, `.app`, `.simulator`, `.stop()` (also a context manager)."""

    def __init__(
        self,
        server: BaseWSGIServer,
        thread: threading.Thread | None,
        app: SandboxApp,
        simulator: Simulator,
        host: str,
    ):
        self.server = server
        self.thread = thread
        self.app = app
        self.state = app.state
        self.simulator = simulator
        self.host = host
        self.port = server.port
        self._stopped = False

    @property
    def url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.simulator.stop()
        if self.thread is not None:
            self.server.shutdown()
            self.thread.join(timeout=5)
        self.server.server_close()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<SandboxHandle {self.url}>"


def build(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    simulate: bool = False,
    rate: float = 20.0,
    quiet: bool = True,
    clock: Callable[[], float] | None = None,
    simulate_sellers: list[str] | None = None,
    **options: Any,
) -> SandboxHandle:
    """Create state, app, simulator and a bound (not yet serving) server."""
    state = SandboxState(clock=clock, **options)
    simulator = Simulator(state, rate=rate, seed=options.get("seed"), sellers=simulate_sellers)
    app = SandboxApp(state, simulator)
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler if quiet else None)
    handle = SandboxHandle(server, None, app, simulator, host)
    if simulate:
        simulator.start()
    return handle


def start_sandbox(host: str = "127.0.0.1", port: int = 0, **options: Any) -> SandboxHandle:
    """Start the sandbox in a daemon thread and return its handle once it accepts connections.

    Options: client_id, client_secret, extra_clients, seed, simulate, rate, auto_approve,
    requests_per_minute, rate_block_seconds, extend_block, message_post_interval,
    refresh_grace_seconds, access_token_ttl, device_interval, issue_chat_order, public_url,
    default_seller, clock, quiet (default True).
    """
    handle = build(host, port, **options)
    thread = threading.Thread(
        target=handle.server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"allegro-sandbox-{handle.port}",
        daemon=True,
    )
    handle.thread = thread
    thread.start()
    return handle


def run_sandbox(host: str = "127.0.0.1", port: int = 8765, **options: Any) -> None:
    """Serve in the foreground until Ctrl-C (SIGINT) or SIGTERM."""
    options.setdefault("quiet", False)
    handle = build(host, port, **options)

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        handle.server.serve_forever(poll_interval=0.2)  # returns (closing the socket) on KeyboardInterrupt
    finally:
        signal.signal(signal.SIGTERM, previous)
        handle.simulator.stop()
        handle.server.server_close()
