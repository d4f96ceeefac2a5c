"""Waitress: one process, a pool of request threads. The demo app's server always, and the sandbox's
with `--server waitress` (pure Python, binds every address of a host name)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from waitress.server import BaseWSGIServer, create_server

from sandbox.serving.served import Served
from sandbox.version import __version__


def limits(cfg: dict) -> dict:
    """Waitress's settings that keep a server accepting under idle or half-sent connections:
    CONNECTION_LIMIT open connections at most (Waitress's default, 100, let 105 idle sockets stop the
    server; the sandbox's and the demo app's 400 each stay under select()'s 1,024 descriptors, which
    Waitress's poll() loop would lift at a cost to every request), and connections idle for
    IDLE_TIMEOUT seconds closed (a request still being answered is never idle). Forwarded headers
    reach the app, which believes them for PROXY_HOPS proxies, only when some are configured."""
    return {
        "connection_limit": cfg["CONNECTION_LIMIT"],
        "channel_timeout": cfg["IDLE_TIMEOUT"],
        "cleanup_interval": max(1, min(10, cfg["IDLE_TIMEOUT"] // 2)),
        "clear_untrusted_proxy_headers": not cfg["PROXY_HOPS"],
    }


def server(app: Any, cfg: dict, port: int, threads: int, ident: str) -> Any:
    """A Waitress server for `app`, bound (raises OSError, or ValueError for a host that does not
    resolve) and not yet running."""
    return create_server(
        app, host=cfg["HOST"], port=port, threads=threads, ident=f"{ident}/{__version__}", **limits(cfg)
    )


def listeners(srv: Any, host: str) -> list[tuple[str, int]]:
    """The (address, port) pairs a server bound: one, or one per address of a host name with several
    (localhost on macOS: ::1 and 127.0.0.1), each with its own port when the port was 0."""
    if isinstance(srv, BaseWSGIServer):
        return [(host, int(srv.getsockname()[1]))]
    return [(h, int(p)) for h, p in srv.effective_listen]


class Threads:
    """Waitress serving the sandbox in this process (`--server waitress`): its sockets are bound once
    this is made (OSError if taken, ValueError for a host that does not resolve)."""

    def __init__(self, app: Any, cfg: dict):
        self._server = server(app, cfg, cfg["PORT"], cfg["THREADS"], "GreenButtonSandbox")
        self.listeners = listeners(self._server, cfg["HOST"])

    def serve(self, served: Served, on_ready: Callable[[], None]) -> int:
        """Serve until SIGTERM or Ctrl-C (exit handlers then run: the request log's last calls are kept)."""
        signal.signal(signal.SIGTERM, _stop)
        on_ready()
        try:
            self._server.run()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self._server.close()
        return 0

    def close(self) -> None:
        self._server.close()


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(0)
