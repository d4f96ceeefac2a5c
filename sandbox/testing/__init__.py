"""Testing a third party against the sandbox: a live sandbox in a process of its own
(`SandboxProcess`), a client of its control API with the helpers a test needs (`SandboxClient`),
and the pytest plugin that gives both as the `green_button_sandbox` fixture (`plugin`)."""

from sandbox.testing.client import ControlRefused, SandboxClient
from sandbox.testing.process import SandboxProcess

__all__ = ["ControlRefused", "SandboxClient", "SandboxProcess"]
