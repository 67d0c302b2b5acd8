"""``loci users add|list|remove|token|limit``: who may use a multi-user ``loci serve --users``.

A token is printed once, when it is made; the database keeps only its SHA-256.
"""

from __future__ import annotations

import click

from ..config import load_settings
from ..store import Store
from ..store.users import Users


def _users() -> Users:
    return Users(Store(load_settings().db_path))


@click.group()
def users() -> None:
    """Manage the users of `loci serve --users` (tokens are stored hashed)."""


@users.command("add")
@click.argument("name")
@click.option("--max-kernels", type=click.IntRange(min=1), help="Cap on their live kernels")
def add(name: str, max_kernels: int | None) -> None:
    """Create NAME and print their token (shown only this once)."""
    token = _users().add(name, max_kernels=max_kernels)
    click.echo(token)
    click.echo(f"user {name!r} added; give them this token (it is not stored)", err=True)


@users.command("list")
def list_users() -> None:
    """Show the users and their kernel caps."""
    rows = _users().all()
    if not rows:
        click.echo("no users yet: add one with `loci users add NAME`", err=True)
    for user in rows:
        cap = "server default" if user.max_kernels is None else str(user.max_kernels)
        click.echo(f"{user.name}\tmax kernels: {cap}")


@users.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Delete NAME (their token stops working; their history stays)."""
    _users().remove(name)
    click.echo(f"user {name!r} removed", err=True)


@users.command("token")
@click.argument("name")
def token(name: str) -> None:
    """Give NAME a new token (the old one stops working at once)."""
    click.echo(_users().new_token(name))


@users.command("limit")
@click.argument("name")
@click.argument("max_kernels", type=click.IntRange(min=0))
def limit(name: str, max_kernels: int) -> None:
    """Set NAME's cap on live kernels (0: back to the server's --max-kernels)."""
    _users().set_limit(name, max_kernels or None)
