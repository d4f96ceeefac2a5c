"""A stand-in third party on a free loopback port: OAuth callback, notification endpoint and
scope-selection screen, recording what it receives."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


class ThirdParty:
    """GET /callback and GET /ScopeSelection act out the OAuth side. Every POST, whatever its path,
    is recorded in `received` (path, headers, body) and answered with `status`, `body` and the
    extra `headers`; `url` is the notification endpoint to register (on `port`, if given). With `hold` set, a POST is
    not answered until `release()` (for timeout tests)."""

    NOTIFICATION_PATH = "/espi/1_1/Notification"

    def __init__(
        self,
        authorize_url: str | None = None,
        client_id: str = "demo-third-party",
        state: str = "tp-state",
        status: int = 200,
        body: bytes = b"thanks",
        hold: bool = False,
        port: int = 0,
    ):
        self.authorize_url = authorize_url  # where the scope-selection screen sends the customer on
        self.client_id = client_id
        self.state = state
        self.status, self.body = status, body
        self.headers: dict[str, str] = {}
        self.callbacks: list[dict] = []
        self.received: list[dict] = []
        self.selections: list[dict] = []
        self._release = threading.Event()
        if not hold:
            self._release.set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: bytes = b"ok", headers: dict | None = None):
                self.send_response(status)
                for k, v in (headers or {"Content-Type": "text/plain"}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                q = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/callback":
                    outer.callbacks.append(q)
                    self._reply(
                        200,
                        b"<html><body><h1 id='tp-done'>Back at the third party</h1></body></html>",
                        {"Content-Type": "text/html"},
                    )
                elif parts.path == "/ScopeSelection":
                    outer.selections.append(q)
                    scopes = q["scope"] if isinstance(q["scope"], list) else [q["scope"]]
                    target = (
                        outer.authorize_url
                        + "?"
                        + urlencode(
                            {
                                "client_id": outer.client_id,
                                "redirect_uri": outer.callback,
                                "response_type": "code",
                                "scope": scopes[0],
                                "state": outer.state,
                            }
                        )
                    )
                    self._reply(302, b"", {"Location": target})
                else:
                    self._reply(404, b"not here")

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                with outer.arrived:
                    outer.received.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": self.rfile.read(length),
                            "at": time.monotonic(),
                        }
                    )
                    outer.arrived.notify_all()
                outer._release.wait(10)
                self._reply(outer.status, outer.body, {"Content-Type": "text/plain", **outer.headers})

        self.arrived = threading.Condition()  # notified at every POST received
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a client that gave up is no error here
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        self.callback = self.base + "/callback"
        self.url = self.base + self.NOTIFICATION_PATH
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30) -> list[dict]:
        """Wait until `count` POSTs have arrived; them (AssertionError naming how many came otherwise)."""
        with self.arrived:
            came = self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
            assert came, f"{len(self.received)} of {count} notifications arrived in {timeout} s"
            return list(self.received)

    def release(self) -> None:
        self._release.set()

    def close(self):
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
