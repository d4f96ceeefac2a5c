"""The container's health check (`python -m sandbox.healthcheck`): exit 0 when the utilities and,
unless turned off, the demo app answer /healthz on loopback, at the ports the environment sets."""

from __future__ import annotations

import sys
import urllib.request

from sandbox.core.config import load_config


def main() -> int:
    cfg = load_config()
    ports = [cfg["PORT"]] + ([cfg["DEMO_PORT"]] if cfg["DEMO_APP"] else [])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for port in ports:
        try:
            with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status != 200:
                    return 1
        except OSError as exc:
            print(f"unhealthy: port {port}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
