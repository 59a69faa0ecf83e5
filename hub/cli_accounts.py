"""``hub clients`` and ``hub users``: service-account credentials and staff passwords.

Secrets are printed once, to stdout, and never logged; passwords are read from the
terminal (or stdin with ``--password-stdin``), never from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from hub import db
from hub.enums import Role
from hub.errors import DomainError
from hub.settings import Settings


def _fail(message: str) -> int:
    print(f"hub: {message}", file=sys.stderr)
    return 2


async def _connected(settings: Settings) -> None:
    await db.connect(settings)
    await db.require_migrated()


def cmd_clients(settings: Settings, args: argparse.Namespace) -> int:
    from hub.services import clients

    async def run() -> str:
        await _connected(settings)
        try:
            if args.clients_command == "create":
                creds = await clients.create_client(
                    name=args.name,
                    role=Role(args.role),
                    department_code=args.department,
                    system=args.system or "",
                    client_id=args.client_id,
                )
                return f"client_id={creds.client_id}\nclient_secret={creds.secret}"
            if args.clients_command == "rotate":
                grace = (
                    args.grace_hours
                    if args.grace_hours is not None
                    else settings.client_secret_grace_hours
                )
                creds = await clients.rotate_secret(args.client_id, grace)
                return (
                    f"client_id={creds.client_id}\nclient_secret={creds.secret}\n"
                    f"# the previous secret keeps working for {grace} hours"
                )
            if not await clients.disable(args.client_id):
                raise DomainError.one(
                    "client_id", "unknown", f"No active client {args.client_id!r}."
                )
            return f"disabled {args.client_id}"
        finally:
            await db.disconnect()

    try:
        print(asyncio.run(run()))
    except DomainError as exc:
        return _fail(str(exc))
    return 0


def cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    from auth.passwords import hash_password
    from hub.models import User
    from hub.services import audit, phones

    mobile = phones.indian_mobile(args.mobile)
    if mobile is None:
        return _fail(f"--mobile {args.mobile!r} is not an Indian mobile number.")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            return _fail("the two passwords differ; nothing changed.")
    if len(password) < 12:
        return _fail("a staff password needs at least 12 characters; nothing changed.")

    async def run() -> bool:
        await _connected(settings)
        try:
            user = await User.get_or_none(mobile=mobile)
            if user is None or not user.roles or user.roles == [Role.CITIZEN.value]:
                return False
            user.password_hash = hash_password(password)
            await user.save(update_fields=["password_hash"])
            await audit.record("password.set", user_id=user.id, subject=phones.masked(mobile))
            return True
        finally:
            await db.disconnect()

    if not asyncio.run(run()):
        return _fail(f"no staff account has the number {phones.masked(mobile)}.")
    print(f"password set for {phones.masked(mobile)}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    client = sub.add_parser("clients", help="department-system and portal credentials")
    client_sub = client.add_subparsers(dest="clients_command", required=True)
    create = client_sub.add_parser("create", help="a service account; prints its secret once")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--role", required=True, choices=(Role.DEPARTMENT_SYSTEM.value, Role.PORTAL.value)
    )
    create.add_argument("--department", help="department code (a department system's)")
    create.add_argument("--system", help="system code (a portal's, e.g. cpgrams)")
    create.add_argument("--client-id", help="default: generated")
    rotate = client_sub.add_parser("rotate", help="a new secret; the old one works a while")
    rotate.add_argument("client_id")
    rotate.add_argument("--grace-hours", type=int, help="default: HUB_CLIENT_SECRET_GRACE_HOURS")
    disable = client_sub.add_parser("disable", help="stop a client signing in")
    disable.add_argument("client_id")
    client.set_defaults(func=cmd_clients)

    users = sub.add_parser("users", help="staff accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    password = users_sub.add_parser(
        "set-password", help="a staff member's password, asked for after the code"
    )
    password.add_argument("--mobile", required=True)
    password.add_argument("--password-stdin", action="store_true")
    users.set_defaults(func=cmd_users)
