"""Issue an API token for a user; the secret is printed once (only its hash is stored)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from telemetry.models import ApiToken


class Command(BaseCommand):
    help = "Issue an API token (Authorization: Token <secret>) for a user; prints the secret once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for")
        parser.add_argument("--days", type=int, help="expires after this many days (default: never)")

    def handle(self, *args, username, name, days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        expires = timezone.now() + timedelta(days=days) if days else None
        token, secret = ApiToken.issue(user=user, name=name, expires_at=expires)
        self.stdout.write(secret)
        until = f", expires {expires:%Y-%m-%d}" if expires else ""
        self.stderr.write(f"token {token.prefix}… for {username}{until}")
