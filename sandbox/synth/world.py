"""The fake world's definition, read from the human-edited files in `seed_data/`.

Every problem is reported as a SeedDataError naming the file, the field and what is
wrong, so that a typo stops start-up with a message a presenter can act on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox.core.errors import SeedDataError
from sandbox.core.profile import APPROVALS, DEFAULT_PROFILE, Behaviour, Profile
from sandbox.synth import profiles as profile_files
from sandbox.synth.identities import FILE as IDENTITIES_FILE
from sandbox.synth.identities import IdentityDef
from sandbox.synth.quality import QualityError, check_knobs

ARCHETYPES = ("apartment", "gas_house", "electric_house", "solar_house", "ev_house", "small_business")
COMMODITIES = ("electricity", "gas", "water")
CURRENCIES = {"USD": 840, "CAD": 124, "EUR": 978, "GBP": 826, "AUD": 36}
GAS_UNITS = ("therm", "m3")
WATER_UNITS = ("gal", "m3")
ELECTRICITY_INTERVALS = (900, 3600)
WATER_INTERVALS = (3600, 86400)


@dataclass(frozen=True)
class Season:
    name: str
    months: tuple[int, ...]
    rates: dict[str, int]  # period name -> price in 1e-5 currency per billing unit


@dataclass(frozen=True)
class Period:
    name: str
    tou: int
    weekday_hours: frozenset[int] | None  # None: every hour no other period claims
    weekend_hours: frozenset[int] | None


@dataclass(frozen=True)
class Tier:
    tier: int
    up_to: float | None  # billing units per month; None for the last tier
    adder: int  # 1e-5 currency per billing unit


@dataclass(frozen=True, eq=False)
class Tariff:
    name: str
    fixed_monthly: int  # 1e-5 currency
    seasons: tuple[Season, ...]
    periods: tuple[Period, ...]
    tiers: tuple[Tier, ...] = ()

    def season(self, month: int) -> Season:
        for s in self.seasons:
            if month in s.months:
                return s
        raise LookupError(month)  # unreachable: validation checks every month is covered

    def period(self, hour: int, weekend: bool) -> Period:
        default = None
        for p in self.periods:
            hours = p.weekend_hours if weekend else p.weekday_hours
            if hours is None:
                default = p
            elif hour in hours:
                return p
        if default is None:  # unreachable: validation requires one period without hours
            raise LookupError(hour)
        return default


@dataclass(frozen=True)
class ServiceArea:
    city: str
    postal_prefixes: tuple[str, ...]


@dataclass(frozen=True)
class Climate:
    mean_c: float
    amplitude_c: float
    coldest_day: int
    daily_noise_c: float
    cloudy_winter: float
    cloudy_summer: float


@dataclass(frozen=True, eq=False)
class UtilityDef:
    slug: str
    name: str
    short_name: str
    time_zone: str
    currency: str
    locale: str
    state: str
    latitude: float
    longitude: float
    colors: dict[str, str]
    customers: int
    commodities: tuple[str, ...]
    electricity_interval: int
    gas_unit: str
    water_unit: str
    water_interval: int
    data_custodian_id: str
    service_area: tuple[ServiceArea, ...]
    archetypes: dict[str, int]
    climate: Climate
    tariffs: dict[str, Tariff]
    profile: Profile = Profile()
    source: str = ""
    # customer number -> its data-quality knobs as stored (synth.quality), from [[data_quality]] tables
    data_quality: dict[int, dict] = field(default_factory=dict)
    identities: tuple[IdentityDef, ...] = ()  # its named test identities (seed_data/identities.toml)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def identity(self, username: str) -> IdentityDef | None:
        for i in self.identities:
            if i.username == username:
                return i
        return None

    @property
    def currency_code(self) -> int:
        return CURRENCIES[self.currency]

    def serves(self, postal_code: str) -> bool:
        code = postal_code.replace(" ", "").upper()
        return any(code.startswith(p.replace(" ", "").upper()) for a in self.service_area for p in a.postal_prefixes)


@dataclass(frozen=True, eq=False)
class WorldDef:
    seed: int
    history_start: dt.date
    missing_share: float
    estimated_share: float
    customer_password: str
    utilities: tuple[UtilityDef, ...]
    fingerprint: str = ""
    terms: dict[int, str] = field(default_factory=dict)  # third-party terms text by version ({utility} placeholder)
    profiles: dict[str, Behaviour] = field(default_factory=dict)  # behaviour profiles by name (seed_data/profiles)

    def profile_for(self, utility: "UtilityDef", chosen: str | None) -> Profile:
        """The profile `utility` acts on for an application that chose profile `chosen` (None: the utility's own;
        a name no longer in seed_data: the utility's own too)."""
        return utility.profile.with_behaviour(self.profiles.get(chosen) if chosen else None)

    def utility(self, slug: str) -> UtilityDef:
        for u in self.utilities:
            if u.slug == slug:
                return u
        raise KeyError(slug)


class _Reader:
    """Typed field access that names the file and dotted field path on failure."""

    def __init__(self, file: str, data: dict, prefix: str = ""):
        self.file, self.data, self.prefix = file, data, prefix

    def fail(self, key: str, problem: str):
        raise SeedDataError(self.file, self.prefix + key, problem)

    def get(self, key, kind, default=..., check=None, problem=""):
        if key not in self.data:
            if default is ...:
                self.fail(key, "is required but missing")
            return default
        value = self.data[key]
        ok_kind = kind is float and isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok_kind and not (isinstance(value, kind) and not (kind is int and isinstance(value, bool))):
            self.fail(key, f"must be {_KIND_NAMES.get(kind, kind.__name__)}, got {value!r}")
        if check is not None and not check(value):
            self.fail(key, problem)
        return float(value) if kind is float else value

    def table(self, key, default=...) -> "_Reader":
        value = self.get(key, dict, default)
        return _Reader(self.file, value if value is not None else {}, f"{self.prefix}{key}.")

    def tables(self, key) -> list["_Reader"]:
        value = self.get(key, list)
        if not value:
            self.fail(key, "must list at least one entry")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.fail(f"{key}[{i}]", f"must be a table, got {item!r}")
            out.append(_Reader(self.file, item, f"{self.prefix}{key}[{i}]."))
        return out


_KIND_NAMES = {
    int: "a whole number",
    float: "a number",
    str: "text",
    list: "a list",
    dict: "a table",
    bool: "true or false",
}


def _money(r: _Reader, key: str, value: object) -> int:
    """Currency amount -> integer 1e-5 units, exactly (TOML floats via their decimal text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        r.fail(key, f"must be a number, got {value!r}")
    try:
        scaled = Decimal(str(value)) * 100000
    except InvalidOperation:
        r.fail(key, f"is not a number: {value!r}")
    if scaled != scaled.to_integral_value():
        r.fail(key, "has more than 5 decimal places")
    if scaled < 0:
        r.fail(key, "must not be negative")
    return int(scaled)


def _hours(r: _Reader, key: str) -> frozenset[int] | None:
    hours = r.get(key, list, None)
    if hours is None:
        return None
    if not all(isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 23 for h in hours):
        r.fail(key, f"must list hours from 0 to 23, got {hours!r}")
    return frozenset(hours)


def _tariff(r: _Reader, commodity: str) -> Tariff:
    seasons = []
    covered: list[int] = []
    periods = []
    for pr in r.tables("periods") if "periods" in r.data else []:
        periods.append(
            Period(
                name=pr.get("name", str),
                tou=pr.get("tou", int, 0),
                weekday_hours=_hours(pr, "weekday_hours"),
                weekend_hours=_hours(pr, "weekend_hours"),
            )
        )
    if not periods:
        periods.append(Period("all", 0, None, None))
    defaults = [p for p in periods if p.weekday_hours is None and p.weekend_hours is None]
    if len(defaults) != 1:
        r.fail(
            "periods",
            "exactly one period must leave out weekday_hours and weekend_hours (it covers the rest of the day)",
        )
    for day, attr in (("weekday", "weekday_hours"), ("weekend", "weekend_hours")):
        seen: set[int] = set()
        for p in periods:
            hours = getattr(p, attr) or frozenset()
            if seen & hours:
                r.fail("periods", f"{day} hour {min(seen & hours)} belongs to two periods")
            seen |= hours
    names = {p.name for p in periods}
    for sr in r.tables("seasons"):
        months = sr.get("months", list)
        if not all(isinstance(m, int) and 1 <= m <= 12 for m in months):
            sr.fail("months", f"must list months 1 to 12, got {months!r}")
        covered.extend(months)
        rates_r = sr.table("rates")
        if set(rates_r.data) != names:
            sr.fail("rates", f"must give a rate for each period {sorted(names)}, got {sorted(rates_r.data)}")
        seasons.append(
            Season(sr.get("name", str), tuple(months), {k: _money(rates_r, k, v) for k, v in rates_r.data.items()})
        )
    if sorted(covered) != list(range(1, 13)):
        r.fail("seasons", "the seasons' months must cover 1 to 12, each once")
    tiers = []
    if "tiers" in r.data:
        last = 0.0
        trs = r.tables("tiers")
        for i, tr in enumerate(trs):
            up_to = tr.get("up_to", float, None)
            if up_to is None and i != len(trs) - 1:
                tr.fail("up_to", "is required on every tier but the last")
            if up_to is not None and up_to <= last:
                tr.fail("up_to", "must be larger than the previous tier's")
            tiers.append(Tier(tr.get("tier", int, i + 1), up_to, _money(tr, "adder", tr.get("adder", float, 0.0))))
            last = up_to or last
    return Tariff(
        name=r.get("name", str),
        fixed_monthly=_money(r, "fixed_monthly", r.get("fixed_monthly", float, 0.0)),
        seasons=tuple(seasons),
        periods=tuple(periods),
        tiers=tuple(tiers),
    )


def _utility(file: str, data: dict, behaviours: dict[str, Behaviour]) -> UtilityDef:
    r = _Reader(file, data)
    slug = r.get(
        "slug",
        str,
        check=lambda s: s.isascii() and s.replace("-", "").isalnum() and s.islower(),
        problem="must be lower-case letters, digits and dashes",
    )
    tz = r.get("time_zone", str)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        r.fail("time_zone", f"unknown IANA time zone {tz!r}")
    currency = r.get("currency", str, check=lambda c: c in CURRENCIES, problem=f"must be one of {sorted(CURRENCIES)}")
    commodities = tuple(r.get("commodities", list))
    for c in commodities:
        if c not in COMMODITIES:
            r.fail("commodities", f"unknown commodity {c!r}; use {', '.join(COMMODITIES)}")
    if "electricity" not in commodities:
        r.fail("commodities", "every utility delivers electricity")
    areas = tuple(
        ServiceArea(a.get("city", str), tuple(a.get("postal_prefixes", list, check=bool, problem="must not be empty")))
        for a in r.tables("service_area")
    )
    arch_r = r.table("archetypes")
    archetypes = {}
    for k in arch_r.data:
        if k not in ARCHETYPES:
            arch_r.fail(k, f"unknown archetype; use {', '.join(ARCHETYPES)}")
        archetypes[k] = arch_r.get(k, int, check=lambda n: n >= 0, problem="must be zero or more")
    if not any(archetypes.values()):
        r.fail("archetypes", "must give at least one archetype a share above zero")
    if "gas" not in commodities and archetypes.get("gas_house"):
        arch_r.fail("gas_house", "needs gas in commodities")
    cr = r.table("climate")
    cloudy = cr.table("cloudy_share")
    climate = Climate(
        mean_c=cr.get("mean_c", float),
        amplitude_c=cr.get("amplitude_c", float),
        coldest_day=cr.get("coldest_day", int, check=lambda d: 1 <= d <= 366, problem="must be a day of the year"),
        daily_noise_c=cr.get("daily_noise_c", float, 2.0),
        cloudy_winter=cloudy.get("winter", float, check=lambda x: 0 <= x <= 1, problem="must be between 0 and 1"),
        cloudy_summer=cloudy.get("summer", float, check=lambda x: 0 <= x <= 1, problem="must be between 0 and 1"),
    )
    tr = r.table("tariff")
    tariffs = {}
    for c in commodities:
        if c not in tr.data:
            r.fail(f"tariff.{c}", f"is required because {c} is in commodities")
        tariffs[c] = _tariff(tr.table(c), c)
    colors = r.get("colors", dict, {"primary": "#333333", "accent": "#888888"})
    profile = _profile(r, behaviours)
    return UtilityDef(
        slug=slug,
        name=r.get("name", str),
        short_name=r.get("short_name", str, slug.upper()),
        time_zone=tz,
        currency=currency,
        locale=r.get("locale", str, "en_US"),
        state=r.get("state", str, ""),
        latitude=r.get("latitude", float, check=lambda x: -66 < x < 66, problem="must be between -66 and 66"),
        longitude=r.get("longitude", float, check=lambda x: -180 <= x <= 180, problem="must be between -180 and 180"),
        colors=colors,
        customers=r.get("customers", int, 25, check=lambda n: n >= 0, problem="must be zero or more"),
        commodities=commodities,
        electricity_interval=r.get(
            "electricity_interval",
            int,
            3600,
            check=lambda n: n in ELECTRICITY_INTERVALS,
            problem=f"must be one of {ELECTRICITY_INTERVALS} seconds",
        ),
        gas_unit=r.get("gas_unit", str, "therm", check=lambda u: u in GAS_UNITS, problem=f"must be one of {GAS_UNITS}"),
        water_unit=r.get(
            "water_unit", str, "gal", check=lambda u: u in WATER_UNITS, problem=f"must be one of {WATER_UNITS}"
        ),
        water_interval=r.get(
            "water_interval",
            int,
            3600,
            check=lambda n: n in WATER_INTERVALS,
            problem=f"must be one of {WATER_INTERVALS} seconds",
        ),
        data_custodian_id=r.get("data_custodian_id", str, slug),
        service_area=areas,
        archetypes=archetypes,
        climate=climate,
        tariffs=tariffs,
        profile=profile,
        source=file,
        data_quality=_data_quality(r),
    )


def _data_quality(r: _Reader) -> dict[int, dict]:
    """The optional [[data_quality]] tables: `customers` (customer numbers) and the knobs they get."""
    out: dict[int, dict] = {}
    where: dict[int, str] = {}
    for i, tr in enumerate(r.tables("data_quality") if "data_quality" in r.data else []):
        numbers = tr.get("customers", list, check=bool, problem="must list at least one customer number")
        for n in numbers:
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                tr.fail("customers", f"must list customer numbers (whole numbers, 0 for demo), got {n!r}")
            if n in out:
                tr.fail("customers", f"customer {n} already has its data quality in {where[n]}")
        knobs = {k: v for k, v in tr.data.items() if k != "customers"}
        if not knobs:
            tr.fail("customers", "the table sets no knob besides customers")
        try:
            stored = check_knobs(knobs)
        except QualityError as exc:
            tr.fail(exc.field, exc.problem)
        for n in numbers:
            out[n], where[n] = stored, f"data_quality[{i}]"
    return out


_PROFILE_KEYS = (
    "use",
    "access_token_seconds",
    "authorization_days",
    "code_seconds",
    "pkce_required",
    "approval",
    "terms_version",
    "function_blocks",
)


_PARAMS = ("base_per_day", "heat_per_hdd", "cool_per_cdd", "solar_kw", "ev_kwh", "ev_share")
MAX_METERS = 6
MAX_REVOKE_SECONDS = 86400


def _with_identities(utilities: list[UtilityDef], r: _Reader) -> list[UtilityDef]:
    """The utilities with the catalogue's [[identity]] tables: each checked, numbered -1, -2... at its
    utility, its data-quality knobs added to the utility's (by that number)."""
    by_slug = {u.slug: u for u in utilities}
    found: dict[str, list[IdentityDef]] = {}
    for tr in r.tables("identity") if "identity" in r.data else []:
        slug = tr.get("utility", str, check=lambda s: s in by_slug, problem=f"must be one of {sorted(by_slug)}")
        mine = found.setdefault(slug, [])
        username = tr.get(
            "username",
            str,
            check=lambda n: 3 <= len(n) <= 40 and n.isascii() and not n[-1].isdigit() and n != "demo",
            problem="must be 3 to 40 ASCII characters, not end in a digit (generated customers' names do) nor be demo",
        )
        if any(i.username == username for i in mine):
            tr.fail("username", f"{username!r} is already an identity at {slug}")
        archetype = tr.get("archetype", str, check=lambda a: a in ARCHETYPES, problem=f"must be one of {ARCHETYPES}")
        point = tr.table("usage_point", {})
        for key in point.data:
            if key not in _PARAMS:
                point.fail(key, f"is not a usage-point parameter; use {', '.join(_PARAMS)}")
        params = {
            k: point.get(k, float, check=lambda x: 0 <= x <= 10_000, problem="must be 0 to 10000") for k in point.data
        }
        knobs = None
        if "data_quality" in tr.data:
            try:
                knobs = check_knobs(tr.get("data_quality", dict))
            except QualityError as exc:
                tr.fail(f"data_quality.{exc.field}", exc.problem)
        revoke = tr.get(
            "revokes_after_seconds",
            int,
            None,
            check=lambda n: 1 <= n <= MAX_REVOKE_SECONDS,
            problem=f"must be 1 to {MAX_REVOKE_SECONDS}",
        )
        mine.append(
            IdentityDef(
                username=username,
                utility=slug,
                number=-(len(mine) + 1),
                first_name=tr.get("first_name", str),
                last_name=tr.get("last_name", str),
                archetype=archetype,
                summary=tr.get("summary", str, check=bool, problem="must say what the identity shows"),
                street=tr.get("street", str, ""),
                postal_code=tr.get("postal_code", str, ""),
                meters=tr.get(
                    "meters", int, 1, check=lambda n: 1 <= n <= MAX_METERS, problem=f"must be 1 to {MAX_METERS}"
                ),
                usage_point=params,
                data_quality=knobs,
                moves_out_in_days=tr.get(
                    "moves_out_in_days", int, None, check=lambda n: 1 <= n <= 90, problem="must be 1 to 90"
                ),
                revokes_after=dt.timedelta(seconds=revoke) if revoke is not None else None,
            )
        )
    out = []
    for u in utilities:
        mine = found.get(u.slug, [])
        theirs = {i.number: i.data_quality for i in mine if i.data_quality}
        out.append(replace(u, identities=tuple(mine), data_quality={**u.data_quality, **theirs}) if mine else u)
    return out


def _profile(r: _Reader, behaviours: dict[str, Behaviour]) -> Profile:
    """The utility's `[profile]`: its own settings, and `use`, the behaviour profile it acts on."""
    pr = r.table("profile", None)
    for key in pr.data:
        if key not in _PROFILE_KEYS:
            pr.fail(
                key,
                "is not a utility profile key; use "
                + ", ".join(_PROFILE_KEYS)
                + " (scope, refresh, batch, filter, provisioning and XML knobs live in seed_data/profiles)",
            )
    d = Profile()
    positive = dict(check=lambda n: n > 0, problem="must be more than zero")
    use = pr.get(
        "use",
        str,
        DEFAULT_PROFILE,
        check=lambda n: n in behaviours,
        problem=f"names no file of seed_data/profiles; use one of {', '.join(sorted(behaviours))}",
    )
    blocks = pr.get("function_blocks", list, None)
    if blocks is not None and not (
        blocks and all(isinstance(n, int) and not isinstance(n, bool) and 0 < n < 100 for n in blocks)
    ):
        pr.fail("function_blocks", "must list function block numbers, e.g. [1, 3, 4, 5, 10]")
    return Profile(
        access_token_seconds=pr.get("access_token_seconds", int, d.access_token_seconds, **positive),
        authorization_days=pr.get("authorization_days", int, d.authorization_days, **positive),
        code_seconds=pr.get("code_seconds", int, d.code_seconds, **positive),
        pkce_required=pr.get("pkce_required", bool, d.pkce_required),
        approval=pr.get(
            "approval", str, d.approval, check=lambda x: x in APPROVALS, problem="must be " + " or ".join(APPROVALS)
        ),
        terms_version=pr.get("terms_version", int, d.terms_version, **positive),
        function_blocks=frozenset(blocks) if blocks is not None else None,
        behaviour=behaviours[use],
    )


def read_seed_dir(seed_dir: str | Path) -> dict[str, str]:
    """The world's files as {path relative to seed_dir: text}."""
    seed_dir = Path(seed_dir)
    paths = [
        seed_dir / "world.toml",
        *sorted((seed_dir / "utilities").glob("*.toml")),
        *sorted((seed_dir / "profiles").glob("*.toml")),
        *sorted((seed_dir / "terms").glob("v*.md")),
    ]
    if (seed_dir / IDENTITIES_FILE).exists():
        paths.insert(1, seed_dir / IDENTITIES_FILE)
    out = {}
    for path in paths:
        rel = path.relative_to(seed_dir).as_posix()
        try:
            out[rel] = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise SeedDataError(str(path), "(file)", f"cannot be read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SeedDataError(str(path), "(file)", "is not UTF-8 text") from None
    return out


def load_world(seed_dir: str | Path) -> WorldDef:
    """Read `world.toml` and every `utilities/*.toml` below seed_dir."""
    return parse_world(read_seed_dir(seed_dir), str(seed_dir))


def parse_world(files: dict[str, str], origin: str = "seed_data") -> WorldDef:
    """Build the world from file texts ({relative path: text}); errors name origin/path."""
    digest = hashlib.sha256()

    def parse(rel: str) -> dict:
        shown = f"{origin.rstrip('/')}/{rel}"
        text = files[rel]
        digest.update(rel.encode() + b"\0" + text.encode())
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SeedDataError(shown, "(file)", f"is not valid TOML: {exc}") from None

    if "world.toml" not in files:
        raise SeedDataError(f"{origin}/world.toml", "(file)", "is missing")
    w = _Reader(f"{origin.rstrip('/')}/world.toml", parse("world.toml"))
    try:
        start = dt.date.fromisoformat(w.get("history_start", str))
    except ValueError:
        w.fail("history_start", "must be a date as YYYY-MM-DD")
    behaviours = {DEFAULT_PROFILE: Behaviour()}
    for rel in sorted(r for r in files if r.startswith("profiles/")):
        shown = f"{origin.rstrip('/')}/{rel}"
        name = rel.rsplit("/", 1)[1].removesuffix(".toml")
        behaviours[name] = profile_files.behaviour(name, _Reader(shown, parse(rel)))
    rels = sorted(r for r in files if r.startswith("utilities/"))
    if not rels:
        raise SeedDataError(f"{origin}/utilities", "(folder)", "holds no utility .toml file")
    utilities: list[UtilityDef] = []
    for rel in rels:
        shown = f"{origin.rstrip('/')}/{rel}"
        u = _utility(shown, parse(rel), behaviours)
        for other in utilities:
            if other.slug == u.slug:
                raise SeedDataError(shown, "slug", f"{u.slug!r} is already used by {other.source}")
        utilities.append(u)
    if IDENTITIES_FILE in files:
        shown = f"{origin.rstrip('/')}/{IDENTITIES_FILE}"
        utilities = _with_identities(utilities, _Reader(shown, parse(IDENTITIES_FILE)))
    terms = {}
    for rel in sorted(r for r in files if r.startswith("terms/")):
        digest.update(rel.encode() + b"\0" + files[rel].encode())
        stem = rel.rsplit("/", 1)[1].removesuffix(".md")
        if not (stem.startswith("v") and stem[1:].isdigit()):
            raise SeedDataError(
                f"{origin.rstrip('/')}/{rel}", "(file)", "terms files are named v<version>.md, e.g. v1.md"
            )
        terms[int(stem[1:])] = files[rel]
    for u in utilities:
        if u.profile.terms_version not in terms:
            raise SeedDataError(
                u.source,
                "profile.terms_version",
                f"there is no {origin.rstrip('/')}/terms/v{u.profile.terms_version}.md",
            )
    return WorldDef(
        seed=w.get("seed", int),
        history_start=start,
        terms=terms,
        missing_share=w.get(
            "missing_share", float, 0.0, check=lambda x: 0 <= x < 0.5, problem="must be between 0 and 0.5"
        ),
        estimated_share=w.get(
            "estimated_share", float, 0.0, check=lambda x: 0 <= x < 0.5, problem="must be between 0 and 0.5"
        ),
        customer_password=w.get("customer_password", str, "password", check=bool, problem="must not be empty"),
        utilities=tuple(utilities),
        fingerprint=digest.hexdigest(),
        profiles=behaviours,
    )
