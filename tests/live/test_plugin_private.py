"""The pytest plugin on a shared deployment (GREEN_BUTTON_SANDBOX_PRIVATE=1): a third party's test
session makes a private sandbox of its own there, runs its tests in it, and deletes it at the end."""

from __future__ import annotations

import pytest

from sandbox.testing.client import SandboxClient

from .server import LiveServer, third_party_pytest

pytestmark = pytest.mark.live
KEY = "plugin-private-operator-key-0123456789"

TESTS = """
def test_in_a_sandbox_of_its_own(green_button_sandbox):
    assert "/s/" in green_button_sandbox.url  # a private sandbox's base URL
    tokens = green_button_sandbox.authorize("demo")
    assert tokens["resourceURI"].startswith(green_button_sandbox.url)
    assert green_button_sandbox.get(tokens["resourceURI"], tokens).status == 200
    green_button_sandbox.freeze()
    green_button_sandbox.advance(days=1)  # the access token has expired: refreshed with this sandbox's secret
    assert green_button_sandbox.get(tokens["resourceURI"], tokens).status == 200
"""


def test_a_session_makes_uses_and_deletes_a_private_sandbox(tmp_path):
    """With the operator key, and without one under open sign-up (one deployment that allows both)."""
    server_env = {"SANDBOX_ADMIN_KEY": KEY, "SANDBOX_OPEN_SIGNUP": "1"}
    with LiveServer("--database", str(tmp_path / "w.db"), "--customers", "0", "--reset", env=server_env) as s:
        (tmp_path / "test_third_party.py").write_text(TESTS)
        for key in (KEY, None):
            env = {"GREEN_BUTTON_SANDBOX_URL": s.url, "GREEN_BUTTON_SANDBOX_PRIVATE": "1"}
            if key is not None:
                env["GREEN_BUTTON_SANDBOX_ADMIN_KEY"] = key
            proc = third_party_pytest(tmp_path, "--green-button-customers", "0", env=env, timeout=300)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            assert "1 passed" in proc.stdout
            assert SandboxClient(s.url, KEY).api("GET", "/sandboxes")["sandboxes"] == []  # deleted at the end
