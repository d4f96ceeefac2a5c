"""`flask --app sandbox ...` commands: seed and reset the world."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from . import sandbox
from .seeding import reset_world, seed_world
from .synth.world import SeedDataError, parse_world, read_seed_dir


def register_commands(app: Flask) -> None:
    app.cli.add_command(seed_command)
    app.cli.add_command(reset_command)


@click.command("seed")
@click.option("--customers", type=click.IntRange(min=0), default=None,
              help="Generated customers per utility (default: each utility file's count). The demo customer comes on top.")
@click.option("--seed", "seed", type=int, default=None, help="World seed (default: seed_data/world.toml).")
@click.option("--seed-data", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder with world.toml and utilities/*.toml (default: the configured seed_data).")
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
        world = seed_world(sb.db, files, sb.clock, seed=seed if seed is not None else sb.config["SEED"],
                           customers=customers, origin=folder, progress=bar.update)
    sb.world = world
    click.echo(f"Seeded {len(world.utilities)} utilities, {total:,} customers, seed {world.seed}.")


@click.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def reset_command(yes: bool) -> None:
    """Empty the database; the next start seeds the world from seed_data/ again."""
    if not yes:
        click.confirm("Remove every customer, application and authorization?", abort=True)
    reset_world(sandbox().db)
    sandbox().world = None
    click.echo("The database is empty; the next start seeds a fresh world.")
