"""Issue an API token: `manage.py orderdesk_token NAME [--read-only] [--days N]`.

NAME is the user the token acts as. The token is printed once, as the last word of the last
line, and kept only as a hash: a script can take it with `| tail -n1 | awk '{print $NF}'`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import audit
from accounts.models import ApiToken, AuditAction
from accounts.roles import role_of

MAX_DAYS = 366


class Command(BaseCommand):
    help = "Issue an API token for a user; printed once, as the last word of the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the user the token acts as")
        parser.add_argument("--read-only", action="store_true", help="the token can only read")
        parser.add_argument("--days", type=int, default=90, help="days until it expires (90)")
        parser.add_argument("--label", default="", help="what the token is for (default: cli)")

    def handle(self, *args: Any, **options: Any) -> None:
        days: int = options["days"]
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be 1 to {MAX_DAYS}; a token must expire.")
        user: Any = get_user_model().objects.filter(username=options["name"]).first()
        if user is None:
            raise CommandError(
                f"No user {options['name']!r}: create one with "
                f"`python app/manage.py orderdesk_user {options['name']} --role viewer`."
            )
        if not user.is_active:
            raise CommandError(f"{user.username} is disabled; enable the account first.")
        if role_of(user) is None:
            raise CommandError(f"{user.username} has no role, so a token would allow nothing.")
        token, text = ApiToken.issue(
            user, options["label"] or "cli", read_only=options["read_only"], days=days
        )
        audit.record(
            AuditAction.TOKEN_ISSUED,
            None,
            user=user,
            target=f"{token.name} {token.shown_prefix} for {user.username}",
            detail=f"{'read-only' if token.read_only else 'read-write'}, {days} days, from the CLI",
        )
        self.stdout.write(
            f"Token for {user.username} ({role_of(user)}, "
            f"{'read-only' if token.read_only else 'read-write'}), expires "
            f"{token.expires_at:%Y-%m-%d}; shown once: {text}"
        )
