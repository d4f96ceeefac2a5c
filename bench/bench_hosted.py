#!/usr/bin/env python3
"""A hosted deployment as docs/hosting.md runs one, measured (issue "Private sandboxes on one shared
deployment"): a throw-away PostgreSQL cluster, `run.py --workers 2` behind nginx terminating TLS (a
self-signed certificate) on the same 2 cores, and one private sandbox. Prints the small entry GET's
requests a second and p99 through the proxy (https) and to the two workers alone (http, with the
headers the proxy would add), and the proxy's cost as the ratio of the two.

Usage: python bench/bench_hosted.py [--duration 10] [--connections 16]
Needs Linux, wrk, nginx, openssl and Debian's postgresql package.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import Postgres, Server, run_wrk  # noqa: E402
from bench_sandboxes import KEY, call, consent, entry_path  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_conf(folder: Path, port: int, upstream: str, cert: Path, key: Path) -> Path:
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fcgi; uwsgi_temp_path {folder}/uwsgi; scgi_temp_path {folder}/scgi;
  upstream sandbox {{ server {urlsplit(upstream).netloc}; keepalive 32; }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert}; ssl_certificate_key {key};
    location / {{
      proxy_pass http://sandbox;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_buffering off;
    }}
  }}
}}
"""
    )
    return conf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-hosted-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    os.environ["SSL_CERT_FILE"] = str(cert)  # urllib trusts it
    os.environ.update(SANDBOX_ADMIN_KEY=KEY, SANDBOX_QUOTA_REQUESTS_PER_MINUTE="0")
    port = free_port()
    public = f"https://127.0.0.1:{port}"
    pg = Postgres()
    database = pg.start()
    extra = ("--reset", "--no-demo-app", "--workers", "2", "--proxy-hops", "1", "--public-url", public)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    try:
        with Server.run_py(database, extra=extra) as server:
            nginx = subprocess.Popen(
                [
                    NGINX,
                    "-c",
                    str(nginx_conf(folder, port, server.url, cert, key)),
                    "-p",
                    str(folder),
                    "-g",
                    "daemon off;",
                ]
            )
            try:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        urllib.request.urlopen(f"{public}/healthz", timeout=5).read()
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise SystemExit((folder / "nginx-error.log").read_text()) from None
                        time.sleep(0.05)  # polling a proxy that is starting
                made = call(f"{public}/sandbox-api/sandboxes", KEY, body={"label": "hosted"})[1] or {}
                token = consent(made)
                path = entry_path(server, token)
                forwarded = {"Host": f"127.0.0.1:{port}", "X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1",
                             "X-Forwarded-Host": f"127.0.0.1:{port}"}  # fmt: skip
                out = {}
                for name, base, headers in (
                    ("workers alone", server.url, forwarded),
                    ("through nginx (TLS)", public, None),
                ):
                    run_wrk(base + path, token["access_token"], 2, args.connections, folder, headers=headers)  # warm
                    w = run_wrk(
                        base + path, token["access_token"], args.duration, args.connections, folder, headers=headers
                    )
                    if w.non2xx or w.socket_errors:
                        raise SystemExit(f"{name}: {w.non2xx} non-2xx, {w.socket_errors} socket errors")
                    out[name] = w
                    print(f"  {name}: {w.rps:,.0f} requests/s, p50 {w.p50:.1f} ms, p99 {w.p99:.1f} ms, 0 errors")
                alone, proxied = out["workers alone"], out["through nginx (TLS)"]
                print(
                    f"  the proxy's cost: requests/s x{proxied.rps / alone.rps:.2f} of the workers alone, "
                    f"p99 x{proxied.p99 / alone.p99:.2f}"
                )
            finally:
                nginx.terminate()
                nginx.wait(10)
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
