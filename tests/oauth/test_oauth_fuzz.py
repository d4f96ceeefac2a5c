"""Malformed input at the OAuth server's endpoints, the registration API and ReadServiceStatus:
missing, duplicated, huge, unicode and NUL-containing parameters, wrong grant types, bogus PKCE
verifiers, odd content types and Authorization schemes, JSON where a form is expected. Whatever
comes in, the answer is a 4xx (or a success), never a 5xx.

hypothesis is not installed here, so the cases are a fixed table plus a seeded random generator
(random.Random(1234)): the same requests on every run. The app runs with TESTING on, so an
unhandled exception reaches the test as an exception; each group collects every failing case
(5xx or exception) and reports them together.

The demo third party's secret is re-hashed with a one-round PBKDF2 in this module's database, so
that hundreds of client authentications stay fast; what is checked is unchanged."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from urllib.parse import urlencode

import pytest
from conftest import FIXED_NOW
from sqlalchemy import select
from web.helpers import csrf, sb_of, text
from werkzeug.datastructures import MultiDict
from werkzeug.security import generate_password_hash

from sandbox import create_app
from sandbox.core.clock import Clock
from sandbox.core.models import Application

SLUG = "bayview"
DC = f"/dc/{SLUG}"
SCOPE = "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=34128000"
CALLBACK = "http://127.0.0.1:9999/callback"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


BASIC = "Basic " + b64(b"demo-third-party:demo-secret")

BAD_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "demo-third-party\x00",
    "%00",
    "%ff%fe",
    "null",
    "[]",
    "{}",
    "é☃𝄞",
    "\u202e\u200b",
    "\ud7ff\ue000\ufffd",
    "x" * 10_000,
    "'\";--",
    "../../etc/passwd",
    "\r\nX-Injected: 1",
    "\t",
    "0",
    "-1",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "true",
    "<x/>",
    "javascript:alert(1)",
    "http://",
    "http://[::1",
    "FB=",
    "FB=1_3;FB=4",
    ";;;",
    "FB=" + "_".join(["1"] * 3000),
    "S256",
    "plain",
]

AUTH_HEADERS = [
    None,
    "",
    "Basic",
    "Basic ",
    "Basic !!!notbase64",
    "Basic " + b64(b"demo-third-party"),
    "Basic " + b64(b"\xff\xfe:\xff"),
    "Basic " + b64(b":"),
    "Basic " + b64(b"demo-third-party:"),
    "Basic " + b64(b":demo-secret"),
    "Basic " + b64(b"demo-third-party:demo-secret:extra"),
    "Basic " + b64(b"demo%zz:%zz"),
    "Basic " + b64(b"demo%00:x"),
    "basic " + b64(b"demo-third-party:demo-secret"),
    "BASIC " + b64(b"demo-third-party:demo-secret"),
    "Basic  " + b64(b"demo-third-party:demo-secret"),
    BASIC + " extra",
    BASIC + "=",
    BASIC[:-3],
    "Basic " + "A" * 20_000,
    "Basic " + b64(b"x" * 5000 + b":" + b"y" * 5000),
    "Bearer",
    "Bearer ",
    "Bearer x",
    "Bearer " + "x" * 10_000,
    "Bearer a b c",
    'Digest username="x"',
    "Negotiate",
    "Basic\tabc",
    "é" * 10,
    "Basic " + b64("é:ü".encode()),
    "Basic " + b64("é:ü".encode("latin-1")),
]

CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=bogus-charset",
    "application/x-www-form-urlencoded; charset=utf-16",
    "application/json",
    "text/plain",
    "text/xml",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "application/octet-stream",
    "",
    ";;;",
    "*/*",
]

RAW_BODIES = [
    b"",
    b"\x00\x01\x02",
    b"\xff\xfe\xfd",
    b"grant_type=client_credentials&\xff=\xfe",
    b"%zz=%zz&&&==",
    b"grant_type",
    b"=",
    b'{"grant_type": "client_credentials"}',
    b"<xml/>",
    b"a=" + b"b" * 300_000,
    b"grant_type=client_credentials&" * 2000,
    "grant_type=é☃".encode("utf-16"),
]

RAW_QUERIES = [
    "%ff",
    "a=%zz",
    "&&&",
    "=",
    "client_id",
    "client_id[]=x",
    "%00=%00",
    "client_id=%ff%fe&state=%c0%af",
    "a" * 20_000,
    "client_id=demo-third-party&client_id=other",
    ";",
    "?",
    "#",
    "+++=+++",
]

GRANT_TYPES = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "password",
    "implicit",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "AUTHORIZATION_CODE",
    "",
    "client_credentials\x00",
]

TOKEN_PARAMS = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "state",
]
AUTHORIZE_PARAMS = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "nonce",
]

RANDOM_ALPHABET = "abcXYZ019-._~:/?#[]@!$&'()*+,;=% \t\n\r\x00\x01\x7f\x80\xa0éüß☃𝄞\u202e\ufeff\ufffd\"<>\\{}|^`"


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    clock = Clock()
    clock.freeze(FIXED_NOW)
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}", "CUSTOMERS": 1, "TESTING": True},
        clock=clock,
    )
    with sb_of(app).db.transaction() as s:
        for row in s.scalars(select(Application).where(Application.client_id == "demo-third-party")):
            row.client_secret_hash = generate_password_hash("demo-secret", "pbkdf2:sha256:1")
    yield app
    sb_of(app).db.engine.dispose()


@pytest.fixture(scope="module")
def signed_in(fuzz_app):
    client = fuzz_app.test_client()
    page = text(client.get(f"{DC}/"))
    r = client.post(
        f"{DC}/login", data={"method": "password", "username": "demo", "password": "demo", "csrf_token": csrf(page)}
    )
    assert r.status_code == 303
    return client


@pytest.fixture(scope="module")
def anonymous(fuzz_app):
    return fuzz_app.test_client()


class Probe:
    """Send requests; keep each one that answered 5xx or raised."""

    def __init__(self, client):
        self.client = client
        self.failures: list[str] = []
        self.sent = 0

    def __call__(self, method: str, path: str, label: str = "", **kw):
        self.sent += 1
        headers = {k: v for k, v in (kw.pop("headers", None) or {}).items() if v is not None}
        if isinstance(kw.get("data"), list):  # repeated parameters
            kw["data"] = MultiDict(kw["data"])
        try:
            r = self.client.open(path, method=method, headers=headers, **kw)
        except Exception as exc:  # noqa: BLE001  (TESTING: an unhandled error in the app arrives here)
            self.failures.append(f"{method} {path[:80]} {label[:160]!r}: {type(exc).__name__}: {str(exc)[:200]}")
            return None
        if r.status_code >= 500:
            self.failures.append(f"{method} {path[:80]} {label[:160]!r}: HTTP {r.status_code} {text(r)[:200]!r}")
        return r

    def check(self):
        seen, distinct = set(), []
        for f in self.failures:
            key = re.sub(r"'.*?'", "", f.split(": ", 1)[-1])[:80]
            if key not in seen:
                seen.add(key)
                distinct.append(f)
        assert not self.failures, f"{len(self.failures)} of {self.sent} requests failed; distinct:\n" + "\n".join(
            distinct[:15]
        )


def random_text(rng: random.Random) -> str:
    n = rng.choice([0, 1, 2, 5, 20, 100, 1000, 5000])
    return "".join(rng.choice(RANDOM_ALPHABET) for _ in range(n))


def random_params(rng: random.Random, names: list[str], base: dict) -> list[tuple[str, str]]:
    """Start from `base`, drop, duplicate, replace or add parameters at random."""
    out = []
    for k, v in base.items():
        roll = rng.random()
        if roll < 0.15:
            continue
        if roll < 0.3:
            out.append((k, v))
            out.append((k, random_text(rng)))
        elif roll < 0.6:
            out.append((k, rng.choice([random_text(rng), rng.choice(BAD_STRINGS)])))
        else:
            out.append((k, v))
    for _ in range(rng.randint(0, 3)):
        out.append((rng.choice(names + [random_text(rng)[:30] or "x"]), random_text(rng)))
    return out


def latin1_header(rng: random.Random) -> str:
    """A random Authorization header (headers carry latin-1 only)."""
    scheme = rng.choice(["Basic", "basic", "Bearer", "Digest", "", "Basic ", "Token"])
    raw = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 3, 30, 300])))
    val = rng.choice(
        [
            b64(raw),
            raw.decode("latin-1").replace("\r", "").replace("\n", "").replace("\x00", ""),
            b64(raw + b":" + raw),
            "=" * rng.randint(0, 5),
        ]
    )
    return f"{scheme} {val}"


def good_code(signed_in, **over) -> str:
    q = {
        "client_id": "demo-third-party",
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": SCOPE,
        "state": "fuzz",
        **over,
    }
    url = f"{DC}/oauth/authorize?" + urlencode(q)
    html = text(signed_in.get(url))
    ids = re.findall(r'name="usage_point" value="(\d+)"', html)
    r = signed_in.post(url, data={"csrf_token": csrf(html), "decision": "accept", "usage_point": ids})
    assert r.status_code == 302, text(r)[:300]
    return re.search(r"[?&]code=([^&]+)", r.headers["Location"]).group(1)


# --- the token endpoint -------------------------------------------------------------------


def test_token_endpoint_table(anonymous):
    probe = Probe(anonymous)
    path = f"{DC}/oauth/token"
    for grant in GRANT_TYPES:
        for name in TOKEN_PARAMS:
            for value in BAD_STRINGS:
                probe(
                    "POST",
                    path,
                    f"{grant} {name}={value[:40]}",
                    data={"grant_type": grant, name: value},
                    headers={"Authorization": BASIC},
                )
    for header in AUTH_HEADERS:
        for grant in ("client_credentials", "refresh_token", "authorization_code"):
            probe(
                "POST",
                path,
                f"auth {str(header)[:40]}",
                data={"grant_type": grant, "code": "x", "refresh_token": "x"},
                headers={"Authorization": header},
            )
            probe(
                "GET",
                path + "?" + urlencode({"grant_type": grant}),
                f"GET auth {str(header)[:40]}",
                headers={"Authorization": header},
            )
    # client_secret_post with odd credentials, and both methods at once
    for cid in BAD_STRINGS[:12] + ["demo-third-party"]:
        for secret in BAD_STRINGS[:12] + ["demo-secret"]:
            probe(
                "POST",
                path,
                f"post {cid[:20]}:{secret[:20]}",
                data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
            )
    probe(
        "POST",
        path,
        "basic and post",
        data={"grant_type": "client_credentials", "client_id": "demo-third-party", "client_secret": "demo-secret"},
        headers={"Authorization": BASIC},
    )
    # duplicated parameters
    for name in TOKEN_PARAMS:
        probe(
            "POST",
            path,
            f"dup {name}",
            data=[("grant_type", "client_credentials"), (name, "a"), (name, "b")],
            headers={"Authorization": BASIC},
        )
        probe(
            "POST",
            path + "?" + urlencode({name: "q"}),
            f"query+form {name}",
            data={"grant_type": "client_credentials", name: "f"},
            headers={"Authorization": BASIC},
        )
    # odd bodies and content types, JSON where a form is expected
    for ctype in CONTENT_TYPES:
        for body in RAW_BODIES:
            probe(
                "POST",
                path,
                f"{ctype} {body[:30]!r}",
                data=body,
                content_type=ctype or None,
                headers={"Authorization": BASIC},
            )
    for obj in (
        {"grant_type": "client_credentials"},
        ["grant_type"],
        "x",
        1,
        None,
        {"grant_type": ["a", "b"]},
        {"grant_type": {"x": 1}},
    ):
        probe("POST", path, f"json {obj!r}", json=obj, headers={"Authorization": BASIC})
    probe(
        "POST",
        path,
        "multipart file",
        data={"grant_type": "client_credentials", "code": (__import__("io").BytesIO(b"\x00" * 100), "f.bin")},
        headers={"Authorization": BASIC},
    )
    for q in RAW_QUERIES:
        probe(
            "POST",
            f"{path}?{q}",
            f"raw query {q[:30]}",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": BASIC},
        )
    for method in ("PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        probe(method, path, method, headers={"Authorization": BASIC})
    probe.check()


def test_token_endpoint_bogus_pkce_verifiers_are_invalid_grant(fuzz_app, signed_in):
    """A real code with an S256 challenge, exchanged with verifiers that do not match: invalid_grant
    (or invalid_request for a malformed one), never an error; the right verifier still works."""
    verifier = "v" * 43 + "-._~0123456789"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = good_code(signed_in, code_challenge=challenge, code_challenge_method="S256")
    client = fuzz_app.test_client()
    bogus = [
        "",
        "short",
        "x" * 42,
        "x" * 129,
        "x" * 10_000,
        "é" * 50,
        "\x00" * 50,
        verifier + "\x00",
        verifier.upper(),
        challenge,
        " " + verifier,
        "%" * 60,
        verifier + verifier[:1],
    ]
    for b in bogus:
        r = client.post(
            f"{DC}/oauth/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": b},
            headers={"Authorization": BASIC},
        )
        assert r.status_code == 400 and r.json["error"] in ("invalid_grant", "invalid_request"), (b[:20], r.json)
    r = client.post(
        f"{DC}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier},
        headers={"Authorization": BASIC},
    )
    # a failed verifier may or may not burn the code; either way the answer is an OAuth answer
    assert r.status_code in (200, 400), r.get_data(as_text=True)[:300]


def test_token_endpoint_random(fuzz_app, signed_in):
    rng = random.Random(1234)
    probe = Probe(fuzz_app.test_client())
    code = good_code(signed_in)
    base_sets = [
        {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": "x" * 43},
        {"grant_type": "refresh_token", "refresh_token": "r" * 40, "scope": SCOPE},
        {"grant_type": "client_credentials", "scope": "FB=34_35"},
    ]
    for i in range(400):
        params = random_params(rng, TOKEN_PARAMS, rng.choice(base_sets))
        header = rng.choice([BASIC, None, latin1_header(rng), rng.choice(AUTH_HEADERS)])
        how = rng.random()
        if how < 0.6:
            probe("POST", f"{DC}/oauth/token", f"#{i} {params!r}", data=params, headers={"Authorization": header})
        elif how < 0.8:
            probe(
                "GET",
                f"{DC}/oauth/token?" + urlencode(params),
                f"#{i} GET {params!r}",
                headers={"Authorization": header},
            )
        else:
            probe(
                "POST",
                f"{DC}/oauth/token",
                f"#{i} json {params!r}",
                data=json.dumps(dict(params)),
                content_type=rng.choice(CONTENT_TYPES) or None,
                headers={"Authorization": header},
            )
    probe.check()


# --- revocation ---------------------------------------------------------------------------


def test_revocation_endpoint(fuzz_app):
    rng = random.Random(1234)
    probe = Probe(fuzz_app.test_client())
    path = f"{DC}/oauth/revoke"
    for header in AUTH_HEADERS:
        probe("POST", path, f"auth {str(header)[:40]}", data={"token": "x"}, headers={"Authorization": header})
    for hint in ["access_token", "refresh_token", "", "id_token", "\x00", "x" * 5000, "é"]:
        for value in BAD_STRINGS:
            probe(
                "POST",
                path,
                f"{hint[:10]} {value[:30]}",
                data={"token": value, "token_type_hint": hint},
                headers={"Authorization": BASIC},
            )
    probe("POST", path, "no token", data={}, headers={"Authorization": BASIC})
    probe("POST", path, "dup token", data=[("token", "a"), ("token", "b")], headers={"Authorization": BASIC})
    for ctype in CONTENT_TYPES:
        for body in RAW_BODIES[:8]:
            probe(
                "POST",
                path,
                f"{ctype} {body[:30]!r}",
                data=body,
                content_type=ctype or None,
                headers={"Authorization": BASIC},
            )
    probe("POST", path, "json", json={"token": "x"}, headers={"Authorization": BASIC})
    for i in range(150):
        params = random_params(
            rng,
            ["token", "token_type_hint", "client_id", "client_secret"],
            {"token": random_text(rng), "token_type_hint": "access_token"},
        )
        probe(
            "POST",
            path,
            f"#{i} {params!r}",
            data=params,
            headers={"Authorization": rng.choice([BASIC, latin1_header(rng), None])},
        )
    for method in ("GET", "PUT", "DELETE"):
        probe(method, path, method, headers={"Authorization": BASIC})
    probe.check()


# --- the authorization endpoint -------------------------------------------------------------

AUTHORIZE_BASE = {
    "client_id": "demo-third-party",
    "redirect_uri": CALLBACK,
    "response_type": "code",
    "scope": SCOPE,
    "state": "s-1",
}


@pytest.mark.parametrize("who", ["signed_in", "anonymous"])
def test_authorization_endpoint_table(request, who):
    client = request.getfixturevalue(who)
    probe = Probe(client)
    path = f"{DC}/oauth/authorize"
    for name in AUTHORIZE_PARAMS:
        for value in BAD_STRINGS:
            q = {**AUTHORIZE_BASE, name: value}
            probe("GET", path + "?" + urlencode(q), f"{name}={value[:40]}")
        without = {k: v for k, v in AUTHORIZE_BASE.items() if k != name}
        probe("GET", path + "?" + urlencode(without), f"without {name}")
        dup = list(AUTHORIZE_BASE.items()) + [(name, "other")]
        probe("GET", path + "?" + urlencode(dup), f"dup {name}")
    for rt in ["token", "code token", "id_token", "CODE", "code ", "none"]:
        probe("GET", path + "?" + urlencode({**AUTHORIZE_BASE, "response_type": rt}), f"response_type {rt}")
    for method in ["S512", "s256", "", "plain", "PLAIN", "\x00"]:
        probe(
            "GET",
            path + "?" + urlencode({**AUTHORIZE_BASE, "code_challenge": "c" * 43, "code_challenge_method": method}),
            f"method {method!r}",
        )
    for q in RAW_QUERIES:
        probe("GET", f"{path}?{q}", f"raw {q[:30]}")
        probe("GET", path + "?" + urlencode(AUTHORIZE_BASE) + "&" + q, f"raw+ {q[:30]}")
    # the consent form posted with a good CSRF token and junk fields
    url = path + "?" + urlencode(AUTHORIZE_BASE)
    page = client.get(url)
    token = csrf(text(page)) if page.status_code == 200 else csrf(text(client.get(f"{DC}/")))
    for decision in ["accept", "reject", "", "ACCEPT", "\x00", "x" * 5000, None]:
        for up in [
            [],
            ["1"],
            ["abc"],
            ["-1"],
            ["0"],
            ["99999999999999999999999"],
            ["1.5"],
            ["٣"],
            ["\x00"],
            ["1", "1"],
            ["1"] * 500,
            [" 1 "],
            ["1e3"],
        ]:
            data = [
                ("csrf_token", token),
                *([("decision", decision)] if decision is not None else []),
                *[("usage_point", u) for u in up],
            ]
            probe("POST", url, f"decision={str(decision)[:10]} up={up[:3]}", data=data)
    probe("POST", url, "json consent", json={"decision": "accept", "csrf_token": token})
    probe("POST", url, "no csrf", data={"decision": "accept"})
    probe.check()


@pytest.mark.parametrize("who", ["signed_in", "anonymous"])
def test_authorization_endpoint_random(request, who):
    client = request.getfixturevalue(who)
    rng = random.Random(1234)
    probe = Probe(client)
    for i in range(250):
        params = random_params(rng, AUTHORIZE_PARAMS, AUTHORIZE_BASE)
        method = rng.choice(["GET", "GET", "POST"])
        probe(
            method,
            f"{DC}/oauth/authorize?" + urlencode(params),
            f"#{i} {params!r}",
            data=random_params(rng, ["decision", "usage_point", "csrf_token"], {"decision": "accept"})
            if method == "POST"
            else None,
        )
    probe.check()


# --- metadata, registration, ReadServiceStatus ---------------------------------------------


def test_metadata_endpoints(anonymous):
    rng = random.Random(1234)
    probe = Probe(anonymous)
    paths = [f"{DC}/.well-known/oauth-authorization-server", f"/.well-known/oauth-authorization-server{DC}"]
    for path in paths:
        r = probe("GET", path, "plain")
        assert r is not None and r.status_code == 200 and r.json["issuer"]
        for q in RAW_QUERIES:
            probe("GET", f"{path}?{q}", f"raw {q[:30]}")
        for accept in ["", "*/*", "application/xml", "text/html;q=0", "\x7f", "a" * 5000]:
            probe("GET", path, f"accept {accept[:20]}", headers={"Accept": accept})
        for header in AUTH_HEADERS:
            probe("GET", path, f"auth {str(header)[:30]}", headers={"Authorization": header})
        for method in ("POST", "PUT", "DELETE", "HEAD", "OPTIONS"):
            probe(method, path, method, data=b"\x00\xff")
        for i in range(30):
            probe("GET", path + "?" + urlencode([(random_text(rng)[:20], random_text(rng))]), f"#{i}")
    for slug in ["nowhere", "BAYVIEW", "bay%00view", "é", "x" * 2000, "..", "%2e%2e"]:
        probe("GET", f"/dc/{slug}/.well-known/oauth-authorization-server", f"slug {slug[:20]}")
        probe("GET", f"/.well-known/oauth-authorization-server/dc/{slug}", f"rfc8414 slug {slug[:20]}")
        probe(
            "POST",
            f"/dc/{slug}/oauth/token",
            f"token slug {slug[:20]}",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": BASIC},
        )
    probe.check()


REGISTER_GOOD = {
    "client_name": "Fuzz TP",
    "redirect_uris": ["http://127.0.0.1:9/cb"],
    "contacts": ["f@tp.example"],
    "thirdPartyNotifyUri": "http://127.0.0.1:9/notify",
}
REGISTER_VALUES = [
    None,
    0,
    1.5,
    -1,
    10**30,
    True,
    [],
    {},
    "",
    "\x00",
    "x" * 5000,
    ["\x00"],
    [{}],
    [None],
    [1],
    {"a": [1]},
    "é☃𝄞",
    ["http://[::1"],
    ["javascript:alert(1)"],
    [""] * 200,
    "http://127.0.0.1:9/cb",
]
REGISTER_KEYS = [
    "client_name",
    "redirect_uris",
    "redirect_uri",
    "contacts",
    "scope",
    "thirdPartyNotifyUri",
    "thirdPartyScopeSelectionScreenURI",
    "client_uri",
    "logo_uri",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "software_statement",
    "thirdPartyApplicationDescription",
    "client_id",
]


def test_registration_endpoint(fuzz_app):
    rng = random.Random(1234)
    probe = Probe(fuzz_app.test_client())
    path = f"{DC}/espi/1_1/register"
    json_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    for key in REGISTER_KEYS:
        for value in REGISTER_VALUES:
            # a bad value is refused before anything is stored; a good registration costs a password hash
            body = {
                **REGISTER_GOOD,
                key: value,
                "redirect_uris": REGISTER_GOOD["redirect_uris"] if key != "redirect_uris" else value,
                "contacts": ["not-an-email"] if key != "contacts" else value,
            }
            probe("POST", path, f"{key}={str(value)[:40]}", data=json.dumps(body), headers=json_headers)
    for raw in [
        b"",
        b" ",
        b"null",
        b"[]",
        b'"x"',
        b"1",
        b"{",
        b'{"a":',
        b"\xff\xfe",
        b"{}" * 1000,
        b"[" * 20_000 + b"]" * 20_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"client_name": "\\ud800"}',
        b'{"client_name": NaN}',
        b'{"redirect_uris": ["http://127.0.0.1:9/cb"], "contacts": "a@b.c"}',
        b"x" * 300_000,
    ]:
        for ctype in ["application/json", "", "text/plain", "application/x-www-form-urlencoded"]:
            probe("POST", path, f"{ctype} {raw[:30]!r}", data=raw, headers={"Content-Type": ctype} if ctype else {})
    xml_bodies = [
        b"<",
        b"<x/>",
        b"<?xml version='1.0'?><ApplicationInformation/>",
        b'<ApplicationInformation xmlns="http://naesb.org/espi"><client_name>\x00</client_name>'
        b"</ApplicationInformation>",
        b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><x>&c;</x>',
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        b'<ApplicationInformation xmlns="http://naesb.org/espi">'
        + b"<redirect_uri>x</redirect_uri>" * 3000
        + b"</ApplicationInformation>",
        b"<a>" * 5000 + b"</a>" * 5000,
        "<x>é</x>".encode("utf-16"),
    ]
    for raw in xml_bodies:
        for ctype in ["application/xml", "application/atom+xml", "text/xml", ""]:
            probe("POST", path, f"{ctype} {raw[:30]!r}", data=raw, headers={"Content-Type": ctype} if ctype else {})
    for header in AUTH_HEADERS:
        probe(
            "POST",
            path,
            f"auth {str(header)[:30]}",
            data=json.dumps(REGISTER_GOOD) if header is None else "{}",
            headers={**json_headers, "Authorization": header},
        )
    for accept in ["application/xml", "text/html", "", "*/*;q=x", "\x7f"]:
        probe(
            "POST",
            path,
            f"accept {accept!r}",
            data="{}",
            headers={"Content-Type": "application/json", "Accept": accept},
        )
    for i in range(80):
        body = {
            rng.choice(REGISTER_KEYS + [random_text(rng)[:20]]): rng.choice(REGISTER_VALUES + [random_text(rng)])
            for _ in range(rng.randint(0, 6))
        }
        body["contacts"] = rng.choice([["bad"], random_text(rng), None])
        probe("POST", path, f"#{i} {body!r}", data=json.dumps(body), headers=json_headers)
    # managing a registration that is not there, with odd tokens
    for header in AUTH_HEADERS[:12]:
        for rid in ["nope", "\x00", "x" * 3000, "%ff", "00000000-0000-0000-0000-000000000000"]:
            for method in ("GET", "PUT", "DELETE"):
                probe(
                    method,
                    f"{DC}/espi/1_1/resource/ApplicationInformation/{rid}",
                    f"{method} {rid[:20]}",
                    data="{}" if method == "PUT" else None,
                    headers={**json_headers, "Authorization": header},
                )
    for method in ("GET", "PUT", "DELETE"):
        probe(method, path, method)
    probe.check()


def test_read_service_status(fuzz_app):
    rng = random.Random(1234)
    client = fuzz_app.test_client()
    probe = Probe(client)
    path = f"{DC}/espi/1_1/resource/ReadServiceStatus"
    good = client.post(
        f"{DC}/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": BASIC}
    ).json["access_token"]
    r = probe("GET", path, "good", headers={"Authorization": f"Bearer {good}"})
    assert r is not None and r.status_code == 200
    for header in AUTH_HEADERS + [
        f"Bearer {good} x",
        f"Bearer  {good}",
        f"bearer {good}",
        f"Bearer {good}\t",
        f"Bearer {good[:-1]}",
        f"Basic {good}",
        f"Bearer {good}," * 3,
    ]:
        probe("GET", path, f"auth {str(header)[:40]}", headers={"Authorization": header})
    for q in RAW_QUERIES + ["access_token=" + good, "access_token=x&access_token=y"]:
        probe("GET", f"{path}?{q}", f"raw {q[:30]}", headers={"Authorization": f"Bearer {good}"})
        probe("GET", f"{path}?{q}", f"raw anon {q[:30]}")
    for i in range(120):
        probe(
            "GET",
            path,
            f"#{i}",
            headers={
                "Authorization": latin1_header(rng),
                "Accept": rng.choice(["", "*/*", "application/atom+xml", "\x7f"]),
            },
        )
    for method in ("POST", "PUT", "DELETE"):
        probe(method, path, method, data=b"\x00", headers={"Authorization": f"Bearer {good}"})
    probe.check()
