from django.contrib.auth.management import create_permissions
from django.contrib.postgres.operations import TrigramExtension, UnaccentExtension
from django.db import migrations

CURATED = [
    "topic",
    "speaker",
    "affiliation",
    "outlet",
    "source",
    "statement",
    "statementspeaker",
    "statementlink",
    "appearance",
    "claim",
    "review",
]
# Rows that only exist as part of a statement or speaker: editors remove them
# from the admin's inlines. Evidence itself (sources, statements, claims,
# reviews) is retracted, not deleted, except by publishers.
EDITOR_DELETABLE = ["affiliation", "statementspeaker", "statementlink", "appearance"]
PUBLISH = ["publish_statement", "publish_claim", "publish_review"]


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations have run; the
    # groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="claims")

    for name, codenames in group_codenames().items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(perms.filter(codename__in=codenames))


def group_codenames() -> dict[str, list[str]]:
    """The permissions of each group (also used by tests that rebuild the groups after a flush)."""
    editor = [f"{action}_{model}" for model in CURATED for action in ("view", "add", "change")]
    editor += [f"delete_{model}" for model in EDITOR_DELETABLE]
    return {"editors": editor, "publishers": editor + [f"delete_{model}" for model in CURATED] + PUBLISH}


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        UnaccentExtension(),
        TrigramExtension(),
        migrations.RunPython(create_groups, migrations.RunPython.noop),
    ]
