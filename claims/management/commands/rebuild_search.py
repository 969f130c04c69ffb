from django.core.management.base import BaseCommand
from django.db import connection, transaction


class Command(BaseCommand):
    help = (
        "Recompute every stored search document (statements, claims, sources, speakers). "
        "Needed only after loading data with the database triggers disabled."
    )

    def handle(self, *args, **options):
        # Setting a document to NULL (or names to '') makes its trigger recompute it.
        steps = [
            ("speakers", "UPDATE claims_speaker SET search_names = ''"),
            ("sources", "UPDATE claims_source SET search_vector = NULL"),
            ("statements", "UPDATE claims_statement SET search_vector = NULL"),
            ("claims", "UPDATE claims_claim SET search_vector = NULL"),
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            for name, sql in steps:
                cursor.execute(sql)
                self.stdout.write(f"Re-indexed {cursor.rowcount} {name}.")
        with connection.cursor() as cursor:
            for table in ("claims_speaker", "claims_source", "claims_statement", "claims_claim"):
                cursor.execute(f"ANALYZE {table}")
