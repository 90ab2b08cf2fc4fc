"""Headroom settings, read from the environment (django-environ).

With nothing set, Headroom runs embedded: SQLite and a filesystem Celery broker under DATA_DIR.
Point DATABASE_URL / CELERY_BROKER_URL / REDIS_URL at PostgreSQL and Redis for production.
"""

from datetime import timedelta
from pathlib import Path

import environ
import plotly
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env("HEADROOM_DATA_DIR", default=str(BASE_DIR / "data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-dev-key-only-for-debug"  # noqa: S105
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
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
    "drf_spectacular_sidecar",  # Swagger UI / ReDoc files served locally, no CDN
    "csp",
    "axes",
    "telemetry",
    "planner",
    "planner.forecasts",
    "planner.reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "telemetry.tenancy.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.security.PermissionsPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
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
                "telemetry.tenancy.organization_context",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'headroom.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Login lockout (django-axes): AXES_FAILURE_LIMIT wrong passwords for one user name from one IP lock that
# pair out for AXES_COOLOFF_MINUTES; a good login resets the count.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind the reverse proxy (docker-compose), the client's address is the proxy's X-Forwarded-For entry.
AXES_IPWARE_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if env.int("TRUSTED_PROXY_COUNT", default=0) else ["REMOTE_ADDR"]
)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# plotly.js is served from the installed plotly package (collectstatic copies it): no CDN.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/plotly", Path(plotly.__file__).parent / "package_data"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Behind HTTPS (the production default): secure cookies, HSTS and redirects.
HTTPS = env.bool("HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# X-Forwarded-Proto is trusted only where a reverse proxy sets it (docker-compose's Caddy): TRUSTED_PROXY_COUNT.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.int("TRUSTED_PROXY_COUNT", default=0) else None
SECURE_REFERRER_POLICY = "same-origin"
# Browser features no page uses (config.security.PermissionsPolicyMiddleware).
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
# Content-Security-Policy (django-csp): scripts only from our own static files, never inline (templates pass
# data by json_script or data- attributes); styles may be inline (Plotly writes its own style elements).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Seconds a client is told to wait (Retry-After) when the database, Redis or the broker is down.
OUTAGE_RETRY_AFTER_S = env.int("OUTAGE_RETRY_AFTER_S", default=30)

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Headroom <headroom@localhost>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "telemetry.api.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "planner.reports.authentication.ExportLinkAuthentication",
    ],
    # Every endpoint also answers ?format=csv|xlsx (telemetry/api/renderers.py).
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
        "telemetry.api.renderers.CSVRenderer",
        "telemetry.api.renderers.XLSXRenderer",
    ],
    # JSON bodies only: any other Content-Type is 415 (the push API's text and CSV views read their bodies raw).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_PERMISSION_CLASSES": ["telemetry.tenancy.RolePermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "telemetry.api.renderers.ExportPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # 429 with Retry-After past these (per user or API token, per anonymous IP, per ingest token).
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env("API_THROTTLE_USER", default="1200/min"),
        "anon": env("API_THROTTLE_ANON", default="120/min"),
        "ingest": env("API_THROTTLE_INGEST", default="600/min"),
    },
    "EXCEPTION_HANDLER": "telemetry.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Headroom API",
    "DESCRIPTION": "GPU fleet inventory, telemetry, capacity planning and forecasts.",
    "VERSION": "0.1.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema and its docs page need a login unless API_SCHEMA_PUBLIC opens them.
    "SERVE_PERMISSIONS": (
        ["rest_framework.permissions.AllowAny"]
        if env.bool("API_SCHEMA_PUBLIC", default=False)
        else ["rest_framework.permissions.IsAuthenticated"]
    ),
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "telemetry.api.schema.document_errors",
        "telemetry.api.schema.document_local_times",
    ],
}

# Celery: a broker that needs no server unless CELERY_BROKER_URL says otherwise.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    for _folder in ("celery-queue", "celery-control"):
        (DATA_DIR / _folder).mkdir(exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(DATA_DIR / "celery-queue"),
        "data_folder_out": str(DATA_DIR / "celery-queue"),
        "control_folder": str(DATA_DIR / "celery-control"),
    }
CELERY_RESULT_BACKEND = env(
    "CELERY_RESULT_BACKEND",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else f"file://{DATA_DIR}/celery-results",
)
if CELERY_RESULT_BACKEND.startswith("file://"):
    (DATA_DIR / "celery-results").mkdir(exist_ok=True)
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {}

# Telemetry storage (docs/operations.md): retention per resolution in days (None keeps forever), how many
# daily partitions to create ahead, and how late data may arrive before a rollup bucket is final.
TELEMETRY_RETENTION_DAYS = {
    "raw": env.int("TELEMETRY_RAW_DAYS", default=7),
    "1m": env.int("TELEMETRY_1M_DAYS", default=30),
    "5m": env.int("TELEMETRY_5M_DAYS", default=365),
    "1h": env.int("TELEMETRY_1H_DAYS", default=0) or None,
}
TELEMETRY_PARTITION_DAYS_AHEAD = env.int("TELEMETRY_PARTITION_DAYS_AHEAD", default=3)
TELEMETRY_ROLLUP_LAG_S = env.int("TELEMETRY_ROLLUP_LAG_S", default=120)
# Where raw GPU samples live (docs/operations.md, "Raw samples in Prometheus"): "postgres", or "prometheus":
# remote-written to and read through PromQL from a Prometheus-compatible store; inventory, rollups, forecasts
# and plans stay in the database either way.
TELEMETRY_RAW_STORE = env.str("TELEMETRY_RAW_STORE", default="postgres")
TELEMETRY_PROMETHEUS_URL = env.str("TELEMETRY_PROMETHEUS_URL", default="")  # its query API base URL
# Remote-write endpoint when not <TELEMETRY_PROMETHEUS_URL>/api/v1/write (Mimir: /api/v1/push, Thanos receive).
TELEMETRY_PROMETHEUS_WRITE_URL = env.str("TELEMETRY_PROMETHEUS_WRITE_URL", default="")
TELEMETRY_PROMETHEUS_TIMEOUT_S = env.float("TELEMETRY_PROMETHEUS_TIMEOUT_S", default=30.0)
if TELEMETRY_RAW_STORE not in ("postgres", "prometheus"):
    raise ImproperlyConfigured(f"TELEMETRY_RAW_STORE is {TELEMETRY_RAW_STORE!r}: 'postgres' or 'prometheus'")
if TELEMETRY_RAW_STORE == "prometheus" and not TELEMETRY_PROMETHEUS_URL:
    raise ImproperlyConfigured("TELEMETRY_RAW_STORE=prometheus needs TELEMETRY_PROMETHEUS_URL (http://host:9090)")
# Raw GPU samples of hours that ended this long ago are sealed into compressed blocks (telemetry.sealing).
TELEMETRY_SEAL_AFTER_HOURS = env.int("TELEMETRY_SEAL_AFTER_HOURS", default=3)
TELEMETRY_PUSH_MAX_BYTES = env.int("TELEMETRY_PUSH_MAX_BYTES", default=16 * 1024 * 1024)
TELEMETRY_CSV_MAX_BYTES = env.int("TELEMETRY_CSV_MAX_BYTES", default=200 * 1024 * 1024)  # one CSV upload
TELEMETRY_CSV_UPLOAD_DAYS = env.int("TELEMETRY_CSV_UPLOAD_DAYS", default=7)  # finished uploads' files kept
# How often beat looks for due sources: the shortest collection interval that takes effect.
TELEMETRY_COLLECTION_TICK_S = env.float("TELEMETRY_COLLECTION_TICK_S", default=10.0)
TELEMETRY_COLLECTOR_FAILURE_EVENT_AFTER = env.int("TELEMETRY_COLLECTOR_FAILURE_EVENT_AFTER", default=3)
# Collector module per Source.kind when it is not telemetry.collectors.<kind> (e.g. a test's own collector).
TELEMETRY_COLLECTOR_MODULES = env.dict("HEADROOM_COLLECTOR_MODULES", default={})
CELERY_BEAT_SCHEDULE.update(
    {
        "telemetry-collection-tick": {
            "task": "telemetry.collection_tick",
            "schedule": TELEMETRY_COLLECTION_TICK_S,
            "options": {"expires": TELEMETRY_COLLECTION_TICK_S * 0.9},
        },
        "telemetry-refresh-rollups": {
            "task": "telemetry.refresh_rollups",
            "schedule": 60.0,
            "options": {"expires": 55},
        },
        "telemetry-ensure-partitions": {
            "task": "telemetry.ensure_partitions",
            "schedule": 3600.0,
            "options": {"expires": 3000},
        },
        "telemetry-apply-retention": {
            "task": "telemetry.apply_retention",
            "schedule": 3600.0,
            "options": {"expires": 3000},
        },
        "telemetry-seal-samples": {
            "task": "telemetry.seal_samples",
            "schedule": 3600.0,
            "options": {"expires": 3000},
        },
    }
)

# Serving telemetry (telemetry/serving/rollups.py) and anomaly detection (telemetry/serving/anomalies.py).
CELERY_BEAT_SCHEDULE["telemetry-serving-rollups"] = {
    "task": "telemetry.refresh_serving_rollups",
    "schedule": 60.0,
    "options": {"expires": 55},
}
CELERY_BEAT_SCHEDULE["telemetry-detect-anomalies"] = {
    "task": "telemetry.detect_anomalies",
    "schedule": 60.0,
    "options": {"expires": 55},
}

# Reports and exports (planner/reports/mail.py, telemetry/api/renderers.py). Chart images in emails are
# drawn by kaleido in a headless Chromium (Debian package `chromium`).
HEADROOM_CHROMIUM = env("CHROMIUM_PATH", default="/usr/bin/chromium")
HEADROOM_SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
REPORT_RETRY_BASE_S = env.float("REPORT_RETRY_BASE_S", default=60.0)
# A delivery still 'sending' this long after its claim lost its worker and is sent again (longer than
# the send task's 240 s time limit); an SMTP server that stops answering times out after EMAIL_TIMEOUT.
REPORT_SEND_LEASE_S = env.float("REPORT_SEND_LEASE_S", default=900.0)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=60)
CELERY_BEAT_SCHEDULE["planner-report-tick"] = {
    "task": "planner.reports.tick",
    "schedule": 60.0,
    "options": {"expires": 55},
}

# Forecasts (planner/forecasts/tasks.py): hourly cooling update, nightly refit + backtest + GPU risk scoring.
CELERY_BEAT_SCHEDULE["planner-forecasts-hourly"] = {
    "task": "planner.forecasts_hourly",
    "schedule": crontab(minute=7),
    "options": {"expires": 3000},
}
CELERY_BEAT_SCHEDULE["planner-forecasts-nightly"] = {
    "task": "planner.forecasts_nightly",
    "schedule": crontab(hour=2, minute=17),
    "options": {"expires": 6 * 3600},
}
# GPU risk scores (one row per GPU per nightly run) older than this go, except each organization's newest run.
PLANNER_RISK_SCORE_DAYS = env.int("PLANNER_RISK_SCORE_DAYS", default=365)
CELERY_BEAT_SCHEDULE["planner-apply-retention"] = {
    "task": "planner.apply_retention",
    "schedule": crontab(hour=3, minute=37),
    "options": {"expires": 6 * 3600},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
