"""What the sandbox stores. Synthetic readings are not here: they are computed from
UsagePoint.params. Readings imported from Green Button files are (ImportedReading).

Annotations are evaluated as written (no `from __future__ import annotations`): SQLAlchemy reads
each Mapped[...] as a type then, instead of evaluating its text, which made building the mappers at
every start-up slower; a class named before it is defined is written in quotes."""

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SCHEMA_TABLE = "schema_version"


class Base(DeclarativeBase):
    """Every table of the sandbox (sandbox.core.db creates, checks and empties them)."""


class WorldState(Base):
    """The one row that says which world the database holds."""

    __tablename__ = "world_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    seed_files: Mapped[dict] = mapped_column(JSON)  # relative path -> text, the world as seeded
    secret_key: Mapped[str] = mapped_column(String(64))
    admin_key: Mapped[str] = mapped_column(String(64))  # the control API's key unless SANDBOX_ADMIN_KEY is set
    digest_key: Mapped[str] = mapped_column(String(64))  # HMAC key of client-secret digests (core.secrets)
    demo_notify_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)  # run.py's demo app, last set
    seeded_at: Mapped[dt.datetime] = mapped_column(DateTime)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)


class ClockState(Base):
    """A world's sandbox clock (core.clock_store): frozen at an instant (epoch seconds), or running
    `offset_seconds` ahead of real time. Kept per world, so that every process agrees on "now"."""

    __tablename__ = "clock_state"
    world: Mapped[str] = mapped_column(String(64), primary_key=True)
    frozen_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    offset_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class Utility(Base):
    __tablename__ = "utility"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    customer_count: Mapped[int] = mapped_column(Integer, default=0)


class Customer(Base):
    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("utility_id", "username"),
        UniqueConstraint("utility_id", "account_number"),
        UniqueConstraint("utility_id", "number"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    utility_id: Mapped[int] = mapped_column(ForeignKey("utility.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 0 is the demo customer
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    username: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80), index=True)
    email: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(40))
    account_number: Mapped[str] = mapped_column(String(20))
    street: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    postal_code: Mapped[str] = mapped_column(String(12), index=True)
    archetype: Mapped[str] = mapped_column(String(32))
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)  # may authorize applications still in Review
    service_start: Mapped[dt.date] = mapped_column(Date)
    service_end: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # moved out: last day is the day before
    # data-quality knobs of its generated readings (synth.quality), set by seed_data or the control API; None: the world's
    data_quality: Mapped[dict | None] = mapped_column(JSON, nullable=True, default=None)

    utility: Mapped[Utility] = relationship()
    usage_points: Mapped[list["UsagePoint"]] = relationship(back_populates="customer", order_by="UsagePoint.number")

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class UsagePoint(Base):
    __tablename__ = "usage_point"
    __table_args__ = (UniqueConstraint("customer_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    commodity: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(120))
    meter_serial: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict] = mapped_column(JSON)  # synth.archetypes.UsagePointParams; {} for an imported one
    service_kind: Mapped[int | None] = mapped_column(Integer, nullable=True)  # ESPI ServiceKind of an imported one
    source_uuid: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the id an imported file gave it
    imported_streams: Mapped[list["ImportedStream"]] = relationship(
        order_by="ImportedStream.number", cascade="all, delete-orphan"
    )

    @property
    def imported(self) -> bool:
        return not self.params

    customer: Mapped[Customer] = relationship(back_populates="usage_points")


class Application(Base):
    """A third party's registration with one utility (ESPI ApplicationInformation)."""

    __tablename__ = "application"
    __table_args__ = (UniqueConstraint("utility_id", "client_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    utility_id: Mapped[int] = mapped_column(ForeignKey("utility.id", ondelete="CASCADE"), index=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    client_secret_hash: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    contact_email: Mapped[str] = mapped_column(String(200), default="")
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    allow_loopback_redirects: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    scope_selection_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="review")  # review, production, on_hold, blocked
    # third_party, or the utility's own upload or data_custodian client (access.ClientRole)
    role: Mapped[str] = mapped_column(String(16), default="third_party", server_default="third_party")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # onboarding (developer portal) and dynamic registration
    developer_id: Mapped[int | None] = mapped_column(ForeignKey("developer.id", ondelete="SET NULL"), nullable=True)
    client_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    logo_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    portal_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)  # thirdPartyUserPortalScreenURI
    tos_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    policy_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)  # thirdPartyPhone
    software_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    software_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    terms_version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # last version accepted
    terms_accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    certificate_pem: Mapped[str | None] = mapped_column(Text, nullable=True)
    certificate_subject: Mapped[str | None] = mapped_column(String(500), nullable=True)
    certificate_fingerprint: Mapped[str | None] = mapped_column(String(100), nullable=True)
    certificate_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    registration_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    notify_check_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    notify_check_status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # HTTP status; 0 no answer
    notify_check_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notify_check_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    client_token_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime, nullable=True
    )  # first client-credentials token
    service_status_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)  # ReadServiceStatus called
    # fault scenarios of its calls (services.faults); None is none
    faults: Mapped[list | None] = mapped_column(JSON, nullable=True, default=None)
    # the behaviour profile chosen for it (a seed_data/profiles name); None: its utility's
    profile: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)

    utility: Mapped[Utility] = relationship()


authorization_usage_point = Table(
    "authorization_usage_point",
    Base.metadata,
    Column("authorization_id", ForeignKey("authorization.id", ondelete="CASCADE"), primary_key=True),
    Column("usage_point_id", ForeignKey("usage_point.id", ondelete="CASCADE"), primary_key=True),
)


class Authorization(Base):
    """A customer's grant to a third party, with its subscription (the usage points shared)."""

    __tablename__ = "authorization"
    id: Mapped[int] = mapped_column(primary_key=True)
    utility_id: Mapped[int] = mapped_column(ForeignKey("utility.id", ondelete="CASCADE"), index=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    subscription_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True, nullable=True
    )
    scope: Mapped[str] = mapped_column(String(500))
    grant_type: Mapped[str] = mapped_column(String(32), default="authorization_code")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, revoked, denied
    status_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    authorized_start: Mapped[dt.datetime] = mapped_column(DateTime)
    authorized_end: Mapped[dt.datetime] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # fault scenarios of its tokens' calls (services.faults); None is none
    faults: Mapped[list | None] = mapped_column(JSON, nullable=True, default=None)
    # subscription reads while its usage points were still being provisioned (a profile's delay_calls)
    pending_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    application: Mapped[Application] = relationship()
    customer: Mapped[Customer | None] = relationship()
    usage_points: Mapped[list[UsagePoint]] = relationship(secondary=authorization_usage_point, order_by="UsagePoint.id")


class ImportedStream(Base):
    """A MeterReading loaded from a Green Button file, with its ReadingType as the file gave it."""

    __tablename__ = "imported_stream"
    id: Mapped[int] = mapped_column(primary_key=True)
    usage_point_id: Mapped[int] = mapped_column(ForeignKey("usage_point.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    uuid: Mapped[str] = mapped_column(String(36))  # the file's MeterReading id
    title: Mapped[str] = mapped_column(String(200), default="")
    reading_type: Mapped[dict] = mapped_column(JSON)  # ESPI ReadingType element name -> value
    reading_type_uuid: Mapped[str] = mapped_column(String(36))


class ImportedReading(Base):
    """One interval reading of an ImportedStream. The only readings the sandbox stores."""

    __tablename__ = "imported_reading"
    id: Mapped[int] = mapped_column(primary_key=True)
    stream_id: Mapped[int] = mapped_column(ForeignKey("imported_stream.id", ondelete="CASCADE"), index=True)
    start: Mapped[int] = mapped_column(BigInteger)
    duration: Mapped[int] = mapped_column(Integer)
    value: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)  # first ReadingQuality, if any


class LoginThrottle(Base):
    """Failed sign-ins in a row for one login (a customer, staff, or an unknown identifier).

    `key` is "customer:<id>" when the identifier names a customer (both login methods
    count together), "staff:<username>" for the staff view, otherwise the method and the
    identifier as typed (so unknown names lock too and reveal nothing). A success deletes
    the row; the lock ends at locked_until (sandbox clock).
    """

    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("utility_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    utility_id: Mapped[int] = mapped_column(ForeignKey("utility.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(200))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(DateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class WebSession(Base):
    """A sign-in of one role (customer, staff, developer) at one utility (web.context).

    The browser's signed cookie holds a random key; this row holds its digest and who signed in,
    so that signing out ends the sign-in here too (a copy of the cookie made before is then
    worth nothing) and a reset of the world, which drops every table, ends them all. Found by its
    primary key, once per request that relies on a sign-in. `signed_in_at` is real time, not the
    sandbox clock (which tests move by months), and bounds a sign-in's life.
    """

    __tablename__ = "web_session"
    key_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    utility_id: Mapped[int] = mapped_column(ForeignKey("utility.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))  # the customer's or developer's id, the staff login
    signed_in_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class ApplicationStatusChange(Base):
    """Who changed a third party's status and when; Unblock restores the status before the block."""

    __tablename__ = "application_status_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"), index=True)
    old_status: Mapped[str] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    changed_by: Mapped[str] = mapped_column(String(80))


class Developer(Base):
    """A third-party developer's account on one utility's developer portal."""

    __tablename__ = "developer"
    __table_args__ = (UniqueConstraint("utility_id", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    utility_id: Mapped[int] = mapped_column(ForeignKey("utility.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class OAuthCode(Base):
    """An authorization code: single use, short-lived, bound to client, redirect URI and PKCE challenge."""

    __tablename__ = "oauth_code"
    id: Mapped[int] = mapped_column(primary_key=True)
    utility_id: Mapped[int] = mapped_column(ForeignKey("utility.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)  # as sent, None if not sent
    scope: Mapped[str] = mapped_column(String(500))
    usage_point_ids: Mapped[list] = mapped_column(JSON)
    code_challenge: Mapped[str | None] = mapped_column(String(200), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(10), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    authorization_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization.id", ondelete="SET NULL"), nullable=True
    )

    application: Mapped[Application] = relationship()
    customer: Mapped[Customer] = relationship()


class OAuthToken(Base):
    """An access token (and its refresh token), stored as SHA-256 digests only."""

    __tablename__ = "oauth_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    utility_id: Mapped[int] = mapped_column(ForeignKey("utility.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"), index=True)
    authorization_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization.id", ondelete="CASCADE"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # customer, client, registration
    access_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    scope: Mapped[str] = mapped_column(String(500))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    refresh_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    application: Mapped[Application] = relationship()
    authorization: Mapped[Authorization | None] = relationship()


class RequestRecord(Base):
    """One call to a utility's ESPI API (services.request_log): who called, what, and the answer."""

    __tablename__ = "request_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    # plain ids, no foreign keys: a call is kept even when its application is gone (a deleted registration)
    utility_id: Mapped[int] = mapped_column(Integer, index=True)
    application_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)  # sandbox time
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))  # with its query string
    token_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)  # X-Sandbox-Reason of a refusal
    milliseconds: Mapped[float] = mapped_column(Float, default=0.0)
    # real time of the answer, seconds since the epoch: the order of calls answered by several processes,
    # whose batches are written at different moments (and the sandbox clock may stand still)
    answered: Mapped[float] = mapped_column(Float, default=0.0, index=True)


class RateCounter(Base):
    """One counter of an abuse limit (core.rate_counters): shared by every process serving the world."""

    __tablename__ = "rate_counter"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires: Mapped[float] = mapped_column(Float)  # real time, seconds since the epoch


class PublicationMark(Base):
    """How far a utility's published data has been announced to third parties
    (services.notifications.announce): the exclusive end, a local day, of what the last
    notifications covered. Moving it is one conditional UPDATE, so only one process announces a day."""

    __tablename__ = "publication_mark"
    utility_id: Mapped[int] = mapped_column(ForeignKey("utility.id", ondelete="CASCADE"), primary_key=True)
    through: Mapped[dt.date] = mapped_column(Date)


class Notification(Base):
    """One BatchList for one third party (the outbox of services.notifications): what it names,
    and where its delivery stands. Claimed by one worker at a time (lease_owner, lease_until)."""

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(primary_key=True)
    utility_id: Mapped[int] = mapped_column(ForeignKey("utility.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(16))  # published, uploaded, authorized
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)  # sandbox time of the event
    enqueued_at: Mapped[dt.datetime] = mapped_column(DateTime)  # real time (deliveries run in real time)
    uris: Mapped[list] = mapped_column(JSON)
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), default="pending", index=True)  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, index=True)  # real time
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)  # real time
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)  # real time

    application: Mapped[Application] = relationship()
    deliveries: Mapped[list["DeliveryAttempt"]] = relationship(
        order_by="DeliveryAttempt.id", cascade="all, delete-orphan"
    )


class DeliveryAttempt(Base):
    """One POST of a notification: when (real time), to where, and the third party's answer."""

    __tablename__ = "delivery_attempt"
    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    uri: Mapped[str] = mapped_column(String(500))
    status: Mapped[int] = mapped_column(Integer)  # HTTP status; 0 when no HTTP answer came
    milliseconds: Mapped[int] = mapped_column(Integer)
    answer: Mapped[str] = mapped_column(Text)  # the start of the answer's body, or why none came
    manual: Mapped[bool] = mapped_column(Boolean, default=False)  # "Send again", not the worker


class ConformanceRun(Base):
    """One grading of a third party's client (services.conformance): its checks one after another,
    each arranged for the client's authorizations, watched and judged; `checks` holds each one's
    state, verdict and evidence, `answers` what the client reported it computed. Times are real
    seconds since the epoch (a run waits in real time, whatever the sandbox clock does)."""

    __tablename__ = "conformance_run"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    utility_id: Mapped[int] = mapped_column(ForeignKey("utility.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(12), index=True)  # running, passed, failed, incomplete
    started: Mapped[float] = mapped_column(Float)
    deadline: Mapped[float] = mapped_column(Float)
    ended: Mapped[float | None] = mapped_column(Float, nullable=True)
    current: Mapped[int] = mapped_column(Integer, default=0)  # the check under way (its index in `checks`)
    checks: Mapped[list] = mapped_column(JSON)
    answers: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    step: Mapped[int] = mapped_column(Integer, default=0)  # moved by one conditional UPDATE: one process steps it

    application: Mapped[Application] = relationship()

    __table_args__ = (  # one running run an application: of two started at once, the second is refused
        Index(
            "ix_conformance_run_running",
            "application_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )


class SchemaVersion(Base):
    """The schema version the tables were made at (db.SCHEMA_VERSION); one row."""

    __tablename__ = SCHEMA_TABLE
    version: Mapped[int] = mapped_column(Integer, primary_key=True)


class RegistryBase(DeclarativeBase):
    """The deployment's own tables, kept in the default sandbox's database beside its world and never
    reset, rebuilt or dropped with it (services.sandboxes)."""


class SandboxRecord(RegistryBase):
    """One private sandbox of the deployment: a world of its own in a database of its own (a SQLite file,
    a PostgreSQL schema), served under /s/{id}/."""

    __tablename__ = "sandbox_record"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    seed: Mapped[int] = mapped_column(BigInteger)
    customers: Mapped[int | None] = mapped_column(Integer, nullable=True)  # generated a utility (None: the files')
    utilities: Mapped[list] = mapped_column(JSON)  # the slugs it serves
    # real time, seconds since the epoch (the sandbox's own clock may be anywhere)
    created: Mapped[float] = mapped_column(Float)
    expires: Mapped[float] = mapped_column(Float, index=True)
    last_used: Mapped[float] = mapped_column(Float)
    admin_key_digest: Mapped[str] = mapped_column(String(64))  # of its admin key (core.secrets.digest)
    # when its next notification is due (real time; None: none waiting): whichever process sweeps the
    # registry delivers it, even where no worker serves the sandbox (web.private)
    notify_due: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
