"""OAuth 2.0 endpoints of each utility, the customer's consent page, ESPI's legacy
scope-selection screens, and ReadServiceStatus. Authlib (sandbox.web.oauth.server) does the
protocol; this module parses requests, asks the customer, and renders."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, url_for

from sandbox.core.models import Application, Customer
from sandbox.core.profile import Behaviour
from sandbox.espi import urls
from sandbox.espi.scopes import plain_words
from sandbox.services import access, customers, third_parties, world
from sandbox.web import context
from sandbox.web.context import sandbox
from sandbox.web.oauth.server import GRANT_TYPES, TOKEN_METHODS, create_server
from sandbox.web.utility import load_utility, utility_blueprint

bp = utility_blueprint("oauth", __name__, "/dc/<slug>")
bp.context_processor(context.customer_globals)  # the customer's pages here look like the portal's
wellknown = Blueprint("oauth_wellknown", __name__)


def server():
    return current_app.extensions["oauth_server"]


def _error_page(title: str, message: str, status: int = 400):
    """An error page, with the portal's menu if the customer is signed in (not yet entered in g)."""
    return render_template(
        "oauth/error.html", title=title, message=message, customer=context.current_customer()
    ), status


_REFUSAL_TITLES = {
    "blocked": "Application unavailable",
    "on_hold": "Application unavailable",
    "review": "Application in review",
    "moved_out": "Service has ended",
}


def _answers(app: Application | None) -> Behaviour:
    """The behaviour profile the authorization endpoint answers with: the application's, else the
    utility's (an unknown client names none)."""
    return sandbox().require_world().profile_for(g.utility, app.profile if app is not None else None).behaviour


def _today():
    return sandbox().clock.today(g.utility.time_zone)


def _refused_page(refusal: str, app: Application):
    """The access policy said no (access.authorize_refusal): say why, in the customer's words."""
    message = access.REFUSALS[refusal].format(utility=g.utility.name, app=app.name)
    return _error_page(_REFUSAL_TITLES[refusal], f"{message} Nothing was shared.", 403)


def _client_error(app: Application, redirect_uri: str, error: str, description: str, state: str | None):
    """The answer to a request whose client and redirect URI are good but that cannot be granted:
    sent back to the client if the utility vouches for it (access.redirects_unasked), shown here
    otherwise, so that an application anyone can register never makes the utility an open
    redirector (RFC 6749 4.1.2.1, RFC 9700 4.11.2)."""
    if access.redirects_unasked(app):
        return _redirect_error(redirect_uri, error, description, state)
    return _error_page(
        "Invalid request",
        f"{app.name} sent a request that cannot be answered ({error}: "
        f"{description}). It is not in production at {g.utility.name}, so you were not sent back "
        "to it. Nothing was shared.",
    )


def _redirect_error(redirect_uri: str, error: str, description: str, state: str | None):
    params = {"error": error, "error_description": description}
    if state:
        params["state"] = state
    sep = "&" if urlsplit(redirect_uri).query else "?"
    return redirect(redirect_uri + sep + urlencode(params))


AUTHORIZE_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize():
    """Validate the request (bad client or redirect URI: an error page, never a redirect), sign the
    customer in, and ask them. Accept redirects with code and state; Reject with access_denied."""
    args = request.args
    repeated = [k for k in AUTHORIZE_PARAMS if len(args.getlist(k)) > 1]
    client = server().query_client(args.get("client_id", "")) if args.get("client_id") else None
    if client is None or "client_id" in repeated:
        return _error_page(
            "Unknown application",
            "The link that brought you here names no application registered "
            f"with {g.utility.name} (client_id is missing, repeated or unknown). Nothing was shared.",
            _answers(None).unknown_client_status,
        )
    redirect_uri = args.get("redirect_uri") or client.get_default_redirect_uri()
    if not redirect_uri or "redirect_uri" in repeated or not client.check_redirect_uri(redirect_uri):
        return _error_page(
            "Unregistered return address",
            f"{client.app.name} asked to send you back to an address "
            "it has not registered (redirect_uri). For your safety you were not sent there.",
            _answers(client.app).unregistered_redirect_status,
        )
    app = client.app
    if repeated:  # RFC 6749 3.1: a parameter must not be sent more than once
        return _client_error(app, redirect_uri, "invalid_request", f"{repeated[0]} is repeated", args.get("state"))
    if args.get("response_type") != "code":  # answered here: Authlib would echo the value back
        return _client_error(
            app, redirect_uri, "unsupported_response_type", "response_type must be code", args.get("state")
        )
    refusal = access.authorize_refusal(app, None, _today())
    if refusal:
        return _refused_page(refusal, app)
    state = args.get("state")
    if not state:
        return _client_error(app, redirect_uri, "invalid_request", "state is required", None)
    customer = context.current_customer()
    try:  # the whole request is checked before the customer is asked to sign in
        grant = server().get_consent_grant(end_user=customer)
    except OAuth2Error as error:
        if error.redirect_uri:
            return _client_error(app, error.redirect_uri, error.error, error.description or "", state)
        return _error_page("Invalid request", f"{error.error}: {error.description or ''}")
    if customer is None:
        return redirect(url_for("portal.home", next=request.full_path))
    refusal = access.authorize_refusal(app, customer, _today())
    if refusal:
        return _refused_page(refusal, app)
    context.enter_customer(customer)
    scope = grant.request.payload.scope
    if request.method == "GET":
        return _consent_page(app, customer, scope, redirect_uri)
    decision = request.form.get("decision")
    if decision not in ("accept", "reject"):
        return _consent_page(app, customer, scope, redirect_uri, "Choose Allow or Deny.", 400)
    if decision == "reject":
        return server().create_authorization_response(grant_user=None, grant=grant)
    try:
        chosen = [int(x) for x in request.form.getlist("usage_point")]
    except ValueError:
        return _consent_page(app, customer, scope, redirect_uri, "usage_point must be a number.", 400)
    own = {up.id for up in customers.shareable_usage_points(customer, scope)}
    if not chosen or not set(chosen) <= own:
        return _consent_page(app, customer, scope, redirect_uri, "Choose at least one of your services to share.", 400)
    g.consent_usage_points = chosen
    return server().create_authorization_response(grant_user=customer, grant=grant)


def _consent_page(
    app: Application, customer: Customer, scope: str, redirect_uri: str, error: str | None = None, status: int = 200
):
    days = g.utility.profile.authorization_days
    until = sandbox().clock.today(g.utility.time_zone) + dt.timedelta(days=days)
    if customer.service_end is not None:
        until = min(until, customer.service_end)
    # an application the utility has not vetted: the customer sees where either answer sends them
    going_to = None if access.redirects_unasked(app) else urlsplit(redirect_uri).netloc
    return render_template(
        "oauth/consent.html",
        app=app,
        items=plain_words(scope),
        scope=scope,
        until=until,
        error=error,
        usage_points=customers.shareable_usage_points(customer, scope),
        action=request.full_path,
        going_to=going_to,
    ), status


@bp.route("/oauth/token", methods=["POST", "GET"])
def token():
    return server().create_token_response()


@bp.post("/oauth/revoke")
def revoke():
    return server().create_endpoint_response("revocation")


@bp.post("/oauth/introspect")
def introspect():
    return server().create_endpoint_response("introspection")


def _metadata() -> dict:
    ep = urls.endpoints(request.url_root, g.slug)
    meta = AuthorizationServerMetadata(
        {
            "issuer": ep.dc,
            "authorization_endpoint": ep.authorize,
            "token_endpoint": ep.token,
            "revocation_endpoint": ep.revoke,
            "introspection_endpoint": ep.introspect,
            "registration_endpoint": ep.register,
            "response_types_supported": ["code"],
            "grant_types_supported": list(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": list(TOKEN_METHODS),
            "revocation_endpoint_auth_methods_supported": list(TOKEN_METHODS),
            "introspection_endpoint_auth_methods_supported": list(TOKEN_METHODS),
            "code_challenge_methods_supported": ["S256"] if g.utility.profile.pkce_required else ["S256", "plain"],
            "scopes_supported": sorted(set(world.offered_scopes(g.utility))),
            "service_documentation": f"{request.url_root.rstrip('/')}/",
        }
    )
    meta.validate()
    meta["espi_resource_endpoint"] = ep.resource
    meta["espi_data_custodian_id"] = g.utility.data_custodian_id
    meta["pkce_required"] = g.utility.profile.pkce_required
    return dict(meta)


@bp.get("/.well-known/oauth-authorization-server")
def metadata():
    return jsonify(_metadata())


@wellknown.get("/.well-known/oauth-authorization-server/dc/<slug>")
def metadata_rfc8414(slug: str):
    load_utility(slug)
    return jsonify(_metadata())


# --- ESPI's legacy scope-selection flows (ESPI.md 5.4) ------------------------------------


def _scope_selection_redirect(app: Application):
    if not app.scope_selection_uri:
        return _error_page(
            "No scope selection screen",
            f"{app.name} has not registered a scope selection screen (thirdPartyScopeSelectionScreenURI).",
            404,
        )
    params = [("scope", s) for s in app.scopes] + [("DataCustodianID", g.utility.data_custodian_id)]
    sep = "&" if urlsplit(app.scope_selection_uri).query else "?"
    return redirect(app.scope_selection_uri + sep + urlencode(params))


@bp.route("/RetailCustomer/<customer_uuid>/ThirdPartyList", methods=["GET", "POST"])
def third_party_list(customer_uuid: str):
    """The utility-initiated flow: the customer picks a third party, the utility sends them to its screen."""
    customer = context.current_customer()
    if customer is None:
        return redirect(url_for("portal.home", next=request.full_path))
    if customer.uuid != customer_uuid:
        abort(404)
    apps = third_parties.directory(sandbox().db, g.utility_id)
    if request.method == "GET":
        context.enter_customer(customer)
        return render_template("oauth/third_parties.html", apps=apps)
    chosen = request.form.get("Third_party", "")
    app = next((a for a in apps if a.uuid == chosen or a.client_id == chosen), None)
    if app is None:
        return _error_page("Unknown third party", "Third_party names no third party of this utility.", 400)
    return _scope_selection_redirect(app)


@bp.get("/RetailCustomer/ScopeSelectionList")
def scope_selection_list():
    """The third-party-initiated flow: ?ThirdPartyID=<client_id> sends the customer back with the scopes."""
    customer = context.current_customer()
    if customer is None:
        return redirect(url_for("portal.home", next=request.full_path))
    client = server().query_client(request.args.get("ThirdPartyID", ""))
    app = client.app if client is not None else None
    if app is None or not access.redirects_unasked(app):  # sent there unasked: only an application in production
        return _error_page(
            "Access Not Authorized",
            "ThirdPartyID names no third party in production at this utility, so you were not sent on to it.",
            403,
        )
    return _scope_selection_redirect(app)


def register_oauth(app) -> None:
    app.extensions["oauth_server"] = create_server(app)
    app.register_blueprint(bp)
    app.register_blueprint(wellknown)
