"""Settings for the EnOS device portal.

With no environment variables set this is the embedded default: SQLite in WAL mode, an
in-memory channel layer, Celery on kombu's filesystem transport, SMS codes printed to the log.
DATABASE_URL switches to PostgreSQL, REDIS_URL to Redis for channels and Celery.
"""

from __future__ import annotations

import os
from pathlib import Path

from .env import allowed_hosts, database_from_url, env_bool, env_float, env_int, env_list, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = secret_key(DEBUG, VAR_DIR)
ALLOWED_HOSTS = allowed_hosts(DEBUG)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "guardian",
    "channels",
    "enos_portal",
    "accounts",
    "assets",
    "tracing",
    "connectivity",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.RequestIdMiddleware",
]

ROOT_URLCONF = "enos_portal.urls"
ASGI_APPLICATION = "enos_portal.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.current_ou",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("PORTAL_SQLITE_PATH") or VAR_DIR / "portal.sqlite3",
            # a file, not memory, so a Celery worker or daphne started by a test shares it;
            # one per test run, so two runs on one machine do not collide
            "TEST": {"NAME": str(VAR_DIR / f"test-portal-{os.getpid()}.sqlite3")},
            "OPTIONS": {
                # WAL lets the web server, the Celery worker and beat read while one writes.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: anonymous visitors see nothing

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "assets:device-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "enos_portal" / "static"]

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG

# --- Redis: channel layer and Celery broker -------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # Without socket_timeout=None an idle consumer dies after 5 s reading from Redis.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "capacity": env_int("CHANNEL_CAPACITY", 1000),
                "expiry": 30,
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = VAR_DIR / "celery-broker"
    (_broker_dir / "out").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }

CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "enos_portal.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EnOS Device Portal API",
    "DESCRIPTION": "Devices, products, thing models and sub-devices, scoped by organization unit.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # served from the package, not a CDN: the console must work on a closed network
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Domain settings --------------------------------------------------------------------------
DEVICE_PAGE_SIZES = [20, 50, 100, 200]
SMS_BACKEND = os.environ.get("SMS_BACKEND", "accounts.sms.ConsoleBackend")
# FileBackend's outbox (one JSON line per message) and HttpGatewayBackend's provider endpoint
SMS_FILE_PATH = Path(os.environ.get("SMS_FILE_PATH") or VAR_DIR / "sms-outbox.jsonl")
SMS_HTTP_URL = os.environ.get("SMS_HTTP_URL", "")
SMS_HTTP_TOKEN = os.environ.get("SMS_HTTP_TOKEN", "")
SMS_HTTP_TIMEOUT = env_int("SMS_HTTP_TIMEOUT", 10)  # seconds

# Batch import/update: limits on an uploaded template, and where uploads wait between parse and apply.
BATCH_MAX_FILE_BYTES = env_int("BATCH_MAX_FILE_BYTES", 20 * 1024 * 1024)
BATCH_MAX_UNZIPPED_BYTES = env_int("BATCH_MAX_UNZIPPED_BYTES", 400 * 1024 * 1024)  # a zip bomb's cap
BATCH_MAX_ROWS = env_int("BATCH_MAX_ROWS", 100_000)
BATCH_SYNC_ROWS = env_int("BATCH_SYNC_ROWS", 2_000)  # larger files are parsed and applied by Celery
BATCH_UPLOAD_DIR = Path(os.environ.get("BATCH_UPLOAD_DIR") or VAR_DIR / "batch-uploads")
BATCH_KEEP_HOURS = env_int("BATCH_KEEP_HOURS", 24)  # a parsed job not applied by then expires
CELERY_BEAT_SCHEDULE["connectivity-end-stale-sessions"] = {
    "task": "connectivity.tasks.end_stale_sessions",
    "schedule": env_float("CONNECTIVITY_SESSION_HEARTBEAT_SECONDS", 60.0)}
CELERY_BEAT_SCHEDULE["batch-expire-jobs"] = {"task": "assets.batch.tasks.expire_batch_jobs", "schedule": 3600.0}

# --- Message tracing --------------------------------------------------------------------------
# "tracing" holds the traced-device version stamp every process (daphne, Celery, MQTT broker) reads:
# a cache they all share (Redis, else files), not per-process memory.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "tracing": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL} if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")},
}
TRACE_MAX_LOGS = env_int("TRACE_MAX_LOGS", 100_000)  # per trace; the oldest are dropped past it, with a marker
TRACE_RETENTION_DAYS = env_int("TRACE_RETENTION_DAYS", 7)  # an ended trace's logs are purged after this
TRACE_PAYLOAD_LIMIT = env_int("TRACE_PAYLOAD_LIMIT", 4096)  # bytes of payload JSON kept per log
TRACE_SYNC_SECONDS = env_float("TRACE_SYNC_SECONDS", 5.0)  # how often trace pages learn the last seq (lost last pushes)
CELERY_BEAT_SCHEDULE["tracing-close-expired"] = {"task": "tracing.close_expired_traces",
                                                 "schedule": float(env_int("TRACE_SWEEP_SECONDS", 30))}
CELERY_BEAT_SCHEDULE["tracing-purge"] = {"task": "tracing.purge_ended_traces", "schedule": 86400.0}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
