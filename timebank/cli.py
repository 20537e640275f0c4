"""flask commands; each calls services, nothing else."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from timebank.errors import DomainError
from timebank.models.user import ROLES

users_cli = AppGroup("users", help="Manage users.")
ledger_cli = AppGroup("ledger", help="Check and export the points ledger.")
awards_cli = AppGroup("awards", help="Recognition: the red flag and the hours aggregates.")
points_cli = AppGroup("points", help="Points policies: expiring points.")


@users_cli.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--roles", required=True, help=f"Comma-separated: {', '.join(ROLES)}")
@click.option("--org-unit", "org_unit_id", type=int, default=None,
              help="Home unit id (default: the first top-level unit, made if none).")
@click.option("--display-name", default=None)
@click.option("--merchant", "merchant_id", type=int, default=None)
def create_user(username, password, roles, org_unit_id, display_name, merchant_id):
    """Create a user (the way to make the first administrator)."""
    from timebank.services import bootstrap

    try:
        user = bootstrap.create_user(
            username=username, password=password,
            roles=[r.strip() for r in roles.split(",") if r.strip()],
            org_unit_id=org_unit_id, display_name=display_name or username,
            merchant_id=merchant_id,
        )
    except DomainError as err:
        raise click.ClickException(_describe(err)) from err
    click.echo(f"created user {user.username} (id {user.id}) with roles {', '.join(user.roles)}")


@ledger_cli.command("verify")
def verify():
    """Check the whole ledger; exits non-zero on any problem."""
    from timebank.services import ledger

    report = ledger.verify()
    for problem in report.problems:
        click.echo(f"PROBLEM {problem}", err=True)
    click.echo(f"accounts={report.accounts} transactions={report.transactions} "
               f"problems={len(report.problems)}")
    if not report.ok:
        sys.exit(1)
    click.echo("ledger ok")


@ledger_cli.command("export")
@click.option("--format", "fmt", type=click.Choice(["hledger", "beancount"]), required=True)
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-")
def export(fmt, output):
    """Write the ledger as an hledger or beancount journal."""
    from timebank.services import export as export_service

    for chunk in export_service.journal(fmt):
        output.write(chunk)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def backup(path):
    """Copy the SQLite database to PATH while the app keeps running (PostgreSQL: pg_dump)."""
    from timebank.services import backup as backup_service

    try:
        report = backup_service.backup_sqlite(path)
    except backup_service.BackupNotPossible as err:
        raise click.ClickException(
            f"{err.detail} (pg_dump --format=custom --file=timebank.dump \"$DATABASE_URL\"; "
            "see the README)") from err
    except DomainError as err:
        raise click.ClickException(_describe(err)) from err
    click.echo(f"backup written to {report.path} ({report.size_bytes} bytes, "
               f"{report.pages} pages); integrity check ok")


@click.command("seed-demo")
@with_appcontext
@click.option("--members", default=200, show_default=True)
@click.option("--seed", default=2026, show_default=True)
def seed_demo(members, seed):
    """Fill an empty database with a demo street (refuses a non-empty one)."""
    from timebank.services import demo

    try:
        summary = demo.seed(members=members, seed=seed)
    except DomainError as err:
        raise click.ClickException(_describe(err)) from err
    click.echo(summary)


@awards_cli.command("red-flag")
@click.option("--month", required=True, help="The month to award, as YYYY-MM.")
def red_flag(month):
    """Award a month's red flag (流动红旗) in every community; a second run changes nothing."""
    from timebank.services import awards

    try:
        outcomes = awards.award_red_flag(awards.parse_month(month))
    except DomainError as err:
        raise click.ClickException(_describe(err)) from err
    for outcome in outcomes:
        community = outcome.community
        if outcome.award is None:
            click.echo(f"{community.name} (id {community.id}): no grid served, no award")
            continue
        verb = "awarded to" if outcome.status == "awarded" else "already held by"
        click.echo(f"{community.name} (id {community.id}): {verb} "
                   f"{outcome.award.grid.name} (id {outcome.award.grid_id}), "
                   f"score {outcome.award.score_minor / 100:.2f}")
    awarded = sum(1 for o in outcomes if o.status == "awarded")
    click.echo(f"month={month} communities={len(outcomes)} awarded={awarded}")


@awards_cli.command("check-stats")
def check_stats():
    """Compare the hours aggregates with the approved records; exits non-zero on drift."""
    from timebank.services import stats

    drift = stats.check()
    for problem in drift.problems:
        click.echo(f"PROBLEM {problem}", err=True)
    click.echo(f"rows={drift.checked} problems={len(drift.problems)}")
    if not drift.ok:
        sys.exit(1)
    click.echo("stats ok")


@awards_cli.command("rebuild-stats")
def rebuild_stats():
    """Recompute the hours aggregates from the approved records."""
    from timebank.services import stats

    click.echo(f"rows={stats.rebuild()}")


@points_cli.command("expire")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Expire what was valid only until the day before, YYYY-MM-DD (default today).")
@click.option("--dry-run", is_flag=True, help="Show what would expire; post nothing.")
def expire_points(as_of, dry_run):
    """Post expiry transactions as each community's policy says; a second run changes nothing."""
    from timebank.services import expiry
    from timebank.timeutil import today
    from timebank.units import fmt

    day = as_of.date() if as_of else today()
    try:
        result = expiry.expire(day, dry_run=dry_run)
    except DomainError as err:
        raise click.ClickException(_describe(err)) from err
    verb = "would expire" if dry_run else "expired"
    click.echo(f"as_of={day.isoformat()} checked={result.checked} members={result.members} "
               f"{verb}={fmt(result.points_minor)}")


def _describe(err: DomainError) -> str:
    if err.errors:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in err.errors.items())
        return f"{err.detail} ({details})"
    return err.detail


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(awards_cli)
    app.cli.add_command(points_cli)
    app.cli.add_command(seed_demo)
    app.cli.add_command(backup)
