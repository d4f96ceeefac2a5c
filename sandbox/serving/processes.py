"""granian with several worker processes: `python run.py`'s default server.

The main process builds the app (seeding the world when the database is empty), holds the port, and
starts the workers. On Linux they are forks of the prepared app, so a worker costs no imports and no
building; where workers are spawned instead (macOS, Windows) each builds the app again from the same
settings, never seeding. The main process serves no request itself: it runs what must run once, the
notification worker and the demo app's server, after the workers exist (a fork never copies a
running thread).

granian's Rust listeners share the port with SO_REUSEPORT, one per worker; on Linux the main process
keeps a bound, never listening socket on it from the start, so `--port 0` names one free port for
every worker and no other program can take it in between. A port in use is found by a plain bind
first: a second run.py on the same port stops with a message instead of sharing it."""

from __future__ import annotations

import gc
import os
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from typing import Any

from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import Server
from granian.server.mp import MPServer

from sandbox.serving.served import Served
from sandbox.version import __version__

_PREPARED: Any = None  # the main process's app; a forked worker finds it here


def worker_app(flags: dict, served: Served) -> Any:
    """The app a worker serves: the main process's, inherited by a fork, or built anew by a spawned
    worker over the same database (which the main process has seeded)."""
    if _PREPARED is not None:
        return _PREPARED
    from sandbox import create_app

    app = create_app({**flags, "AUTO_SEED": False, "RESET": False})
    served.apply(app)
    gc.freeze()  # as the main process does (sandbox.server)
    return with_server_header(app)


def with_server_header(app: Any) -> Any:
    """The app, answering with `Server: GreenButtonSandbox/<version>` as under Waitress."""
    header = ("Server", f"GreenButtonSandbox/{__version__}")
    inner = app.wsgi_app

    def wsgi_app(environ: dict, start_response: Callable) -> Any:
        def start(status: str, headers: list, exc_info: Any = None) -> Any:
            headers.append(header)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return inner(environ, start)

    app.wsgi_app = wsgi_app
    return app


def _serve_worker(*args: Any, **kwargs: Any) -> None:
    """granian's WSGI worker; then the calls its request log still holds are written (a worker
    process ends without running exit handlers)."""
    from sandbox.services import request_log

    request_log.several_processes()
    try:
        MPServer._spawn_wsgi_worker(*args, **kwargs)
    finally:
        request_log.flush_all()


def default_workers() -> int:
    """granian's workers when none are asked for: one per CPU, at least 2 (a call that waits, as the
    slow fault does, leaves the other serving), at most 4 (each holds the app and its caches)."""
    return max(2, min(os.cpu_count() or 1, 4))


def _address(host: str) -> tuple[int, str]:
    """The address family and numeric address of `host` (the first a name resolves to)."""
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ValueError(exc.strerror) from None
    return family, str(sockaddr[0])


class Processes:
    """granian over `app`: the port is held once this is made (OSError if taken, ValueError for a
    host that does not resolve); `serve` runs until a signal stops it."""

    def __init__(self, app: Any, cfg: dict, flags: dict, workers: int, threads: int):
        family, self.address = _address(cfg["HOST"])
        # first a plain bind: a port another program listens on is refused even if that program shares
        # its port (SO_REUSEPORT, as a second run.py's granian workers would); it also picks port 0's port
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((self.address, cfg["PORT"]))
            self.port = int(probe.getsockname()[1])
        self._hold = socket.socket(family, socket.SOCK_STREAM)
        try:
            if hasattr(socket, "SO_REUSEPORT"):
                self._hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self._hold.bind((self.address, self.port))
        except OSError:
            self._hold.close()
            raise
        self.listeners = [(self.address, self.port)]
        self.app, self.cfg, self.flags = app, cfg, flags
        self.workers, self.threads = workers, threads

    def serve(self, served: Served, on_ready: Callable[[], None]) -> int:
        """Start the workers, call `on_ready` in the main process once they answer /healthz, and
        return the exit status once granian has stopped them (a signal, or a worker that died)."""
        global _PREPARED
        _PREPARED = with_server_header(self.app)
        self.app.extensions["sandbox"].db.dispose()  # no pooled connection crosses a fork
        if sys.platform != "linux":  # elsewhere granian binds the port itself, once
            self._hold.close()
        supervisor = _Supervisor(self, on_ready)
        try:
            supervisor.serve(
                spawn_target=_serve_worker, target_loader=partial(worker_app, self.flags, served), wrap_loader=False
            )
        except SystemExit as exc:  # granian exits 1 when a worker died
            return int(exc.code or 0)
        finally:
            self._hold.close()
        return 0

    def close(self) -> None:
        self._hold.close()

    def ready(self, stopped: threading.Event, timeout: float = 60) -> bool:
        """Wait until a worker answers /healthz (False: granian stopped, or `timeout` passed)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.address, self.address)
        url = f"http://{host if ':' not in host else f'[{host}]'}:{self.port}/healthz"
        deadline = time.monotonic() + timeout
        while not stopped.is_set() and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        return True
            except OSError:
                stopped.wait(0.01)  # the workers are still starting
        return False


class _Supervisor(Server):  # type: ignore[misc, valid-type]
    """granian's main process, which calls back once its workers exist."""

    def __init__(self, processes: Processes, on_ready: Callable[[], None]):
        cfg = processes.cfg
        super().__init__(
            "sandbox",
            address=processes.address,
            port=processes.port,
            interface=Interfaces.WSGI,
            workers=processes.workers,
            blocking_threads=processes.threads,
            websockets=False,
            backlog=max(128, cfg["CONNECTION_LIMIT"]),
            http1_settings=HTTP1Settings(header_read_timeout=cfg["IDLE_TIMEOUT"] * 1000),
            log_level=LogLevels.error,  # not its advice on thread counts at every start
            workers_kill_timeout=5,  # a worker that has not stopped 5 s after the signal is killed: a stop always ends
            process_name=None,
        )
        self._processes, self._on_ready, self._stopped = processes, on_ready, threading.Event()
        self._interrupted = False

    def signal_handler_interrupt(self, *args: Any, **kwargs: Any) -> None:
        """The first stop signal stops it; a second one while the first is handled (Ctrl-C pressed
        twice, or a signal sent to the whole process group) must not wait on the lock the first holds."""
        if self._interrupted:
            return
        self._interrupted = True
        super().signal_handler_interrupt(*args, **kwargs)

    def startup(self, spawn_target: Any, target_loader: Any) -> None:
        super().startup(spawn_target, target_loader)

        def when_ready() -> None:
            if self._processes.ready(self._stopped):
                self._on_ready()

        threading.Thread(target=when_ready, name="ready", daemon=True).start()

    def shutdown(self, exit_code: int = 0) -> None:
        self._stopped.set()
        super().shutdown(exit_code)
