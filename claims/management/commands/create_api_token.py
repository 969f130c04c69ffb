import datetime

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from knox.models import AuthToken
from knox.settings import knox_settings


class Command(BaseCommand):
    help = (
        "Print a new API token for USERNAME, and nothing else. Only a hash is stored: "
        "the token cannot be shown again. Revoke tokens in the admin (Knox > Auth tokens)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--days",
            type=int,
            help=f"Days until the token expires (default: {knox_settings.TOKEN_TTL.days}; 0 = never).",
        )

    def handle(self, *args, username, days, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more.")
        expiry = (
            knox_settings.TOKEN_TTL if days is None else (datetime.timedelta(days=days) if days else None)
        )
        _, token = AuthToken.objects.create(user=user, expiry=expiry)
        self.stdout.write(token)
