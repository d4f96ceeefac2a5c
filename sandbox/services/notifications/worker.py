"""The background worker of one sandbox process: it announces the days the clock publishes in
real time (the daily roll-over) and delivers the outbox, POSTing up to CONCURRENCY
notifications at once so that one slow receiver does not hold up the others.

It wakes when a transaction of this process enqueues notifications, and polls the database
every POLL seconds for what other processes enqueued and for retries coming due. `stop()`
lets the POSTs under way finish (each is bounded by its timeout) and gives back what was
claimed but not tried, so a clean stop loses nothing and a restart goes on where it was.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from sqlalchemy.exc import SQLAlchemyError

from sandbox.core.state import Sandbox
from sandbox.services.notifications import announce, delivery, outbox
from sandbox.services.notifications.outbox import Schedule
from sandbox.services.notifications.posting import NOTIFY_TIMEOUT, TargetPolicy

log = logging.getLogger(__name__)


class NotificationWorker:
    POLL = 0.5  # seconds between looks at the database for others' notifications and due retries
    PUBLICATION_EVERY = 1.0  # seconds between looks at the clock for a new published day
    CONCURRENCY = 8
    BATCH = 8  # one round of POSTs: a batch takes at most about one timeout, far inside its lease

    def __init__(self, sb: Sandbox, schedule: Schedule, policy: TargetPolicy, timeout: float = NOTIFY_TIMEOUT):
        self.sb, self.schedule, self.policy, self.timeout = sb, schedule, policy, timeout
        self.owner = delivery.new_owner(f"pid{os.getpid()}")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._last_publication = 0.0
        # more to do at every step (the deployment's: private sandboxes' due notifications, web.private)
        self.also: list[Callable[[], object]] = []
        outbox.listen(self._wake)
        _WORKERS.add(self)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._starting:  # two first requests at once start one thread
            if self.running:
                return
            self._stopping.clear()
            self._pool = ThreadPoolExecutor(self.CONCURRENCY, thread_name_prefix="notify")
            self._thread = threading.Thread(target=self._run, name="notifications", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the POSTs under way; what was claimed and not tried is given back."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout if timeout is not None else 2 * self.timeout + 5)
        if thread is not None and thread.is_alive():  # a POST still under way: its lease runs out by itself
            log.warning("notifications: the worker did not stop in time; its leases expire in %s", delivery.LEASE)
            return
        self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        try:
            delivery.release(self.sb.db, self.owner)
        except SQLAlchemyError as exc:
            log.warning("notifications: %s", exc)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.step()
            except SQLAlchemyError as exc:  # a world being reset under it, a database gone for a moment
                log.warning("notifications: %s", exc)
            except Exception:  # noqa: BLE001  (the worker must outlive any one failure)
                log.exception("notifications: a step failed")
            self._wake.wait(self.POLL)
            self._wake.clear()

    def step(self) -> int:
        """Announce a new published day if due, then deliver every notification due; how many were tried."""
        now = time.monotonic()
        if now - self._last_publication >= self.PUBLICATION_EVERY:
            self._last_publication = now
            self.publish()
        tried = 0
        while not self._stopping.is_set():
            ids = delivery.claim_due(self.sb.db, self.owner, outbox.real_now(), self.BATCH)
            if not ids:
                break
            tried += len(ids)
            delivery.deliver(
                self.sb.db,
                ids,
                self.owner,
                self.schedule,
                self.policy,
                timeout=self.timeout,
                pool=self._pool,  # stepped by hand (a test, not started): one after another
                going_on=lambda: not self._stopping.is_set(),
            )
        for more in self.also:
            more()
        return tried

    def publish(self) -> list[int]:
        """Announce what the clock has published (announce.publish), once the world is known."""
        if self.sb.world is None:
            return []
        return announce.publish(self.sb.db, self.sb.clock, self.sb.world, self.sb.base_url())

    def _after_fork(self) -> None:
        """A forked child has no thread and needs a lease name of its own (it is started anew)."""
        self._thread, self._pool = None, None
        self._wake, self._stopping, self._starting = threading.Event(), threading.Event(), threading.Lock()
        outbox.listen(self._wake)
        self.owner = delivery.new_owner(f"pid{os.getpid()}")


_WORKERS: "weakref.WeakSet[NotificationWorker]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for worker in list(_WORKERS):
        worker._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
