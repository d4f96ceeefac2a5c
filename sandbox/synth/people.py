"""Synthetic customers of a utility (Faker), each a premise of one archetype.

Customer n of a utility is the same whatever the total count: the sandbox's own draws
come from a generator named by (seed, utility, n), and Faker (seeded once per utility,
uniform choices for speed) is always asked for the same values in the same order from
customer 0 on. Number 0 is the fixed demo customer.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterator

from sandbox.synth.archetypes import UsagePointParams, usage_points_for
from sandbox.synth.identities import IdentityDef
from sandbox.synth.noise import key_int
from sandbox.synth.world import UtilityDef, WorldDef

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"


@dataclass(frozen=True)
class CustomerSpec:
    number: int
    username: str
    first_name: str
    last_name: str
    email: str
    phone: str
    account_number: str
    street: str
    city: str
    state: str
    postal_code: str
    archetype: str
    service_start: dt.date
    usage_points: tuple[UsagePointParams, ...]
    meter_serials: tuple[str, ...]
    is_demo: bool = False

    @property
    def is_identity(self) -> bool:
        return self.number < 0


@lru_cache(maxsize=65536)
def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalnum()).lower()


def _luhn(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


def account_number(utility: UtilityDef, number: int) -> str:
    """Ten digits with a Luhn check digit; unique per utility."""
    prefix = key_int(utility.slug) % 9 + 1
    return _luhn(f"{prefix}{(number * 7919 + 104729) % 10**8:08d}")


def _postal_code(rng: random.Random, prefix: str) -> str:
    p = prefix.replace(" ", "").upper()
    if p[0].isalpha():  # Canadian: A1A 1A1
        letters = "ABCEGHJKLMNPRSTVWXYZ"
        return f"{p[:3]} {rng.randrange(10)}{rng.choice(letters)}{rng.randrange(10)}"
    return p + "".join(str(rng.randrange(10)) for _ in range(5 - len(p)))


def _archetype(utility: UtilityDef, rng: random.Random) -> str:
    names = [a for a, w in utility.archetypes.items() if w > 0]
    return rng.choices(names, weights=[utility.archetypes[a] for a in names])[0]


_AREA_CODES = {"CA": ("510", "341"), "OH": ("216", "330", "234"), "SK": ("306", "639"), "NL": ("709",)}


class PeopleFactory:
    """Generates the customers of one utility."""

    def __init__(self, world: WorldDef, utility: UtilityDef, seed: int):
        self.world, self.utility, self.seed = world, utility, seed
        from faker import Faker  # here, not at import: a start with a seeded world needs no Faker (0.2 s)

        self.faker = Faker(utility.locale, use_weighting=False)
        self.faker.seed_instance(key_int(seed, utility.slug, "faker"))
        self.area_codes = _AREA_CODES.get(utility.state, ("555",))
        self._next = 0

    def customer(self, number: int) -> CustomerSpec:
        u = self.utility
        if number != self._next:
            raise ValueError("customers are generated in order from 0")
        self._next += 1
        rng = random.Random(key_int(self.seed, u.slug, "customer", number))
        f = self.faker
        demo = number == 0
        first, last = f.first_name(), f.last_name()
        area = u.service_area[rng.randrange(len(u.service_area))]
        prefix = area.postal_prefixes[rng.randrange(len(area.postal_prefixes))]
        if demo:
            archetype = "solar_house"
            start = self.world.history_start
            username = DEMO_USERNAME
        else:
            archetype = _archetype(u, rng)
            late = rng.random() < 0.3
            start = self.world.history_start + dt.timedelta(days=rng.randrange(30, 540) if late else 0)
            username = f"{_ascii(first)[:1]}{_ascii(last)[:12]}{number}"
        ups = tuple(usage_points_for(archetype, u, rng, demo=demo))
        serials = tuple(f"{u.short_name}{p.commodity[0].upper()}{rng.randrange(10**7):07d}" for p in ups)
        return CustomerSpec(
            number=number,
            username=username,
            first_name=first,
            last_name=last,
            email=f"{_ascii(first)}.{_ascii(last)}{number}@example.{'org' if rng.random() < 0.3 else 'com'}",
            phone=f"({rng.choice(self.area_codes)}) 555-{rng.randrange(10000):04d}",
            account_number=account_number(u, number),
            street=f"{rng.randrange(1, 9999)} {f.street_name()}"
            + (f" Apt {rng.randrange(1, 40)}" if archetype == "apartment" else ""),
            city=area.city,
            state=u.state,
            postal_code=_postal_code(rng, prefix),
            archetype=archetype,
            service_start=start,
            usage_points=ups,
            meter_serials=serials,
            is_demo=demo,
        )

    def customers(self, count: int) -> Iterator[CustomerSpec]:
        """The demo customer and `count` generated ones."""
        for n in range(count + 1):
            yield self.customer(n)


def identity_customer(world: WorldDef, utility: UtilityDef, ident: IdentityDef) -> CustomerSpec:
    """A named test identity as a customer: the catalogue's names and behaviours, the rest drawn
    from a generator of its own (seed, utility, username), so no generated customer moves."""
    u = utility
    rng = random.Random(key_int(world.seed, u.slug, "identity", ident.username))
    area = u.service_area[rng.randrange(len(u.service_area))]
    prefix = area.postal_prefixes[rng.randrange(len(area.postal_prefixes))]
    ups = usage_points_for(ident.archetype, u, rng)
    power = [p for p in ups if p.commodity == "electricity"]
    if ident.meters > 1:  # one address, several meters: units of a building, each its own service
        power = [
            replace(power[0], label=f"Unit {chr(65 + i)} electric service", seed=rng.getrandbits(62))
            for i in range(ident.meters)
        ]
    if ident.usage_point:
        power[0] = UsagePointParams.from_json({**power[0].to_json(), **ident.usage_point})
    ups = power + [p for p in ups if p.commodity != "electricity"]
    serials = tuple(f"{u.short_name}{p.commodity[0].upper()}{rng.randrange(10**7):07d}" for p in ups)
    first, last = ident.first_name, ident.last_name
    return CustomerSpec(
        number=ident.number,
        username=ident.username,
        first_name=first,
        last_name=last,
        email=f"{_ascii(first)}.{_ascii(last)}@example.org",
        phone=f"({rng.choice(_AREA_CODES.get(u.state, ('555',)))}) 555-{rng.randrange(10000):04d}",
        account_number=account_number(u, ident.number),
        street=ident.street or f"{rng.randrange(1, 400)} Water Street",
        city=area.city,
        state=u.state,
        postal_code=ident.postal_code or _postal_code(rng, prefix),
        archetype=ident.archetype,
        service_start=world.history_start,
        usage_points=tuple(ups),
        meter_serials=serials,
    )
