"""Dynamic client registration (ESPI.md 5.7, RFC 7591) and registration management (RFC 7592):

    POST   /dc/<slug>/espi/1_1/register                                   -> 201, the new registration
    GET    /dc/<slug>/espi/1_1/resource/ApplicationInformation/<uuid>     -> 200, secrets redacted
    PUT    /dc/<slug>/espi/1_1/resource/ApplicationInformation/<uuid>     -> 200, metadata replaced
    DELETE /dc/<slug>/espi/1_1/resource/ApplicationInformation/<uuid>     -> 204, registration deleted

The registration call needs no token; the other three need a registration access token
(Authorization: Bearer ...): the one the registration response gave, or one from the token
endpoint's client-credentials grant with scope FB=36_40 (ESPI.md 4.1; services.grants). No token or an unknown one is
401 (WWW-Authenticate: Bearer error="invalid_token"); a real token for another record or
of another kind is 403 naming the token needed; an id that does not exist is 404.

Request bodies: RFC 7591 client metadata as JSON, or an ESPI ApplicationInformation (bare
or in an Atom entry) as XML. Accepted metadata:

| JSON member | XML element | meaning |
| --- | --- | --- |
| client_name (required) | client_name | the application's name (customers see it) |
| redirect_uris (required, array) | redirect_uri (repeated) | absolute http(s) URIs, no fragment; exact match |
| scope (space-separated string or array) | scope (repeated) | ESPI scope strings among the utility's offered scopes; omitted: all of them |
| contacts (array of e-mail addresses) | contacts | the first one is kept |
| client_uri, logo_uri | client_uri, logo_uri | absolute http(s) URIs |
| thirdPartyNotifyUri | thirdPartyNotifyUri | where BatchList notifications are POSTed |
| thirdPartyScopeSelectionScreenURI | thirdPartyScopeSelectionScreenURI | optional legacy scope screen |
| thirdPartyApplicationDescription | thirdPartyApplicationDescription | optional description |
| grant_types | grant_types | subset of authorization_code, client_credentials, refresh_token; all three are registered |
| response_types | response_types | only "code" |
| token_endpoint_auth_method | token_endpoint_auth_method | "client_secret_basic" or "client_secret_post" (the  |
|                            |                            | token endpoint accepts both from every client);    |
|                            |                            | responses say "client_secret_basic", the only one  |
|                            |                            | the ESPI schema allows                             |
| thirdPartyUserPortalScreenURI, tos_uri, policy_uri | the same | absolute http(s) URIs, kept and shown |
| thirdPartyPhone | thirdPartyPhone | at most 40 characters |
| software_id, software_version | software_id, software_version | kept (at most 256 and 32 characters); without them |
|                               |                               | ApplicationInformation reports the registration's  |
|                               |                               | own id and "1.0"                                    |

Other members are ignored (RFC 7591 2). In a PUT, client_id (if given) must be the
registration's and client_secret (if given and not "redirected") must be its current secret.
Responses: the ESPI ApplicationInformation entry (application/atom+xml), or RFC 7591 JSON
when the request's Accept header prefers application/json. Only the registration response
carries client_secret and registration_access_token; everything else shows "redacted".
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, json, jsonify, request

from sandbox.core import errors
from sandbox.espi import codes, urls
from sandbox.espi.atom import FeedWriter
from sandbox.espi.xmlio import XmlRefused, parse_untrusted
from sandbox.feeds.management import GRANT_TYPES, application_entry
from sandbox.services import onboarding, world
from sandbox.synth.world import UtilityDef
from sandbox.web import espi_http, security
from sandbox.web.call import Call
from sandbox.web.context import sandbox
from sandbox.web.errors import refusal
from sandbox.web.oauth.server import TOKEN_METHODS
from sandbox.web.utility import find_utility

bp = Blueprint("registration", __name__, url_prefix="/dc/<slug>")

MAX_BODY = 256 * 1024
ATOM_XML = "application/atom+xml"
JSON_FIELDS = {
    "name": "client_name",
    "description": "thirdPartyApplicationDescription",
    "contact_email": "contacts",
    "redirect_uris": "redirect_uris",
    "scopes": "scope",
    "notify_uri": "thirdPartyNotifyUri",
    "scope_selection_uri": "thirdPartyScopeSelectionScreenURI",
    "client_uri": "client_uri",
    "logo_uri": "logo_uri",
    "portal_uri": "thirdPartyUserPortalScreenURI",
    "tos_uri": "tos_uri",
    "policy_uri": "policy_uri",
    "phone": "thirdPartyPhone",
    "software_id": "software_id",
    "software_version": "software_version",
}
XML_FIELDS = JSON_FIELDS | {"redirect_uris": "redirect_uri"}
_A, _E = "{http://www.w3.org/2005/Atom}", "{http://naesb.org/espi}"


def _refusal(utility: UtilityDef, exc: Exception) -> Response | None:
    """The registration API's own refusals (RFC 7591 3.2.2, RFC 7592); None for the resource server's."""
    if isinstance(exc, errors.Refused):
        return refusal(400, exc.error, exc.message, "bad_client_metadata", in_body=False)
    if isinstance(exc, errors.NotFound):
        return refusal(404, "not_found", f"no ApplicationInformation {exc} at {utility.name}")
    return None


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match([ATOM_XML, "application/json"]) == "application/json"


# --- reading a request body ---------------------------------------------------------------


def _strings(value, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.Refused(f"{name}: must be an array of strings.", name)
    return value


def _server_checks(body: dict) -> None:
    """The members the sandbox fixes itself: accepted when they agree with what it supports."""
    if body.get("grant_types") is not None:
        wanted = _strings(body["grant_types"], "grant_types")
        bad = [g_ for g_ in wanted if g_ not in GRANT_TYPES]
        if bad:
            raise errors.Refused(
                f"grant_types: {bad[0]!r} is not supported; the sandbox registers {', '.join(GRANT_TYPES)}.",
                "grant_types",
            )
    if body.get("response_types") is not None:
        bad = [r for r in _strings(body["response_types"], "response_types") if r != "code"]
        if bad:
            raise errors.Refused(f'response_types: {bad[0]!r} is not supported; only "code".', "response_types")
    method = body.get("token_endpoint_auth_method")
    if method is not None and method not in TOKEN_METHODS:
        raise errors.Refused(
            f"token_endpoint_auth_method: {str(method)[:60]!r} is not supported; the token "
            f'endpoint accepts {" or ".join(TOKEN_METHODS)} (ESPI uses "client_secret_basic").',
            "token_endpoint_auth_method",
        )
    for name, limit in (("software_id", 256), ("software_version", 32)):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise errors.Refused(f"{name}: must be a string of at most {limit} characters.", name)


def _contact(value, name: str) -> str:
    if value is None:
        return ""
    contacts = _strings(value, name)
    for i, c in enumerate(contacts):
        if not onboarding.is_email(c):
            raise errors.Refused(f"{name}[{i}]: {c[:60]!r} is not an e-mail address.", name)
    return contacts[0].strip() if contacts else ""


def _further(body: dict) -> dict:
    """The further metadata kept and shown in ApplicationInformation, under Metadata's keys."""
    return {
        key: body.get(name)
        for key, name in (
            ("portal_uri", "thirdPartyUserPortalScreenURI"),
            ("tos_uri", "tos_uri"),
            ("policy_uri", "policy_uri"),
            ("phone", "thirdPartyPhone"),
            ("software_id", "software_id"),
            ("software_version", "software_version"),
        )
    }


def _from_json(body) -> tuple[dict, dict]:
    """(raw metadata under Metadata's keys, the body) from RFC 7591 JSON."""
    if not isinstance(body, dict):
        raise errors.Refused("body: must be a JSON object of client metadata (RFC 7591).", "body")
    _server_checks(body)
    scope = body.get("scope")
    scopes: list[str] | None
    if isinstance(scope, str):
        scopes = scope.split()
    elif scope is None or isinstance(scope, list):
        scopes = scope
    else:
        raise errors.Refused("scope: a space-separated string of ESPI scopes, or an array of them.", "scope")
    redirect = body.get("redirect_uris", body.get("redirect_uri"))
    if isinstance(redirect, str) and "redirect_uris" not in body:  # ESPI's singular name, one URI
        redirect = [redirect]
    description = body.get("thirdPartyApplicationDescription")
    return {
        "name": body.get("client_name"),
        "description": description,
        "redirect_uris": redirect,
        "scopes": scopes,
        "contact_email": _contact(body.get("contacts"), "contacts"),
        "notify_uri": body.get("thirdPartyNotifyUri"),
        "scope_selection_uri": body.get("thirdPartyScopeSelectionScreenURI"),
        "client_uri": body.get("client_uri"),
        "logo_uri": body.get("logo_uri"),
        **_further(body),
    }, body


def _from_xml(data: bytes, slug: str) -> tuple[dict, dict]:
    """(raw metadata, the ApplicationInformation children as a JSON-like dict) from ESPI XML."""
    try:
        root = parse_untrusted(data, MAX_BODY)
    except XmlRefused as exc:
        raise errors.Refused(f"body: {exc}.", "body") from None
    info = root if root.tag == _E + "ApplicationInformation" else root.find(f"{_A}content/{_E}ApplicationInformation")
    if info is None:
        raise errors.Refused(
            "body: expected an ApplicationInformation element (bare, or in an Atom entry's "
            "content) in the http://naesb.org/espi namespace.",
            "body",
        )
    repeated = {"redirect_uri", "scope", "contacts", "grant_types", "response_types"}
    body: dict = {}
    for child in info:
        if not isinstance(child.tag, str) or not child.tag.startswith(_E):
            continue
        name, text = child.tag[len(_E) :], (child.text or "").strip()
        if name in repeated:
            body.setdefault(name, []).append(text)
        else:
            body[name] = text
    _server_checks(body)
    dc = urls.dc_root(request.url_root, slug)
    notify = body.get("thirdPartyNotifyUri")
    if notify == f"{dc}/developer/no-notify-uri":  # the placeholder a GET shows when none is registered
        notify = None
    return {
        "name": body.get("client_name"),
        "description": body.get("thirdPartyApplicationDescription"),
        "redirect_uris": body.get("redirect_uri"),
        "scopes": body.get("scope"),
        "contact_email": _contact(body.get("contacts"), "contacts"),
        "notify_uri": notify,
        "scope_selection_uri": body.get("thirdPartyScopeSelectionScreenURI"),
        "client_uri": body.get("client_uri"),
        "logo_uri": body.get("logo_uri"),
        **_further(body),
    }, body


def _read_metadata(utility: UtilityDef) -> tuple[onboarding.Metadata, dict]:
    request.max_content_length = MAX_BODY
    data = request.get_data(cache=True)
    ctype = (request.mimetype or "").lower()
    if ctype.endswith("xml") or (not ctype and data.lstrip()[:1] == b"<"):
        raw, body = _from_xml(data, utility.slug)
        names = XML_FIELDS
    else:
        if not data.strip():
            raise errors.Refused("body: empty; send RFC 7591 client metadata as a JSON object.", "body")
        try:
            parsed = json.loads(data)  # the app's JSON: text no database stores is refused (input_guards)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.Refused(f"body: not valid JSON ({exc}).", "body") from None
        except RecursionError:
            raise errors.Refused("body: JSON nested too deeply to be client metadata.", "body") from None
        raw, body = _from_json(parsed)
        names = JSON_FIELDS
    offered = world.offered_scopes(utility)
    meta = onboarding.validate_metadata(
        raw,
        offered,
        utility_name=utility.name,
        default_scopes=True,
        strict=utility.profile.behaviour.strict_scopes,
        names=names,
    )
    return meta, body


# --- writing a response ---------------------------------------------------------------------


def _epoch(when: dt.datetime | None) -> int:
    return int(when.replace(tzinfo=dt.timezone.utc).timestamp()) if when else 0


def _client_json(app, utility: UtilityDef, reveal: dict | None = None) -> dict:
    """RFC 7591/7592 client information: the secrets only when `reveal` gives them."""
    ep = urls.endpoints(request.url_root, utility.slug)
    out = {"client_id": app.client_id}
    if reveal:
        out["client_secret"] = reveal["client_secret"]
    out |= {"client_id_issued_at": _epoch(app.created_at), "client_secret_expires_at": 0}
    if reveal:
        out["registration_access_token"] = reveal["registration_access_token"]
    out |= {
        "registration_client_uri": urls.href(ep.resource, "ApplicationInformation", application_id=app.uuid),
        "client_name": app.name,
        "redirect_uris": list(app.redirect_uris),
        "scope": " ".join(app.scopes),
        "contacts": [app.contact_email] if app.contact_email else [],
        "grant_types": list(GRANT_TYPES),
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "software_id": app.software_id or app.uuid,
        "software_version": app.software_version or "1.0",
    }
    for key, value in (
        ("client_uri", app.client_uri),
        ("logo_uri", app.logo_uri),
        ("tos_uri", app.tos_uri),
        ("policy_uri", app.policy_uri),
        ("thirdPartyUserPortalScreenURI", app.portal_uri),
        ("thirdPartyPhone", app.phone),
        ("thirdPartyApplicationDescription", app.description or None),
        ("thirdPartyNotifyUri", app.notify_uri),
        ("thirdPartyScopeSelectionScreenURI", app.scope_selection_uri),
    ):
        if value:
            out[key] = value
    out |= {
        "dataCustodianId": utility.data_custodian_id,
        "dataCustodianApplicationStatus": codes.APPLICATION_STATUS[app.status],
        "authorizationServerAuthorizationEndpoint": ep.authorize,
        "authorizationServerTokenEndpoint": ep.token,
        "authorizationServerRegistrationEndpoint": ep.register,
        "dataCustodianResourceEndpoint": ep.resource,
        "dataCustodianBulkRequestURI": ep.bulk,
    }
    return out


def _answer(app, utility: UtilityDef, status: int, reveal: dict | None = None) -> Response:
    if _wants_json():
        resp = jsonify(_client_json(app, utility, reveal))
    else:
        entry = application_entry(app, utility.data_custodian_id, request.url_root, utility.slug, reveal=reveal)
        resp = Response(FeedWriter("espi").entry_document(entry), mimetype=ATOM_XML)
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


# --- the endpoints ----------------------------------------------------------------------------


@bp.post(urls.REGISTER_RULE)
def register(slug: str):
    utility, utility_id = find_utility(slug)
    origin = security.cross_origin()
    if origin is not None:  # a web page of another site: not even a blind registration (no CORS: web.security)
        return refusal(
            403,
            "access_denied",
            f"Origin: {origin[:100]!r} is another site; registration is not "
            "answered to web pages of other origins. Register from your server or the developer portal.",
            "cross_origin",
        )
    sb = sandbox()
    try:
        meta, _body = _read_metadata(utility)
        issued = onboarding.register(
            sb.db, sb.clock, utility_id, sb.require_world().seed, meta, registration_token=True
        )
    except errors.Refused as exc:
        return _refusal(utility, exc)
    resp = _answer(
        issued.app,
        utility,
        201,
        {"client_secret": issued.client_secret, "registration_access_token": issued.registration_access_token},
    )
    resp.headers["Location"] = urls.href(
        urls.resource_root(request.url_root, slug), "ApplicationInformation", application_id=issued.app.uuid
    )
    return resp


def read_registration(call: Call, application_id: str):
    return _answer(
        onboarding.registered_application(call.sandbox.db, call.utility_id, application_id), call.utility, 200
    )


def update_registration(call: Call, application_id: str):
    """The token is checked before the body is read; then the change is one transaction."""
    sb = call.sandbox
    onboarding.registered_application(sb.db, call.utility_id, application_id)
    meta, body = _read_metadata(call.utility)
    app = onboarding.update_registered(
        sb.db,
        sb.clock,
        call.utility_id,
        application_id,
        meta,
        call.utility.profile,
        client_id=body.get("client_id"),
        client_secret=body.get("client_secret"),
    )
    return _answer(app, call.utility, 200)


def delete_registration(call: Call, application_id: str):
    onboarding.delete_registered(call.sandbox.db, call.utility_id, application_id)
    resp = Response(status=call.behaviour.delete_status)  # 204, or the profile's
    resp.headers["Cache-Control"] = "no-store"
    return resp


# ApplicationInformation/{id}: one rule that every method reaches; the access matrix answers the others.
# Its views read flask.request: answered by Flask, never the fast path (web.fast_path)
read_registration.needs_request_context = True  # type: ignore[attr-defined]
espi_http.route(
    bp,
    "ApplicationInformation",
    {"GET": read_registration, "PUT": update_registration, "DELETE": delete_registration},
    lambda call, exc: _refusal(call.utility, exc),
)
