"""Run the built image with podman and check it from outside the container: both apps' /healthz, a
Download My Data file from the customer portal (signed in as the demo customer, through the form a
browser posts), and the image's own HEALTHCHECK command. Standard library only; exits non-zero with
what failed. Usage: python3 .ci/image_check.py IMAGE (.ci/image-check builds it)."""

from __future__ import annotations

import http.cookiejar
import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

NAME = "gbs-image-check"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=300, check=check)


def main(image: str) -> int:
    port, demo_port = free_port(), free_port()
    podman("rm", "-f", NAME, check=False)
    podman(
        "run", "-d", "--name", NAME, "--network", "host",
        "-e", f"SANDBOX_PORT={port}", "-e", f"SANDBOX_DEMO_PORT={demo_port}",
        "-e", "SANDBOX_ADMIN_KEY=image-check-key", "-e", "SANDBOX_CUSTOMERS=2",
        image,
    )  # fmt: skip
    base, opener = f"http://127.0.0.1:{port}", urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        health = {}
        deadline = time.monotonic() + 90
        while len(health) < 2:
            for url in (f"{base}/healthz", f"http://127.0.0.1:{demo_port}/healthz"):
                try:
                    with opener.open(url, timeout=2) as r:
                        health[url] = json.loads(r.read())
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise SystemExit(f"not healthy within 90 s: {health}\n{podman('logs', NAME, check=False).stderr}")
            time.sleep(0.5)
        print("both apps answer /healthz:", *health.values())

        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar))

        def csrf(path: str) -> str:
            with browser.open(base + path, timeout=10) as r:
                return re.search(r'name="csrf_token" value="([^"]+)"', r.read().decode()).group(1)

        def post(path: str, form: dict) -> urllib.request.addinfourl:
            data = urllib.parse.urlencode(form, doseq=True).encode()
            return browser.open(urllib.request.Request(base + path, data=data, method="POST"), timeout=60)

        token = csrf("/dc/bayview/")
        with post("/dc/bayview/login", {"csrf_token": token, "method": "password", "username": "demo", "password": "demo"}):
            pass
        with browser.open(base + "/dc/bayview/download", timeout=10) as r:
            page = r.read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        chosen = re.findall(r'name="usage_point" value="(\d+)"', page)
        form = {"csrf_token": token, "usage_point": chosen, "period": "custom", "cost": "1", "format": "xml"}
        form |= {"start": "2025-06-01", "end": "2025-06-07"}
        with post("/dc/bayview/download", form) as r:
            body, kind, disposition = r.read(), r.headers["Content-Type"], r.headers["Content-Disposition"]
        root = ET.fromstring(body)
        readings = root.findall(".//{http://naesb.org/espi}IntervalReading")
        assert root.tag == "{http://www.w3.org/2005/Atom}feed" and readings, body[:300]
        assert "xml" in kind and "attachment" in disposition, (kind, disposition)
        print(f"Download My Data: {len(body)} bytes, {len(readings)} readings, {disposition}")

        checked = podman("healthcheck", "run", NAME, check=False)
        assert checked.returncode == 0, f"the image's HEALTHCHECK failed: {checked.stdout} {checked.stderr}"
        print("the image's HEALTHCHECK command passes")
    finally:
        podman("rm", "-f", NAME, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
