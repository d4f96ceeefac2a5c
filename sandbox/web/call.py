"""One ESPI call, made once by the pipeline (`espi_http.answer`) and handed explicitly from routing to
the answer: who calls (the bearer token as the access policy sees it), at which utility, with which
behaviour profile and faults, at which instant of the sandbox's clock, in which document form, and
what its request-log record says. Nothing of a call lives in flask.g: a view reads its call."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy.orm import Session
from werkzeug.wrappers import Request

from sandbox.core.profile import Behaviour, Profile
from sandbox.core.state import Sandbox
from sandbox.espi import forms
from sandbox.services.access import Presented
from sandbox.services.faults import Fault, document_steps
from sandbox.synth.world import UtilityDef


@dataclass
class Call:
    """An ESPI call. `presented` and `profile` are set once the token was identified (a refused
    caller is still named in the request log); `faults` once the token may make the call."""

    resource: str  # its name in the URL table (espi.urls)
    method: str
    slug: str
    utility: UtilityDef
    utility_id: int
    sandbox: Sandbox
    host_url: str  # the request's http://host/ and the private sandbox's /s/{id} (asked of Werkzeug once a call)
    now: dt.datetime  # the sandbox's clock when the call came (one reading for the whole call)
    started: float = field(default_factory=time.perf_counter)
    # the HTTP request (Werkzeug's, made once: Flask's or the fast path's): a view reads it here, never flask.request
    request: Request = field(default=None, repr=False)  # type: ignore[assignment]  # always set by the pipeline
    presented: Presented | None = None
    profile: Profile | None = None
    faults: tuple[Fault, ...] = ()
    provisioning: bool | None = None  # whether the caller's subscription is still being provisioned (asked once)
    streaming: bool = False  # the answer streams: its stream closes the call's session when it ends
    _session: Session | None = field(default=None, repr=False)

    # --- what the call's profile and faults make of its answer -------------------------------------

    @property
    def caller(self) -> Presented:
        """The caller, once the matrix let its token make the call (what a view reads)."""
        assert self.presented is not None, "a view runs for a judged token only"
        return self.presented

    @property
    def behaviour(self) -> Behaviour:
        assert self.profile is not None, "the profile is known once the token was identified"
        return self.profile.behaviour

    @property
    def form(self) -> forms.Form:
        """The form the call's profile writes documents in (plain before the profile is known)."""
        if self.profile is None or self.profile.behaviour.xml_form == forms.PLAIN_FIELDS:
            return forms.PLAIN
        return forms.Form(*self.profile.behaviour.xml_form)

    @property
    def document_faults(self) -> list[tuple[Callable[..., None], str]]:
        """The (espi.faulty function, argument) of each fault that rewrites the call's document (the fault table's)."""
        return document_steps(self.faults)

    @property
    def applied(self) -> str:
        """The X-Sandbox-Fault-Applied value: the faults that shaped the answer ("" for none)."""
        return ", ".join(str(f) for f in self.faults)

    @property
    def application_id(self) -> int | None:
        return self.presented.application.id if self.presented is not None else None

    @property
    def caller_kind(self) -> str | None:
        return str(self.presented.kind) if self.presented is not None else None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    # --- the call's database session ----------------------------------------------------------------

    def session(self) -> Session:
        """A read session kept open for the rest of the call (imported readings load lazily through
        the customer's usage points). Changes go through the services' own transactions."""
        if self._session is None:
            self._session = _unused_session(self.sandbox.db.sessions)
        return self._session

    def fresh_session(self) -> Session:
        """Close the call's session (after a change made elsewhere) and start another."""
        self.close_session()
        return self.session()

    def close_session(self) -> None:
        s, self._session = self._session, None
        if s is not None and not _kept_unused(self.sandbox.db.sessions, s):
            s.close()


# A call answered from kept values (core.changes: its token, the clock, an entry) never uses its
# session: no query, no object, no transaction. Such a session is as good as a new one, and making and
# closing one costs as much as the rest of judging the call, so the thread's next call takes it over.
_UNUSED = threading.local()


def _unused_session(sessions: Callable[[], Session]) -> Session:
    """The thread's unused session of this database, else a new one."""
    kept = getattr(_UNUSED, "kept", None)
    if kept is not None and kept[0] is sessions:
        _UNUSED.kept = None
        return kept[1]
    return sessions()


def _kept_unused(sessions: Callable[[], Session], s: Session) -> bool:
    """Keep `s` for the thread's next call if nothing ever used it (else the caller closes it)."""
    if s.in_transaction() or s.identity_map or s.new or s.deleted or s.info:
        return False
    _UNUSED.kept = (sessions, s)
    return True
