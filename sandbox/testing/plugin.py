"""The pytest plugin (entry point `pytest11`: installing greenbutton-sandbox makes it available).

    def test_my_app_reads_a_day(green_button_sandbox):
        tokens = green_button_sandbox.authorize("demo")
        feed = green_button_sandbox.get(tokens["resourceURI"], tokens)
        assert feed.status == 200

`green_button_sandbox` is a SandboxClient of a live sandbox on a free loopback port, started once
per test session with a fresh database (`python -m sandbox --reset`), and reset to its seed before
each test: every test begins with the seeded world and the clock in real time. Set
GREEN_BUTTON_SANDBOX_URL and GREEN_BUTTON_SANDBOX_ADMIN_KEY to use a sandbox already running
instead (a CI service container); `--green-button-customers N` sets the generated customers per
utility of the one started (default 3: quick to start and to reset). The one started retries a
failed notification after 0.25 s, doubling to at most 2 s between attempts.

On a shared deployment, add GREEN_BUTTON_SANDBOX_PRIVATE=1 (or `--green-button-private`): the URL is
the deployment's and the key its operator key (or none under open sign-up), and the session makes a
private sandbox of its own there, uses it, and deletes it at the end (docs/hosting.md).
"""

from __future__ import annotations

import os
import secrets
from typing import Iterator

import pytest

from sandbox.testing.client import SandboxClient
from sandbox.testing.process import SandboxProcess

# a test's receiver that failed is tried again within a second or so, not the default's minutes
QUICK_RETRIES = {"SANDBOX_NOTIFY_RETRY_BASE": "0.25", "SANDBOX_NOTIFY_RETRY_CAP": "2"}


def pytest_addoption(parser) -> None:
    group = parser.getgroup("green-button-sandbox")
    group.addoption(
        "--green-button-customers",
        type=int,
        default=3,
        help="generated customers per utility in the sandbox the plugin starts (default 3)",
    )
    group.addoption(
        "--green-button-private",
        action="store_true",
        help="make a private sandbox of this session's own on the deployment GREEN_BUTTON_SANDBOX_URL names, "
        "and delete it at the end (GREEN_BUTTON_SANDBOX_PRIVATE=1 says the same)",
    )


@pytest.fixture(scope="session")
def green_button_sandbox_server(request, tmp_path_factory) -> Iterator[SandboxClient]:
    """The session's sandbox (started here unless GREEN_BUTTON_SANDBOX_URL names one), not reset."""
    url = os.environ.get("GREEN_BUTTON_SANDBOX_URL")
    private = (
        request.config.getoption("--green-button-private") or os.environ.get("GREEN_BUTTON_SANDBOX_PRIVATE") == "1"
    )
    if url and private:
        deployment = SandboxClient(url, os.environ.get("GREEN_BUTTON_SANDBOX_ADMIN_KEY", ""))
        customers = request.config.getoption("--green-button-customers")
        mine = deployment.create_sandbox(label="pytest session", customers=customers, ttl="PT6H")
        try:
            yield mine
        finally:
            SandboxClient(url, mine.admin_key).delete_sandbox(mine)  # its own key: open sign-up has no other
        return
    if url:
        key = os.environ.get("GREEN_BUTTON_SANDBOX_ADMIN_KEY")
        if not key:
            raise pytest.UsageError(
                "GREEN_BUTTON_SANDBOX_URL is set but GREEN_BUTTON_SANDBOX_ADMIN_KEY is not: the "
                "control API needs the sandbox's admin key (run.py prints it)"
            )
        yield SandboxClient(url, key)
        return
    key = secrets.token_urlsafe(24)
    db = tmp_path_factory.mktemp("green-button-sandbox") / "sandbox.db"
    customers = str(request.config.getoption("--green-button-customers"))
    with SandboxProcess(
        "--database", str(db), "--customers", customers, "--reset", env={"SANDBOX_ADMIN_KEY": key, **QUICK_RETRIES}
    ) as server:
        assert server.url is not None
        yield SandboxClient(server.url, key)


@pytest.fixture
def green_button_sandbox(green_button_sandbox_server: SandboxClient) -> SandboxClient:
    """A live sandbox, reset to its seed for this test (the clock in real time)."""
    green_button_sandbox_server.reset()
    return green_button_sandbox_server
