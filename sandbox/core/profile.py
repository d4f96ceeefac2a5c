"""A utility's behaviour profile: how it acts as an OAuth server and Data Custodian.

Read from the `[profile]` table of each `seed_data/utilities/*.toml` file (by `synth.world`),
asked by the OAuth server, onboarding and the access policy. A plain value with no
dependencies, so every layer may hold one.
"""
from __future__ import annotations

from dataclasses import dataclass

SCOPE_PARSINGS = ("strict", "lenient")  # "lenient" accepts unknown terms and case differences
APPROVALS = ("automatic", "staff")  # how an application in Review reaches Production


@dataclass(frozen=True)
class Profile:
    access_token_seconds: int = 3600
    authorization_days: int = 730
    code_seconds: int = 600
    refresh_rotation: bool = True  # a refresh returns a new refresh token and retires the old one
    # a rotated-out refresh token used again revokes every token of its authorization (RFC 9700 4.14.2)
    refresh_reuse_detection: bool = False
    pkce_required: bool = False
    scope_parsing: str = "strict"  # one of SCOPE_PARSINGS
    approval: str = "automatic"  # one of APPROVALS
    terms_version: int = 1

    @property
    def strict_scopes(self) -> bool:
        return self.scope_parsing == "strict"
