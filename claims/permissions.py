from rest_framework.permissions import DjangoModelPermissionsOrAnonReadOnly


class CuratorPermissions(DjangoModelPermissionsOrAnonReadOnly):
    """Anyone reads; writing needs the model permission of the editors or publishers group.

    Publishing is checked separately, where the status is written (see
    ``serializers.StatusField``): editors may create and edit drafts only.
    """

    perms_map = {
        **DjangoModelPermissionsOrAnonReadOnly.perms_map,
        # Reading the version list of a record is reading; restoring is checked in the view.
        "GET": [],
    }


def can_publish(user, model) -> bool:
    return user.is_authenticated and user.has_perm(
        f"{model._meta.app_label}.publish_{model._meta.model_name}"
    )


def sees_drafts(user, model) -> bool:
    """Curators (anyone with the view permission) see drafts; everyone else only public records."""
    return user.is_authenticated and user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}")


def is_publisher(user) -> bool:
    """Publishers (and superusers) may restore earlier versions of any record."""
    return user.is_authenticated and user.has_perm("claims.publish_statement")
