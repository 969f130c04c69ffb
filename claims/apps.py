from django.apps import AppConfig
from django.db.backends.signals import connection_created

# pg_trgm's match thresholds for the "%" (similarity) and "<%" (word
# similarity) operators, which the trigram indexes answer. Set on every new
# connection so that no query depends on an earlier one. See claims/search.py.
TRIGRAM_SETTINGS = "SET pg_trgm.similarity_threshold = 0.3; SET pg_trgm.word_similarity_threshold = 0.45"
# JIT compilation pays off for long analytical queries, not for the API's
# short ones, where it adds 10-20 ms whenever the planner's estimate is high.
SESSION_SETTINGS = f"{TRIGRAM_SETTINGS}; SET jit = off"


def configure_connection(sender, connection, **kwargs):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(SESSION_SETTINGS)


class ClaimsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "claims"
    verbose_name = "Claims"

    def ready(self):
        connection_created.connect(configure_connection, dispatch_uid="claims.session_settings")
        from django.db.models.signals import pre_delete

        from .services import protect_references

        for model in (self.get_model("Source"), self.get_model("Topic")):
            pre_delete.connect(
                protect_references, sender=model, dispatch_uid=f"claims.protect.{model.__name__}"
            )
