"""Create or update a local account: `manage.py orderdesk_user NAME --role viewer|clerk|admin`.

The password comes from a prompt (asked twice, never echoed) or, with --password-stdin, from
standard input: never from the command line, where ps and shell history would keep it.
"""

from __future__ import annotations

import getpass
import secrets
import sys
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.roles import ROLES, role_of, set_role


class Command(BaseCommand):
    help = "Create or update a local account with a role; the password is asked, never an argument."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the account's user name")
        parser.add_argument("--role", choices=[*ROLES, "none"], required=True)
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
        parser.add_argument(
            "--keep-password",
            action="store_true",
            help="an existing account keeps its password (change only its role)",
        )
        parser.add_argument("--disable", action="store_true", help="disable the account")
        parser.add_argument(
            "--first",
            action="store_true",
            help="only on a database without users: make NAME with a generated password, "
            "printed once (invoke up's first run)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"].strip()
        if not name or len(name) > 150:
            raise CommandError("NAME must be 1 to 150 characters; choose another user name.")
        users = get_user_model()
        if options["first"]:
            self._first(users, name, options["role"])
            return
        user: Any = users.objects.filter(username=name).first()
        created = user is None
        if created:
            user = users(username=name)
        elif hasattr(user, "external_identity"):
            raise CommandError(
                f"{name} signs in through Entra ID; its role comes from its app role there."
            )
        if created or not options["keep_password"]:
            password = self._password(options["password_stdin"])
            try:
                password_validation.validate_password(password, user)
            except ValidationError as exc:
                raise CommandError("The password is refused: " + " ".join(exc.messages)) from None
            user.set_password(password)
        user.is_active = not options["disable"]
        role = None if options["role"] == "none" else options["role"]
        with transaction.atomic():
            user.save()
            set_role(user, role)
        state = "disabled" if options["disable"] else "active"
        verb = "created" if created else "updated"
        self.stdout.write(f"{name} {verb}: role {role_of(user) or 'none'}, {state}")

    def _first(self, users: Any, name: str, role: str) -> None:
        """A first account on an empty database, its password made here and shown this once."""
        if users.objects.exists():
            return
        password = secrets.token_urlsafe(15)
        with transaction.atomic():
            user = users.objects.create_user(username=name, password=password)
            set_role(user, None if role == "none" else role)
        self.stdout.write(
            f"First run: sign in as {name} with the password {password} (shown once; change "
            f"it with `invoke app.user {name} --role {role}`)."
        )

    def _password(self, from_stdin: bool) -> str:
        if from_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("No password on standard input; pipe one line to it.")
            return password
        if not sys.stdin.isatty():
            raise CommandError("No terminal to ask the password on: use --password-stdin.")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ; run the command again.")
        return first
