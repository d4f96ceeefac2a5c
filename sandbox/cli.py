"""`flask --app sandbox ...` commands: seed and reset the world, export and import Green Button files."""

from __future__ import annotations

import datetime as dt
import os
import tempfile

import click
from flask import Flask
from flask.cli import with_appcontext

from sandbox.core.db import SchemaError
from sandbox.services.world import reset_world, seed_world
from sandbox.synth.calendar import months_back
from sandbox.synth.world import SeedDataError, WorldDef, parse_world, read_seed_dir
from sandbox.web.context import sandbox


def register_commands(app: Flask) -> None:
    app.cli.add_command(seed_command)
    app.cli.add_command(reset_command)
    app.cli.add_command(export_command)
    app.cli.add_command(import_command)


def _world() -> WorldDef:
    """The database's world, or a usage error that says what to do."""
    try:
        return sandbox().require_world()
    except (SchemaError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None


def _customer(session, slug: str, username: str):
    from sqlalchemy import select

    from sandbox.core.models import Customer, Utility

    world = _world()
    try:
        world.utility(slug)
    except KeyError:
        raise click.BadParameter(
            f"no utility {slug!r}; choose from {', '.join(u.slug for u in world.utilities)}", param_hint="--utility"
        ) from None
    customer = session.scalars(
        select(Customer).join(Utility).where(Utility.slug == slug, Customer.username == username)
    ).first()
    if customer is None:
        raise click.BadParameter(f"no customer {username!r} at {slug}", param_hint="--customer")
    return customer


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date as YYYY-MM-DD") from None


@click.command("export")
@click.option("--utility", "slug", required=True, help="Utility slug, e.g. bayview.")
@click.option("--customer", "username", required=True, help="The customer's username, e.g. demo.")
@click.option(
    "--usage-point",
    "usage_points",
    multiple=True,
    help="A usage point id (as in the XML) or its position (0, 1, ...); repeat for several. Default: all.",
)
@click.option("--start", callback=_date, help="First day (YYYY-MM-DD, utility local time). Default: 13 months back.")
@click.option(
    "--end", callback=_date, help="Day after the last one (YYYY-MM-DD). Default: today (data ends yesterday)."
)
@click.option("--no-cost", is_flag=True, help="Leave out interval costs and bills.")
@click.option("--net", is_flag=True, help="Add the net metering series (delivered minus received) of homes with solar.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@with_appcontext
def export_command(slug, username, usage_points, start, end, no_cost, net, output) -> None:
    """Write a customer's Download My Data file."""
    from sandbox.core.errors import Refused
    from sandbox.services.dmd import build_download
    from sandbox.services.readings import history

    sb = sandbox()
    world = _world()
    with sb.db.sessions() as s:
        customer = _customer(s, slug, username)
        h = history(world, world.utility(slug), sb.clock, customer)
        end = end or h.end
        # 13 months back from the end, or from the data's nearer edge when the end lies outside it (a calendar edge
        # such as 0001-01-01 is then refused below, naming the option, not overflowed here)
        start = start or max(h.first, months_back(min(max(end, h.first), h.end), 13))
        ids = []
        for ref in usage_points:
            match = [up for up in customer.usage_points if up.uuid == ref.lower() or str(up.number) == ref]
            if not match:
                raise click.BadParameter(
                    f"{ref!r} is not one of {username}'s usage points "
                    f"({', '.join(f'{up.number}: {up.uuid}' for up in customer.usage_points)})",
                    param_hint="--usage-point",
                )
            ids.append(match[0].id)
        base = sb.base_url()
        try:
            download = build_download(
                sb, customer, ids or [up.id for up in customer.usage_points], start, end, not no_cost, base, h, net=net
            )
        except Refused as exc:
            raise click.BadParameter(str(exc), param_hint="--start/--end") from None
        if output:
            _write_whole(output, download.chunks)
        else:
            with click.open_file("-", "wb") as out:  # stdout, as bytes
                for chunk in download.chunks:
                    out.write(chunk)
    if output:
        click.echo(f"Wrote {output} ({start} to {end - dt.timedelta(days=1)}).", err=True)


def _write_whole(path: str, chunks) -> None:
    """Write to a temporary file beside `path` and move it into place at the end, so a failed export
    leaves any earlier file as it was and no half-written one."""
    try:
        tmp = tempfile.NamedTemporaryFile(
            dir=os.path.dirname(os.path.abspath(path)), prefix=".export-", suffix=".part", delete=False
        )
    except OSError as exc:
        raise click.FileError(path, hint=exc.strerror) from None
    try:
        with tmp:
            for chunk in chunks:
                tmp.write(chunk)
        os.replace(tmp.name, path)
    except BaseException:
        os.unlink(tmp.name)
        raise


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--utility", "slug", required=True, help="Utility slug, e.g. bayview.")
@click.option("--customer", "username", required=True, help="The customer's username.")
@with_appcontext
def import_command(file, slug, username) -> None:
    """Load a Green Button file as a customer's data, or refuse it and store nothing."""
    from sandbox.services.dmd import MAX_IMPORT_BYTES, ImportRefused, import_green_button

    sb = sandbox()
    size = os.path.getsize(file)
    if size > MAX_IMPORT_BYTES:
        raise click.ClickException(
            f"{file} is {size:,} bytes; at most {MAX_IMPORT_BYTES:,} are accepted. Nothing was stored."
        )
    with open(file, "rb") as fh:
        data = fh.read()
    with sb.db.sessions() as s:
        customer = _customer(s, slug, username)
        try:
            summary = import_green_button(sb, customer, data)
        except ImportRefused as exc:
            raise click.ClickException(f"{file}: {str(exc).rstrip('.')}. Nothing was stored.") from None
    click.echo(
        f"Imported {summary.usage_points} usage point(s) with {summary.readings:,} readings "
        f"for {username} at {slug}" + (f" ({summary.replaced} replaced)" if summary.replaced else "") + "."
    )


@click.command("seed")
@click.option(
    "--customers",
    type=click.IntRange(min=0),
    default=None,
    help="Generated customers per utility (default: each utility file's count). The demo customer comes on top.",
)
@click.option("--seed", "seed", type=int, default=None, help="World seed (default: seed_data/world.toml).")
@click.option(
    "--seed-data",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Folder with world.toml and utilities/*.toml (default: the configured seed_data).",
)
@with_appcontext
def seed_command(customers: int | None, seed: int | None, seed_data: str | None) -> None:
    """Replace the database's world with a freshly seeded one."""
    sb = sandbox()
    folder = seed_data or sb.config["SEED_DATA"]
    try:
        files = read_seed_dir(folder)
        world = parse_world(files, folder)
    except SeedDataError as exc:
        raise click.ClickException(str(exc)) from None
    customers = sb.config["CUSTOMERS"] if customers is None else customers
    total = sum((u.customers if customers is None else customers) + 1 for u in world.utilities)
    with click.progressbar(length=total, label=f"Seeding {total:,} customers", file=None) as bar:
        world = seed_world(
            sb.db,
            files,
            sb.clock,
            seed=seed if seed is not None else sb.config["SEED"],
            customers=customers,
            origin=folder,
            progress=bar.update,
            templates=sb.templates,
        )
    sb.world, sb.prepare = world, None
    click.echo(f"Seeded {len(world.utilities)} utilities, {total:,} customers, seed {world.seed}.")


@click.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--templates",
    "forget_templates",
    is_flag=True,
    help="Also remove the kept templates of seeded worlds (WORLD_CACHE), so the next seed generates anew.",
)
@with_appcontext
def reset_command(yes: bool, forget_templates: bool) -> None:
    """Empty the database; the next start seeds the world from seed_data/ again."""
    if not yes:
        click.confirm("Remove every customer, application and authorization?", abort=True)
    sb = sandbox()
    reset_world(sb.db)
    sb.world, sb.prepare = None, None
    click.echo("The database is empty; the next start seeds a fresh world.")
    if forget_templates and sb.templates is not None:
        click.echo(f"Removed {sb.templates.clear()} world template(s) from {sb.templates.folder}.")
