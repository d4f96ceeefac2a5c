"""Third-party onboarding: developer accounts, registering and updating applications, the
client secret and the registration access token, the terms, the certificate, the
notification test, the onboarding checklist and the Review -> Production transition.

Plain Python over the database and the clock (no Flask): the developer portal
(web/developer.py), the registration API (web/registration.py) and the OAuth server (which
calls `record_call` after a client-credentials token or a ReadServiceStatus call) all go
through here. Each change is one transaction; a refused request changes nothing. Times
stored in the database are naive UTC.

Application.status: "review" (new applications), "production", "on_hold", "blocked".
An application in Review moves to Production when every checklist item is done: by itself
where the utility's profile says approval = "automatic" (`evaluate`), by a member of staff
where it says "staff" (`approve`).

The code lives in the modules of this package (times, status, metadata, developers,
applications, certificates, notifications); every public name is re-exported here. Errors are
the core's (`sandbox.core.errors`), status changes `services.third_parties`, and signing in
`services.signin`.
"""

from __future__ import annotations

from sandbox.services.notifications.posting import (
    NOTIFY_BODY_CHARS,
    NOTIFY_TIMEOUT,
    NotifyResult,
    TargetPolicy,
    post_notification,
)
from sandbox.services.onboarding.applications import (
    Issued,
    accept_terms,
    application,
    approve_application,
    delete_registered,
    developer_applications,
    new_client_id,
    register,
    registered_application,
    rotate_secret,
    set_notify_uri,
    terms_text,
    update,
    update_registered,
)
from sandbox.services.onboarding.certificates import (
    MAX_CERTIFICATE_BYTES,
    CertificateInfo,
    parse_certificate,
    store_certificate,
)
from sandbox.services.onboarding.developers import MIN_PASSWORD, developer, sign_up
from sandbox.services.onboarding.metadata import (
    FORM_FIELDS,
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_REDIRECT_URIS,
    MAX_URI,
    Metadata,
    apply_metadata,
    check_uri,
    is_email,
    offered_scopes,
    scope_title,
    validate_metadata,
)
from sandbox.services.onboarding.notifications import notification_uris, send_test_notification
from sandbox.services.onboarding.status import (
    CHECK_KEYS,
    Check,
    approve,
    checklist,
    complete,
    evaluate,
    note_call,
    record_call,
)

__all__ = [
    # status
    "Check",
    "CHECK_KEYS",
    "checklist",
    "complete",
    "evaluate",
    "record_call",
    "note_call",
    "approve",
    # metadata
    "MAX_URI",
    "MAX_NAME",
    "MAX_DESCRIPTION",
    "MAX_REDIRECT_URIS",
    "Metadata",
    "FORM_FIELDS",
    "check_uri",
    "scope_title",
    "offered_scopes",
    "validate_metadata",
    "is_email",
    "apply_metadata",
    # developers
    "MIN_PASSWORD",
    "sign_up",
    "developer",
    # applications
    "Issued",
    "new_client_id",
    "register",
    "application",
    "developer_applications",
    "update",
    "rotate_secret",
    "set_notify_uri",
    "delete_registered",
    "registered_application",
    "update_registered",
    "terms_text",
    "accept_terms",
    "approve_application",
    # certificates
    "MAX_CERTIFICATE_BYTES",
    "CertificateInfo",
    "parse_certificate",
    "store_certificate",
    # notifications
    "NOTIFY_TIMEOUT",
    "NOTIFY_BODY_CHARS",
    "NotifyResult",
    "TargetPolicy",
    "post_notification",
    "notification_uris",
    "send_test_notification",
]
