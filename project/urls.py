import sys

from django.contrib import admin
from django.db import InterfaceError, OperationalError, connection
from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from claims.exceptions import DatabaseUnavailable


@require_GET
def healthz(request):
    """Whether the database answers; 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means "not healthy"
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def _api_error(status: int, code: str, detail: str):
    body = {
        "type": "client_error" if status < 500 else "server_error",
        "errors": [{"code": code, "detail": detail, "attr": None}],
    }
    return JsonResponse(body, status=status)


# Errors raised outside DRF's views (unknown URLs, oversized bodies, crashes)
# are JSON on /api/ paths too; the admin keeps its HTML pages.
def handler400(request, exception=None):
    if request.path.startswith("/api/"):
        return _api_error(
            400, "bad_request", "The request could not be read (is the body too large or malformed?)."
        )
    return defaults.bad_request(request, exception)


def handler403(request, exception=None):
    if request.path.startswith("/api/"):
        return _api_error(403, "permission_denied", "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: JSON on /api/ paths (the API's views check CSRF themselves)."""
    if request.path.startswith("/api/"):
        return _api_error(403, "permission_denied", f"CSRF check failed: {reason}")
    return csrf.csrf_failure(request, reason)


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return _api_error(404, "not_found", "No such resource.")
    return defaults.page_not_found(request, exception)


def handler500(request):
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        # The database is down (raised before a view could answer, e.g. in a middleware).
        response = _api_error(503, DatabaseUnavailable.default_code, DatabaseUnavailable.default_detail)
        response["Retry-After"] = str(DatabaseUnavailable.wait)
        return response
    if request.path.startswith("/api/"):
        return _api_error(500, "error", "Something went wrong on our side; it has been logged.")
    return defaults.server_error(request)


admin.site.site_header = "Claim tracker"
admin.site.site_title = "Claim tracker"
admin.site.index_title = "Curation"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("claims.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script, so the
    # Content-Security-Policy needs no 'unsafe-inline' for scripts.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    # Unknown API paths get a JSON 404 even with DEBUG on.
    re_path(r"^api/", csrf_exempt(handler404)),
]
