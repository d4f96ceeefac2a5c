"""`green-button-sandbox listen`: a sandbox's notifications forwarded to a receiver it cannot reach.

A hosted sandbox cannot POST to a third party's receiver on a developer's laptop. This command holds
a long poll on the sandbox's control API (GET /sandbox-api/notifications/next), POSTs each new
notification's BatchList to the local URL, prints what it forwarded and the answer, and reports the
answer back (POST .../notifications/{id}/forwarded), so the sandbox's inspector shows the delivery and a
2xx makes the notification delivered. It forwards the notifications made after its "listening" line.

    green-button-sandbox listen --sandbox https://gb.example.org/s/3f9c0a1b2c4d --key ADMIN_KEY \\
        --forward-to http://127.0.0.1:3000/notify
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from typing import Callable, TextIO

from sandbox.testing.client import ControlRefused, SandboxClient

RECEIVER_TIMEOUT = 30.0


def post(url: str, body: bytes) -> tuple[int, int, str]:
    """(status, milliseconds, the start of the answer or why none came) of one POST of a BatchList."""
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/atom+xml"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=RECEIVER_TIMEOUT) as r:
            status, answer = r.status, r.read(500).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        with err:
            status, answer = err.code, err.read(500).decode("utf-8", "replace")
    except OSError as exc:
        status, answer = 0, f"no answer: {exc}"
    return status, round((time.perf_counter() - t0) * 1000), answer


def forward_once(client: SandboxClient, target: str, after: int | None, out: TextIO, wait: int = 25) -> int:
    """One long poll: every notification it brings forwarded and reported; the id to ask after next."""
    query = f"?wait={wait}" + (f"&after={after}" if after is not None else "")
    got = client.api("GET", f"/notifications/next{query}")
    for n in got["notifications"]:
        status, ms, answer = post(target, n["body"].encode("utf-8"))
        said = f"{status}" if status else answer
        out.write(
            f"notification {n['id']} ({n['event']}, {len(n['uris'])} URIs, to {n['client_id']}) -> {target}: {said}\n"
        )
        out.flush()
        client.api(
            "POST",
            f"/notifications/{n['id']}/forwarded",
            {"to": target, "status": status, "milliseconds": ms, "answer": answer},
        )
    return got["after"]


def starting_point(client: SandboxClient) -> int:
    """The newest notification's id now: what a listener starting now forwards comes after it."""
    return client.api("GET", "/notifications/next?wait=0")["after"]


def run(
    client: SandboxClient,
    target: str,
    out: TextIO,
    after: int | None = None,
    keep_on: Callable[[], bool] = lambda: True,
) -> None:
    """Forward what comes after `after` until `keep_on` says stop (Ctrl-C, for the command); a sandbox
    that does not answer is asked again."""
    while keep_on():
        try:
            after = forward_once(client, target, after, out)
        except ControlRefused as exc:
            if exc.status in (401, 404):  # a wrong key, a sandbox gone: asking again will not help
                raise
            out.write(f"the sandbox answered {exc.status}; asking again in 2 s\n")
            time.sleep(2)
        except OSError as exc:
            out.write(f"the sandbox did not answer ({exc}); asking again in 2 s\n")
            time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="green-button-sandbox listen", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--sandbox", required=True, help="the sandbox's base URL (a private sandbox's base_url, or a server's)"
    )
    p.add_argument("--key", required=True, help="its admin key")
    p.add_argument("--forward-to", required=True, help="the receiver's URL (your third party's notification endpoint)")
    args = p.parse_args(argv)
    client = SandboxClient(args.sandbox, args.key, timeout=60)
    try:
        after = starting_point(client)  # before saying it listens: what comes from then on is forwarded
        print(f"listening to {client.url}; forwarding to {args.forward_to} (Ctrl-C stops)", flush=True)
        run(client, args.forward_to, sys.stdout, after)
    except KeyboardInterrupt:
        return 0
    except ControlRefused as exc:
        print(f"the sandbox refused: {exc.status} {exc.body.get('error_description', exc.body)}", file=sys.stderr)
        return 2
    return 0
