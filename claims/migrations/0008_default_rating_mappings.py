from django.contrib.auth.management import create_permissions
from django.db import migrations

# Defaults for every reviewer; curators add reviewer-specific ones in the admin.
DEFAULTS = {
    # PolitiFact's Truth-O-Meter
    "true": "true",
    "mostly true": "mostly_true",
    "half true": "mixed",
    "half-true": "mixed",
    "mostly false": "mostly_false",
    "false": "false",
    "pants on fire": "false",
    "pants on fire!": "false",
    # The true / false / misleading family
    "correct": "true",
    "accurate": "true",
    "mostly correct": "mostly_true",
    "mostly accurate": "mostly_true",
    "largely accurate": "mostly_true",
    "partly true": "mixed",
    "partly false": "mixed",
    "partially false": "mixed",
    "mixture": "mixed",
    "mixed": "mixed",
    "missing context": "mixed",
    "needs context": "mixed",
    "misleading": "mostly_false",
    "exaggerated": "mostly_false",
    "incorrect": "false",
    "inaccurate": "false",
    "wrong": "false",
    "fake": "false",
    "fabricated": "false",
    "altered": "false",
    "unproven": "unproven",
    "unverified": "unproven",
    "unsupported": "unproven",
    "no evidence": "unproven",
    "satire": "other",
}


def forward(apps, schema_editor):
    RatingMapping = apps.get_model("claims", "RatingMapping")
    for rating, verdict in DEFAULTS.items():
        RatingMapping.objects.get_or_create(reviewer=None, rating=rating, defaults={"verdict": verdict})

    # Editors see the mappings; publishers maintain them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="claims", codename__endswith="_ratingmapping")
    Group.objects.get(name="editors").permissions.add(*perms.filter(codename="view_ratingmapping"))
    Group.objects.get(name="publishers").permissions.add(*perms)


class Migration(migrations.Migration):
    dependencies = [("claims", "0007_rating_mappings")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
