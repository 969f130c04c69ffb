from django.core.management.base import BaseCommand
from django.db import connection, transaction

from claims import documents


class Command(BaseCommand):
    help = (
        "Build every stored document again (statements, claims, sources, speakers), set-based. "
        "Needed only after writing rows with the document triggers disabled."
    )

    def handle(self, *args, **options):
        with transaction.atomic(), connection.cursor() as cursor:
            for name, written in documents.build_all(cursor).items():
                self.stdout.write(f"Re-indexed {written} {name}.")
        with connection.cursor() as cursor:
            for table in ("claims_speaker", "claims_source", "claims_statement", "claims_claim"):
                cursor.execute(f"ANALYZE {table}")
