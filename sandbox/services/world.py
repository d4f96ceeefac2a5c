"""The fake world in the database: building it from the seed files, finding the one already
there (and its session secret), resetting it, and the directory of its utilities."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
from contextlib import contextmanager
from functools import lru_cache
from typing import Callable, Iterator, NamedTuple

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from sandbox.core.clock import Clock
from sandbox.core.clock_store import DatabaseClockStore
from sandbox.core.db import SCHEMA_VERSION, Database, bulk_insert, fetch
from sandbox.core.models import (
    Application,
    Customer,
    UsagePoint,
    Utility,
    WorldState,
)
from sandbox.core.secrets import constant_password_hash, keyed_digest, new_digest_key, world_key
from sandbox.core.world_templates import WorldTemplates, template_key
from sandbox.espi import urls
from sandbox.espi.scopes import standard_scopes
from sandbox.espi.uuids import resource_uuid, resource_uuid_str
from sandbox.services import quotas
from sandbox.services.access import AppStatus, ClientRole
from sandbox.services.notifications.announce import mark_all
from sandbox.synth.people import DEMO_PASSWORD, CustomerSpec, PeopleFactory, identity_customer
from sandbox.synth.world import UtilityDef, WorldDef, parse_world
from sandbox.version import __version__

DEMO_CLIENT_ID = "demo-third-party"
DEMO_CLIENT_SECRET = "demo-secret"
DEMO_APP_CALLBACK = "http://127.0.0.1:8081/callback"  # the demo app run.py starts (any loopback port works)
# The utility's own clients of the resource server (ESPI.md 4.1: the U and D tokens), per utility
UPLOAD_CLIENT_ID, UPLOAD_CLIENT_SECRET = "upload-client", "upload-secret"
CUSTODIAN_CLIENT_ID, CUSTODIAN_CLIENT_SECRET = "data-custodian", "data-custodian-secret"
OWN_CLIENTS = (
    (UPLOAD_CLIENT_ID, UPLOAD_CLIENT_SECRET, ClientRole.UPLOAD, "Meter data upload"),
    (CUSTODIAN_CLIENT_ID, CUSTODIAN_CLIENT_SECRET, ClientRole.DATA_CUSTODIAN, "Data custodian admin"),
)
CHUNK = 2000

Progress = Callable[[int], None]


def seeded_secrets(world_secret: str | None = None) -> dict[str, str]:
    """client_id -> secret of the clients every world is seeded with: the published constants in the
    default sandbox (None), else a private sandbox's own, drawn from its world's secret key (`Keys`), so
    that no neighbour's secret works there and a reset keeps them."""
    constants = {DEMO_CLIENT_ID: DEMO_CLIENT_SECRET, **{c: secret for c, secret, _, _ in OWN_CLIENTS}}
    if world_secret is None:
        return constants
    return {
        c: hmac.new(world_secret.encode(), f"seeded-client:{c}".encode(), hashlib.sha256).hexdigest()[:32]
        for c in constants
    }


class Keys(NamedTuple):
    """What a world keeps when it is reset: the session secret, the control API's admin key, and the
    key of client-secret digests (processes that read it once need not read it again)."""

    secret_key: str
    admin_key: str
    digest_key: str

    @classmethod
    def new(cls) -> "Keys":
        return cls(secrets.token_hex(32), secrets.token_urlsafe(24), new_digest_key())


def stored_world(db: Database) -> WorldDef | None:
    """The world the database holds, or None if it holds no complete one."""
    if not db.has_table(WorldState.__tablename__):
        return None
    with db.sessions() as s:
        state = s.get(WorldState, 1)
        if state is None or not state.complete:
            return None
        world = _parse(state.seed_files, "database copy of seed_data")
        return dataclasses.replace(world, seed=state.seed)


def _parse(files: dict[str, str], origin: str) -> WorldDef:
    return _parse_once(tuple(sorted(files.items())), origin)


@lru_cache(maxsize=8)
def _parse_once(files: tuple[tuple[str, str], ...], origin: str) -> WorldDef:
    """parse_world, once a process for the same files (a world is immutable; a restart and every reset
    read the same kept files)."""
    return parse_world(dict(files), origin)


def seed_world(
    db: Database,
    files: dict[str, str],
    clock: Clock,
    seed: int | None = None,
    customers: int | None = None,
    origin: str = "seed_data",
    progress: Progress | None = None,
    keys: Keys | None = None,
    templates: WorldTemplates | None = None,
    private: bool = False,
    unseen: bool = False,
) -> WorldDef:
    """Replace whatever the database holds with the world the seed files define.

    `customers` overrides every utility's count of generated customers (the demo customer
    comes on top). The world is marked complete only at the end, so an interrupted seed
    is redone at the next start. `keys` are kept from the world replaced, else made anew. The
    clock is not part of the world: it stays as it is. With `templates`, the people are copied
    from the template of the same seed, count and files if there is one, and kept as one if not.
    A `private` sandbox's seeded clients get secrets of its own (`seeded_secrets`). A database no one
    reads yet (`unseen`: a private sandbox being made) is filled step by step, which copies a template's
    people faster than one transaction can.
    """
    # rebuilds by several processes take turns (an unseen database has no other process to wait for)
    with _step_by_step() if unseen else db.rebuilding(), _step_by_step() if unseen else _at_once(db):
        return _seed_world(db, files, clock, seed, customers, origin, progress, keys, templates, private, unseen)


@contextmanager
def _step_by_step() -> Iterator[None]:
    yield


@contextmanager
def _at_once(db: Database) -> Iterator[None]:
    """A world replaced in one transaction when its tables stay (the schema is current): every other
    connection, of this process or another, sees the old world or the new one, never one half made.
    A database that needs its tables made (empty, or of another schema version) is built step by step."""
    if db.joined is None and db.schema_version() != SCHEMA_VERSION:
        yield
        return
    with db.one_transaction():
        yield


def _seed_world(
    db: Database,
    files: dict[str, str],
    clock: Clock,
    seed: int | None,
    customers: int | None,
    origin: str,
    progress: Progress | None,
    keys: Keys | None,
    templates: WorldTemplates | None,
    private: bool = False,
    unseen: bool = False,
) -> WorldDef:
    world = _parse(files, origin)
    if seed is not None:
        world = dataclasses.replace(world, seed=seed)
    kept = clock.snapshot()
    people: frozenset[str] = frozenset()
    key = template_key(files, world.seed, customers)
    if not unseen:  # an unseen database is one of empty tables at SCHEMA_VERSION (Registry._make_storage)
        # the people stay when they are the template's as they were copied (PostgreSQL compares them)
        people = db.clear_all(keep=lambda: _unchanged_people(db, templates, key))
    DatabaseClockStore(db).replace(*kept)
    now = clock.now().replace(tzinfo=None)
    keys = keys or Keys.new()
    with db.transaction() as s:
        s.add(
            WorldState(
                id=1,
                seed=world.seed,
                version=__version__,
                fingerprint=world.fingerprint,
                seed_files=files,
                secret_key=keys.secret_key,
                admin_key=keys.admin_key,
                digest_key=keys.digest_key,
                seeded_at=now,
                complete=False,
            )
        )
        world_key(s)  # this process knows the new key from now on
    utility_ids = _seed_people(db, world, key, customers, progress, templates, kept=bool(people))
    with db.transaction() as s:
        _seed_clients(s, world, utility_ids, keys.digest_key, now, seeded_secrets(keys.secret_key if private else None))
        mark_all(s, world, clock)  # announced from now on: what is published already is the world's
        schedule_identities(s, world, clock)
        fetch(s, WorldState, 1).complete = True
        _after_explicit_ids(s)
    return world


def taken_up(db: Database, files: dict[str, str], clock: Clock, origin: str) -> tuple[WorldDef, Keys]:
    """A world seeded ahead (by seed_world, unseen) put to use now: its world and keys, its marks moved
    to now (what was published while it waited is the world's, never announced)."""
    world = _parse(files, origin)
    with db.transaction() as s:
        st = fetch(s, WorldState, 1)
        mark_all(s, world, clock)
        schedule_identities(s, world, clock)
        return world, Keys(st.secret_key, st.admin_key, st.digest_key)


def reset_to_seed(
    db: Database,
    clock: Clock,
    customers: int | None = None,
    templates: WorldTemplates | None = None,
    private: bool = False,
) -> WorldDef:
    """The world as it was seeded, from the seed files kept with it: every customer, authorization,
    token, upload and registration made since is gone. The keys stay (sessions and the control API's
    callers go on working, and other processes need not learn a new digest key); the clock goes back
    to real time."""
    with db.rebuilding(), _at_once(db):  # another process's rebuild ends before this one reads the kept seed files
        with db.sessions() as s:
            st = fetch(s, WorldState, 1)
            files, seed, keys = dict(st.seed_files), st.seed, Keys(st.secret_key, st.admin_key, st.digest_key)
        clock.reset()
        return seed_world(
            db,
            files,
            clock,
            seed=seed,
            customers=customers,
            origin="database copy of seed_data",
            keys=keys,
            templates=templates,
            private=private,
        )


def add_customers(db: Database, world: WorldDef, slug: str, count: int) -> list[str]:
    """`count` more generated customers at a utility, the ones a larger seed would have made next
    (the same names, usage points and data); their usernames. One transaction, which begins by
    taking the next numbers, so two requests adding customers together get different ones."""
    u = world.utility(slug)
    with db.transaction() as s:
        quotas.check(s, "customers", count)
        hashes = {world.customer_password: _generated_customers_hash(s, world)}
        utility_id, after = s.execute(
            update(Utility)
            .where(Utility.slug == slug)
            .values(customer_count=Utility.customer_count + count)
            .returning(Utility.id, Utility.customer_count)
        ).one()
        # customer ids are given here (max + 1): two utilities' additions wait for each other (PostgreSQL;
        # SQLite's writes are one at a time already)
        s.execute(select(WorldState.id).where(WorldState.id == 1).with_for_update())
        first = after - count
        factory = PeopleFactory(world, u, world.seed)
        for n in range(first):  # the generator runs in order: replay the ones made before
            factory.customer(n)
        made = [factory.customer(n) for n in range(first, after)]
        _insert_customers(s, world, u, utility_id, iter(made), count, hashes, None)
        _after_explicit_ids(s)
    return [c.username for c in made]


def _after_explicit_ids(s: Session) -> None:
    if s.get_bind().dialect.name == "postgresql":  # ids were given explicitly: move the sequence past them
        s.execute(text("SELECT setval(pg_get_serial_sequence('customer', 'id'), (SELECT max(id) FROM customer))"))


def _seed_people(
    db: Database,
    world: WorldDef,
    key: str,
    customers: int | None,
    progress: Progress | None,
    templates: WorldTemplates | None,
    kept: bool = False,
) -> dict[str, int]:
    """Every utility with its customers and their usage points, copied from the template `key` or made
    (and kept as it), or `kept` as they are (the template's already); the utilities' row ids by slug."""
    counts = {u.slug: u.customers if customers is None else customers for u in world.utilities}
    if kept or (templates is not None and templates.restore(db, key)):
        if progress:
            progress(sum(counts.values()) + len(counts))
        with db.sessions() as s:
            return {slug: row_id for slug, row_id in s.execute(select(Utility.slug, Utility.id))}
    hashes = _hash_all({DEMO_PASSWORD, world.customer_password})
    ids = {}
    for u in world.utilities:
        with db.transaction() as s:
            utility = Utility(slug=u.slug, name=u.name, customer_count=counts[u.slug] + 1)
            s.add(utility)
            s.flush()
            ids[u.slug] = utility.id
            people = PeopleFactory(world, u, world.seed).customers(counts[u.slug])
            _insert_customers(s, world, u, utility.id, people, counts[u.slug] + 1, hashes, progress)
            named = [identity_customer(world, u, i) for i in u.identities]
            _insert_customers(s, world, u, utility.id, iter(named), len(named), hashes, None)
    if templates is not None:
        with db.transaction() as s:  # committed: on PostgreSQL the template is a schema of the database too
            templates.save(s, key)
    return ids


def _seed_clients(
    s: Session,
    world: WorldDef,
    utility_ids: dict[str, int],
    digest_key: str,
    now: dt.datetime,
    client_secrets: dict[str, str],
) -> None:
    """Each utility's applications (the demo third party, its own clients), in utility order, in one
    statement however many utilities (a private sandbox is made in milliseconds): they name the seeding
    time and the world's digest key, so they are made afresh for every world, copied or not. No
    authorization is seeded: a customer's Sharing page lists only the consents they gave, and no third
    party is notified of a grant it holds no token for."""
    seed = world.seed
    apps = []
    for u in world.utilities:
        common = {"utility_id": utility_ids[u.slug], "status": AppStatus.PRODUCTION, "created_at": now}
        apps.append(
            common
            | {
                "uuid": str(resource_uuid(seed, u.slug, "application", DEMO_CLIENT_ID)),
                "client_id": DEMO_CLIENT_ID,
                "client_secret_hash": keyed_digest(digest_key, client_secrets[DEMO_CLIENT_ID]),
                "name": "Demo Energy App",
                "description": "The sandbox's own third-party application, for demos and tests.",
                "contact_email": "developers@example.com",
                "redirect_uris": [DEMO_APP_CALLBACK],
                "allow_loopback_redirects": True,
                "scopes": offered_scopes(u),
                "role": "third_party",
            }
        )
        for client_id, _, role, name in OWN_CLIENTS:
            apps.append(
                common
                | {
                    "uuid": str(resource_uuid(seed, u.slug, "application", client_id)),
                    "client_id": client_id,
                    "client_secret_hash": keyed_digest(digest_key, client_secrets[client_id]),
                    "name": f"{u.name}: {name}",
                    "description": f"{u.name}'s own {name.lower()} client (client credentials only).",
                    "contact_email": "",
                    "redirect_uris": [],
                    "allow_loopback_redirects": False,
                    "scopes": [],
                    "role": role,
                }
            )
    s.execute(insert(Application), apps)


def _insert_customers(
    s: Session,
    world: WorldDef,
    u: UtilityDef,
    utility_id: int,
    people: Iterator[CustomerSpec],
    total: int,
    hashes: dict[str, str],
    progress: Progress | None,
) -> None:
    """`total` customers from `people`, with their usage points, in chunks of Core inserts."""
    seed = world.seed
    customers_t, ups_t = Customer.__table__, UsagePoint.__table__  # Core inserts: no ORM bookkeeping
    next_id = (s.scalar(select(func.max(customers_t.c.id))) or 0) + 1
    done = 0
    while done < total:
        batch = [next(people) for _ in range(min(CHUNK, total - done))]
        ids = range(next_id, next_id + len(batch))
        next_id += len(batch)
        rows = [
            {
                "id": cid,
                "utility_id": utility_id,
                "number": c.number,
                "uuid": resource_uuid_str(seed, u.slug, "customer", c.number),
                "username": c.username,
                "password_hash": hashes[DEMO_PASSWORD if c.is_demo else world.customer_password],
                "first_name": c.first_name,
                "last_name": c.last_name,
                "email": c.email,
                "phone": c.phone,
                "account_number": c.account_number,
                "street": c.street,
                "city": c.city,
                "state": c.state,
                "postal_code": c.postal_code,
                "archetype": c.archetype,
                "is_test": c.is_demo or c.is_identity,  # may authorize applications in Review
                "service_start": c.service_start,
                "service_end": None,
            }
            for cid, c in zip(ids, batch)
        ]
        bulk_insert(s, customers_t, rows)
        bulk_insert(
            s,
            ups_t,
            [
                {
                    "customer_id": cid,
                    "number": k,
                    "uuid": resource_uuid_str(seed, u.slug, "customer", c.number, "usage-point", k),
                    "commodity": p.commodity,
                    "label": p.label,
                    "meter_serial": c.meter_serials[k],
                    "params": p.to_json(),
                }
                for cid, c in zip(ids, batch)
                for k, p in enumerate(c.usage_points)
            ],
        )
        _apply_data_quality(s, u, utility_id, [c.number for c in batch])
        done += len(batch)
        if progress:
            progress(len(batch))


def _apply_data_quality(s: Session, u: UtilityDef, utility_id: int, numbers: list[int]) -> None:
    """The utility's [[data_quality]] knobs on those of its customers (by number) just made."""
    for n in sorted(set(numbers) & set(u.data_quality)):
        s.execute(
            update(Customer)
            .where(Customer.utility_id == utility_id, Customer.number == n)
            .values(data_quality=u.data_quality[n])
            .execution_options(synchronize_session=False)
        )


def _unchanged_people(db: Database, templates: WorldTemplates | None, key: str) -> frozenset[str]:
    """The people's tables a reset keeps (templates.unchanged). The identities' moves are scheduled per
    seeding, after the template was kept: undone first, so that they alone never make every person be
    copied again (schedule_identities sets them again)."""
    if templates is None or db.engine.dialect.name != "postgresql":  # only PostgreSQL compares (unchanged)
        return frozenset()
    with db.transaction() as s:
        s.execute(update(Customer).where(Customer.number < 0).values(service_end=None))
    return templates.unchanged(db, key)


def schedule_identities(s: Session, world: WorldDef, clock: Clock) -> None:
    """The identities' moves scheduled ahead on the sandbox clock, from the day the world is seeded,
    reset or put to use (no authorization exists yet for the move to cut short)."""
    for u in world.utilities:
        moving = [i for i in u.identities if i.moves_out_in_days is not None]
        if not moving:
            continue
        today = clock.today(u.time_zone)
        utility = select(Utility.id).where(Utility.slug == u.slug).scalar_subquery()
        for i in moving:
            assert i.moves_out_in_days is not None
            s.execute(
                update(Customer)
                .where(Customer.utility_id == utility, Customer.number == i.number)
                .values(service_end=today + dt.timedelta(days=i.moves_out_in_days))
                .execution_options(synchronize_session=False)
            )


def _generated_customers_hash(s: Session, world: WorldDef) -> str:
    """The hash of the generated customers' published password: the world's own (made once, when it
    was seeded; no customer changes it) if it has a generated customer, else made now."""
    kept = s.scalar(select(Customer.password_hash).where(Customer.number > 0, Customer.is_test.is_(False)).limit(1))
    return kept or constant_password_hash(world.customer_password)


def _hash_all(passwords: set[str]) -> dict[str, str]:
    """The slow hash of each published password (the demo customer's, the generated customers'),
    made once per process. Every generated customer shares the documented password, so one hash
    serves them all."""
    return {p: constant_password_hash(p) for p in passwords}


def set_demo_notify_uri(db: Database, uri: str | None) -> None:
    """Where the demo third party (run.py's demo app) receives notifications, at every utility where
    its notification URI is none or the demo app's of an earlier start: one a developer set is kept."""
    with db.transaction() as s:
        st = fetch(s, WorldState, 1)
        unset = Application.notify_uri.is_(None)
        earlier = unset if st.demo_notify_uri is None else (unset | (Application.notify_uri == st.demo_notify_uri))
        s.execute(
            update(Application)
            .where(Application.client_id == DEMO_CLIENT_ID, Application.role == ClientRole.THIRD_PARTY, earlier)
            .values(notify_uri=uri)
            .execution_options(synchronize_session=False)
        )
        st.demo_notify_uri = uri


def reset_world(db: Database) -> None:
    """Remove everything (the next start seeds afresh)."""
    db.drop_all()


def client_secrets(db: Database, private: bool) -> dict[str, str]:
    """client_id -> secret of the seeded clients of the world in `db` (`seeded_secrets`)."""
    return seeded_secrets(stored_state(db)[0] if private else None)


def stored_state(db: Database) -> tuple[str | None, str | None, str | None]:
    """(session secret, seeding time as ISO text, control-API admin key) kept with the world."""
    if not db.has_table(WorldState.__tablename__):
        return None, None, None
    with db.sessions() as s:
        st = s.get(WorldState, 1)
        if st is None:
            return None, None, None
        return st.secret_key, st.seeded_at.isoformat() + "Z", st.admin_key


def utility_id(db: Database, slug: str) -> int | None:
    """The utility's row id (None if the database has no such utility)."""
    with db.sessions() as s:
        return s.scalar(select(Utility.id).where(Utility.slug == slug))


# --- the directory of utilities -----------------------------------------------------------


def utilities_serving(world: WorldDef, postal_code: str | None) -> list[UtilityDef]:
    """Every utility, or those whose service area holds the postal code."""
    if postal_code is None:
        return list(world.utilities)
    return [u for u in world.utilities if u.serves(postal_code)]


def describe(u: UtilityDef, base_url: str) -> dict:
    """JSON description of a utility for the directory; `base_url` is the sandbox's own."""
    ep = urls.endpoints(base_url, u.slug)
    return {
        "slug": u.slug,
        "name": u.name,
        "time_zone": u.time_zone,
        "currency": u.currency,
        "postal_prefixes": [p for a in u.service_area for p in a.postal_prefixes],
        "cities": [a.city for a in u.service_area],
        "commodities": list(u.commodities),
        "electricity_interval": u.electricity_interval,
        "data_custodian_id": u.data_custodian_id,
        "portal_url": ep.portal,
        "developer_portal_url": ep.developer,
        "authorization_endpoint": ep.authorize,
        "token_endpoint": ep.token,
        "resource_endpoint": ep.resource,
    }


def offered_scopes(u: UtilityDef) -> list[str]:
    """The scopes a utility offers third parties, in its own scope grammar and function blocks."""
    return standard_scopes(
        u.commodities, u.electricity_interval, u.profile.behaviour.scope_grammar, u.profile.function_blocks
    )
