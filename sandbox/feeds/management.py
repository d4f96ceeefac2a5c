"""Entries of the management resources: ApplicationInformation (a third party's registration)
and Authorization (a customer's grant). Neither ever carries a secret or token value."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sandbox.core.models import Application, Authorization
from sandbox.espi import codes, urls
from sandbox.espi.atom import Entry, Link, feed_kind
from sandbox.espi.resources import application_information, authorization
from sandbox.espi.scopes import grants_customer_data
from sandbox.services import authorizations
from sandbox.services.access import AppStatus, ClientRole, TokenKind
from sandbox.services.grants import issued_kind
from sandbox.services.subscriptions import bulk_id_of

REDACTED = "redacted"  # the schema requires client_secret and registration_access_token; their values are never served
GRANT_TYPES = ["authorization_code", "client_credentials", "refresh_token"]


def _epoch(when: dt.datetime | None) -> int:
    return int(when.replace(tzinfo=dt.timezone.utc).timestamp()) if when else 0


@dataclass(frozen=True)
class Uris:
    """The ESPI URIs a token response and an Authorization carry."""

    resource: str
    authorization: str
    customer: str | None


def uris_for(auth: Authorization, root: str) -> Uris:
    if auth.customer_id:
        resource = urls.href(root, "BatchSubscription", subscription_id=auth.subscription_uuid)
    elif issued_kind(ClientRole(auth.application.role), auth.scope) == TokenKind.REGISTRATION:
        # a registration access token's grant (ESPI.md 4.1): the registration it manages
        resource = urls.href(root, "ApplicationInformation", application_id=auth.application.uuid)
    elif auth.application.role == ClientRole.THIRD_PARTY:  # its bulk
        resource = urls.href(root, "BatchBulk", bulk_id=bulk_id_of(auth))
    else:  # the utility's upload and admin clients reach the whole resource tree
        resource = root
    customer = None
    if auth.customer is not None and grants_customer_data(auth.scope):
        customer = urls.href(root, "BatchRetailCustomer", retail_customer_id=auth.customer.uuid)
    return Uris(resource, urls.href(root, "Authorization", authorization_id=auth.uuid), customer)


def application_entry(
    app: Application, data_custodian_id: str, base_url: str, slug: str, reveal: dict[str, str] | None = None
) -> Entry:
    """The registration as ESPI ApplicationInformation. Secrets are written as "redacted" unless
    `reveal` gives them ({"client_secret": ..., "registration_access_token": ...}), which only the
    registration response does, once."""
    ep = urls.endpoints(base_url, slug)
    href = urls.href(ep.resource, "ApplicationInformation", application_id=app.uuid)
    issued = _epoch(app.created_at)

    def content():
        return application_information(
            {
                "dataCustodianId": data_custodian_id,
                "dataCustodianApplicationStatus": codes.APPLICATION_STATUS[app.status],
                "thirdPartyApplicationDescription": app.description[:256] or None,
                "thirdPartyApplicationStatus": 3 if app.status == AppStatus.PRODUCTION else 2,
                "thirdPartyApplicationType": 1,
                "thirdPartyApplicationUse": 1,
                "authorizationServerUri": ep.dc + "/",
                "thirdPartyNotifyUri": app.notify_uri or ep.developer + "no-notify-uri",
                "authorizationServerAuthorizationEndpoint": ep.authorize,
                "authorizationServerRegistrationEndpoint": ep.register,
                "authorizationServerTokenEndpoint": ep.token,
                "dataCustodianBulkRequestURI": ep.bulk,
                "dataCustodianResourceEndpoint": ep.resource,
                "thirdPartyScopeSelectionScreenURI": app.scope_selection_uri,
                "thirdPartyUserPortalScreenURI": app.portal_uri,
                "thirdPartyPhone": app.phone,
                "tos_uri": app.tos_uri,
                "policy_uri": app.policy_uri,
                "client_secret": (reveal or {}).get("client_secret", REDACTED),
                "logo_uri": app.logo_uri,
                "client_name": app.name,
                "client_uri": app.client_uri,
                "redirect_uri": list(app.redirect_uris),
                "client_id": app.client_id,
                "software_id": app.software_id or app.uuid,
                "software_version": app.software_version or "1.0",
                "client_id_issued_at": issued,
                "client_secret_expires_at": 0,
                "contacts": [app.contact_email] if app.contact_email else None,
                "token_endpoint_auth_method": "client_secret_basic",
                "scope": list(app.scopes),
                "grant_types": GRANT_TYPES,
                "response_types": "code",
                "registration_client_uri": href,
                "registration_access_token": (reveal or {}).get("registration_access_token", REDACTED),
                "dataCustodianScopeSelectionScreenURI": f"{ep.scope_selection}?ThirdPartyID={app.client_id}",
            }
        )

    return Entry(
        "ApplicationInformation",
        app.uuid,
        href,
        urls.href(ep.resource, "ApplicationInformationList"),
        app.name,
        issued,
        issued,
        content,
    )


def authorization_entry(
    auth: Authorization, base_url: str, slug: str, now: dt.datetime, token_expires_at: int | None = None
) -> Entry:
    root = urls.resource_root(base_url, slug)
    uris = uris_for(auth, root)
    href, resource = uris.authorization, uris.resource
    start, end = _epoch(auth.authorized_start), _epoch(auth.authorized_end)
    # a revocation scheduled ahead (a named test identity's) reads as revoked once its time has come
    revoked = authorizations.state(auth, now)[0] == authorizations.AuthState.REVOKED
    status = codes.AUTHORIZATION_STATUS["revoked" if revoked else auth.status]
    updated = _epoch(auth.ended_at or auth.created_at)

    def content():
        return authorization(
            authorized_start=start,
            authorized_duration=max(0, end - start),
            published_start=None,
            published_duration=None,
            status=status,
            expires_at=token_expires_at if token_expires_at is not None else end,
            grant_type=auth.grant_type,
            scope=auth.scope,
            resource_uri=resource,
            authorization_uri=href,
            customer_resource_uri=uris.customer,
        )

    related = [
        Link("related", resource, "espi-feed/UsagePoint" if auth.customer_id else f"espi-feed/{feed_kind(resource)}")
    ]
    return Entry(
        "Authorization",
        auth.uuid,
        href,
        urls.href(root, "AuthorizationList"),
        auth.application.name,
        _epoch(auth.created_at),
        updated,
        content,
        related,
    )
