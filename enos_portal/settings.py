"""Settings for the EnOS device portal.

With no environment variables set this is the embedded default: SQLite in WAL mode, an
in-memory channel layer, Celery on kombu's filesystem transport, SMS codes printed to the log.
DATABASE_URL switches to PostgreSQL, REDIS_URL to Redis for channels and Celery. DEBUG=0 is
production: HTTPS only behind a TLS-terminating proxy, static files from `collectstatic` served
by WhiteNoise (see "Production: HTTPS, headers, static files" below).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF

from .env import (
    allowed_hosts,
    channel_layer_from_url,
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    secret_key,
)

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
    "csp",
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
    "observability",
    "fleet",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.TimeZoneMiddleware",
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
            # {{ value|local_time }} and {% zone_name %} on every page: times in the user's zone, named
            "builtins": ["accounts.templatetags.local_times"],
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

# The device table's covering index (INCLUDE activated_at) is for PostgreSQL; SQLite builds it
# without the included column, as intended, and would say so (models.W040) at every command.
SILENCED_SYSTEM_CHECKS = ["models.W040"] if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else []

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
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "assets:device-list"
LOGOUT_REDIRECT_URL = "login"

# English and Simplified Chinese, as the EnOS console: the language switch in the header (Django's
# set_language, remembered in a cookie), else the browser's Accept-Language, else English. Catalogs:
# locale/ (templates) and each app's locale/ (its Python code), compiled .mo files committed.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Production: HTTPS, headers, static files -------------------------------------------------
# The portal runs behind a proxy/load balancer that terminates TLS and tells it so in a header it
# sets itself (overwriting whatever the client sent): X-Forwarded-Proto: https by default.
# SECURE_PROXY_SSL_HEADER="" turns that off (TLS ends at daphne itself, or no proxy at all).
_proxy_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "" if DEBUG else "X-Forwarded-Proto").strip()
SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https") if _proxy_header else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# EMQX's HTTP hooks often call the portal inside the cluster over plain HTTP (they carry their own token)
SECURE_REDIRECT_EXEMPT = [r"^api/emqx/", r"^api/rabbitmq/auth/"]  # brokers call over the internal network
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)  # one year
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG

# Content-Security-Policy (django-csp 4): everything from the portal's own origin, no inline
# script or style anywhere (templates take their scripts and styles from static files, htmx's
# indicator style is in portal.css: see base.html's htmx-config). 'self' in connect-src covers
# the trace page's websocket (ws:/wss: to the same host). data: images are Swagger UI's icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Permissions-Policy: the console uses none of the browser's powerful features.
PERMISSIONS_POLICY: dict[str, list[str]] = {feature: [] for feature in (
    "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen", "geolocation",
    "gyroscope", "magnetometer", "microphone", "midi", "payment", "picture-in-picture", "publickey-credentials-get",
    "screen-wake-lock", "serial", "usb", "xr-spatial-tracking")}

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or VAR_DIR / "static")
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns of a missing one (in production: rightly)
STATICFILES_DIRS = [BASE_DIR / "enos_portal" / "static"]
# Production serves STATIC_ROOT (filled by `manage.py collectstatic`) through WhiteNoise, with
# hashed names cached for a year and gzip copies; development serves the apps' folders as they are.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG
                    else "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Redis: channel layer and Celery broker -------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {"default": channel_layer_from_url(REDIS_URL)}
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
    # without deep links Swagger UI puts no link inside each operation's button (axe: nested-interactive);
    # its syntax highlighting colours numbers in JSON examples #d36363 on #333 (contrast 3.45, axe: color-contrast)
    "SWAGGER_UI_SETTINGS": {"deepLinking": False, "syntaxHighlight": {"activated": False}},
    # fields of one name with different choices in several components ("status", "kind") get named enums
    "ENUM_NAME_OVERRIDES": {
        "DeviceStatusEnum": "assets.models.DeviceStatus",
        "DeliveryStatusEnum": "observability.models.DeliveryStatus",
        "GroupKindEnum": "assets.group_models.GroupKind",
        "AlertRuleKindEnum": "observability.models.RuleKind",
    },
}

# --- Domain settings --------------------------------------------------------------------------
DEVICE_PAGE_SIZES = [20, 50, 100, 200]
SMS_BACKEND = os.environ.get("SMS_BACKEND", "accounts.sms.ConsoleBackend")
# The console backend writes codes to the log: production (DEBUG=0) refuses it unless this says otherwise.
SMS_ALLOW_CONSOLE = env_bool("SMS_ALLOW_CONSOLE", DEBUG)
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
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 365)  # audit events older than this are deleted
CELERY_BEAT_SCHEDULE["audit-purge"] = {"task": "accounts.tasks.purge_audit_events", "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["batch-expire-jobs"] = {"task": "assets.batch.tasks.expire_batch_jobs", "schedule": 3600.0}
# Connection history (every session of every device): sessions that ended longer ago are deleted hourly.
CONNECTION_HISTORY_DAYS = env_int("CONNECTION_HISTORY_DAYS", 90)
CELERY_BEAT_SCHEDULE["connectivity-purge-history"] = {
    "task": "connectivity.tasks.purge_connection_history", "schedule": 3600.0}
# The OU view's roll-ups of that history: devices online per hour, the most flapping devices.
CELERY_BEAT_SCHEDULE["connectivity-roll-up-online"] = {
    "task": "connectivity.tasks.roll_up_online_devices", "schedule": env_float("CONNECTIVITY_ROLLUP_SECONDS", 300.0)}
CELERY_BEAT_SCHEDULE["connectivity-rank-flapping"] = {
    "task": "connectivity.tasks.rank_flapping_devices", "schedule": 3600.0}
EXPORT_SYNC_MAX = env_int("EXPORT_SYNC_MAX", 5_000)  # larger device exports run as a Celery job
EXPORT_DIR = Path(os.environ.get("EXPORT_DIR") or VAR_DIR / "exports")
EXPORT_KEEP_HOURS = env_int("EXPORT_KEEP_HOURS", 24)  # an export job's file is removed after that
# Bulk jobs: a claim's lease (a killed worker's executions are taken again once it expires), the sweep that
# restarts jobs no worker drives, and how many executions one step claims.
FLEET_LEASE_SECONDS = env_float("FLEET_LEASE_SECONDS", 60.0)
FLEET_DRIVER_STALE_SECONDS = env_float("FLEET_DRIVER_STALE_SECONDS", 30.0)
FLEET_CHUNK = env_int("FLEET_CHUNK", 50)
FLEET_BULK_CHUNK = env_int("FLEET_BULK_CHUNK", 5000)  # per step of the set-based actions (enable, disable, tags…)
FLEET_BULK_DRIVERS = env_int("FLEET_BULK_DRIVERS", 2)  # tasks driving one such job side by side
FLEET_SLICE_SECONDS = env_float("FLEET_SLICE_SECONDS", 20.0)  # one task drives a job this long, then hands on
CELERY_BEAT_SCHEDULE["fleet-resume-jobs"] = {"task": "fleet.tasks.resume_jobs",
                                             "schedule": env_float("FLEET_SWEEP_SECONDS", 10.0)}
CELERY_BEAT_SCHEDULE["export-expire-jobs"] = {"task": "assets.export.tasks.expire_exports", "schedule": 3600.0}
# Alerts: the sweep fires due timers ("offline for N minutes") and sends notifications every few seconds;
# more than ALERT_DIGEST_OVER devices tripping one rule in a sweep make one digest; webhooks retry with backoff.
ALERT_SWEEP_SECONDS = env_float("ALERT_SWEEP_SECONDS", 2.0)
ALERT_DIGEST_OVER = env_int("ALERT_DIGEST_OVER", 20)
ALERT_DELIVERY_ATTEMPTS = env_int("ALERT_DELIVERY_ATTEMPTS", 6)
ALERT_RETRY_BASE_SECONDS = env_float("ALERT_RETRY_BASE_SECONDS", 10.0)
ALERT_WEBHOOK_TIMEOUT = env_int("ALERT_WEBHOOK_TIMEOUT", 10)
CELERY_BEAT_SCHEDULE["observability-sweep-alerts"] = {"task": "observability.tasks.sweep_alerts",
                                                      "schedule": ALERT_SWEEP_SECONDS}

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

# One line per request (the server's access line), no tracebacks for answers the portal meant to give
# (4xx: enos_portal.log_filters), and no routine chatter from the periodic sweeps. Everything goes to
# the root logger's one handler: Django's own "django" handler is removed, or each record of a
# "django.*" logger (an access line, "Not Found: /x") would be printed twice.
_SWEEP_LOG_LEVEL = os.environ.get("CELERY_BEAT_LOG_LEVEL", "WARNING")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {
        "drop_client_error_duplicates": {"()": "enos_portal.log_filters.DropClientErrorDuplicates"},
        "no_traceback_for_client_errors": {"()": "enos_portal.log_filters.NoTracebackForClientErrors"},
        "quiet_websocket_lines": {"()": "enos_portal.log_filters.QuietWebsocketLines"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["drop_client_error_duplicates", "no_traceback_for_client_errors",
                                         "quiet_websocket_lines"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # Celery beat says "Sending due task" every TRACE_SWEEP_SECONDS, and the worker logs each
        # sweep's receipt and success: WARNING keeps failures and drops the routine
        "celery.beat": {"level": _SWEEP_LOG_LEVEL},
        "celery.worker.strategy": {"level": _SWEEP_LOG_LEVEL},
        "celery.app.trace": {"level": _SWEEP_LOG_LEVEL},
    },
}

# --- Rate limits and login lockout (accounts/throttle.py, django-axes, DRF throttles) ----------
# Counters live in the "throttle" cache: Redis when REDIS_URL is set (shared by every worker and
# process); otherwise this process's memory (the embedded default runs one web process).
CACHES["throttle"] = (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "throttle"}
    if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle",
                       "KEY_PREFIX": "throttle"})
# Reverse proxies in front of the portal that append the client to X-Forwarded-For; 0 = trust none
# (the client is REMOTE_ADDR). Set it only when every request passes through that many proxies.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# accounts.throttle scopes, "N/period" (s, m, h, d; "10/15m"); THROTTLE_RATES="scope=N/period,…" overrides
THROTTLE_RATES = {
    "api-token-failure-ip": "20/10m",  # wrong API tokens per client address
    "sms-phone": "5/h",  # migration codes texted to one phone
    "sms-phone-day": "20/d",
    "sms-user": "20/h",  # migration codes one user asks for (requests and resends)
    "sms-ip": "30/h",  # … from one client address
    "device-login": "10/5m",  # failed device logins per device (productKey/deviceKey)
    "device-login-ip": "100/5m",  # failed device logins per client address (gateways share addresses)
    "rabbitmq-auth-secret-ip": "20/10m",  # wrong secrets in RabbitMQ auth backend calls per caller address
}
for _rule in env_list("THROTTLE_RATES", []):
    _scope, _, _rate = _rule.partition("=")
    THROTTLE_RATES[_scope.strip()] = _rate.strip()

# Console and admin logins: django-axes refuses a client address or a username for LOGIN_COOLOFF_MINUTES
# after LOGIN_FAILURE_LIMIT failures (every refused try restarts the cool-off); the answer is 429.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as axes asks: it turns a lockout into the 429 page
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", *AUTHENTICATION_BACKENDS]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # either one locks: spraying and one-account guessing
# attempts in Redis when the portal runs on it; in the database otherwise (shared by every process)
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler" if REDIS_URL else "axes.handlers.database.AxesDatabaseHandler"
AXES_CACHE = "throttle"
# no admin pages: attempts name users and addresses of every OU; superusers use `manage.py axes_reset_*`
AXES_ENABLE_ADMIN = False
AXES_CLIENT_IP_CALLABLE = "accounts.throttle.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_DISABLE_ACCESS_LOG = True  # successful logins are not kept (the cache handler keeps none either)
AXES_RESET_ON_SUCCESS = False  # a success must not wipe an address's failures against other accounts

# The API: per-client request rates, and wrong tokens counted per address (a wrong token never
# reaches a DRF throttle: authentication fails first).
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "accounts.api_auth.ThrottledTokenAuthentication",
    "rest_framework.authentication.SessionAuthentication",
]
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["accounts.api_auth.AnonRateThrottle",
                                              "accounts.api_auth.UserRateThrottle"]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "anon": os.environ.get("API_RATE_ANON", "60/m"),
    "user": os.environ.get("API_RATE_USER", "1200/m"),
}
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXY_COUNT
