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


def _describe(err: DomainError) -> str:
    if err.errors:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in err.errors.items())
        return f"{err.detail} ({details})"
    return err.detail


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(seed_demo)
