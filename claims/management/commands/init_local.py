import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from claims.history import record_missing_history
from claims.models import Source, Speaker, Statement


class Command(BaseCommand):
    help = (
        "Prepare a local installation: load the seed article into an empty database "
        "(once) and make sure a local admin account exists."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin", help="Local admin account (default: admin).")

    def handle(self, *args, username, **options):
        if Statement.objects.exists() or Speaker.objects.exists() or Source.objects.exists():
            self.stdout.write("Database already has data: seed not loaded again.")
        else:
            call_command("loaddata", "seed", verbosity=0)
            record_missing_history(reason="Loaded from the seed fixture")
            self.stdout.write(self.style.SUCCESS("Loaded the seed article."))

        password_file = settings.BASE_DIR / "var" / "local-admin-password.txt"
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            self.stdout.write(self.style.SUCCESS(f"Created the local superuser {username!r}."))

        self.stdout.write("")
        self.stdout.write("Admin:    http://127.0.0.1:8000/admin/")
        self.stdout.write(f"Username: {username}")
        if password_file.exists():
            self.stdout.write(f"Password: {password_file.read_text().strip()}  (kept in {password_file})")
        else:
            self.stdout.write("Password: the one you set (change it with: manage.py changepassword)")
