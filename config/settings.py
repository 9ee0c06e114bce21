"""One env-driven settings module (see docs/architecture.md and README "Configuration").

Embedded default (no DATABASE_URL / REDIS_URL): SQLite in WAL mode and kombu's filesystem broker,
so `make run` works on a machine with only Python. Set DATABASE_URL and REDIS_URL for PostgreSQL
and Redis; nothing else changes.
"""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("REPLYDESK_VAR_DIR", BASE_DIR / "var"))


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{name} must be a boolean (got {value!r})")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


DEBUG = envbool("DEBUG", True)
PRODUCTION = envbool("REPLYDESK_PRODUCTION", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise RuntimeError("SECRET_KEY must be set in production")
    SECRET_KEY = "dev-only-insecure-key-change-me-in-production-0123456789abcdef"

# Channel secrets (OAuth tokens, mailbox passwords) are encrypted with these Fernet keys, not with
# SECRET_KEY. Comma-separated; the first encrypts, all decrypt (rotation: prepend a new key and run
# `manage.py rotate_secrets`). Without the variable a development key is kept in var/field-keys.
FIELD_ENCRYPTION_KEYS = [
    k.strip() for k in os.environ.get("FIELD_ENCRYPTION_KEYS", "").split(",") if k.strip()
]
if not FIELD_ENCRYPTION_KEYS and PRODUCTION:
    raise RuntimeError("FIELD_ENCRYPTION_KEYS must be set in production")

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "drf_spectacular",  # OpenAPI 3 schema at /api/schema/ (issue #8)
    "drf_spectacular_sidecar",  # Swagger UI / Redoc assets served locally, no CDN
    "inbox",
    "sla",
    "integrations",
]

MIDDLEWARE = [
    # First: every log line of the request carries its id (X-Request-ID), see config/logging.py.
    "config.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "inbox.middleware.OrganizationMiddleware",
]

ROOT_URLCONF = "config.urls"

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
                "django.template.context_processors.i18n",
                "inbox.context_processors.workspace",
            ],
        },
    }
]

WSGI_APPLICATION = "config.wsgi.application"

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 60))}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        # Fail fast when PostgreSQL is unreachable (readiness reports it) instead of hanging a worker.
        DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = envint("DB_CONNECT_TIMEOUT", 5)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "replydesk.sqlite3",
            "OPTIONS": {
                # WAL lets the web process read while a worker writes; IMMEDIATE avoids
                # "database is locked" upgrades from read to write transactions.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis / broker / cache -------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # kombu's filesystem transport: a broker that needs no server (embedded default).
    _broker_dir = VAR_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": VAR_DIR / "cache",
        }
    }

# --- Celery -----------------------------------------------------------------------------------
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True  # every task is idempotent (outbox CAS, upserts), so redelivery is safe
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ROUTES = {
    "integrations.tasks.channel_account_sync": {"queue": "sync"},
    "integrations.tasks.channel_accounts_poll": {"queue": "sync"},
    "integrations.tasks.outbound_message_deliver": {"queue": "outbound"},
    "integrations.tasks.outbound_messages_retry": {"queue": "outbound"},
    "sla.tasks.*": {"queue": "sla"},
    # Outbound webhooks get their own queue: a slow receiver never delays a buyer's reply.
    "integrations.tasks.webhook_deliver": {"queue": "webhooks"},
    "integrations.tasks.webhook_deliveries_retry": {"queue": "webhooks"},
}
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Fan-out: enqueue one sync task per active channel account whose poll interval has passed.
    "channel-accounts-poll": {
        "task": "integrations.tasks.channel_accounts_poll",
        "schedule": float(envint("REPLYDESK_POLL_SECONDS", 30)),
        "options": {"expires": 25},
    },
    # Outbox safety net: re-enqueue replies stuck in PENDING (lost broker message) or due for retry.
    "outbound-messages-retry": {
        "task": "integrations.tasks.outbound_messages_retry",
        "schedule": float(envint("OUTBOX_SWEEP_SECONDS", 30)),
        "options": {"expires": 25},
    },
    # Reply deadlines: mark due warnings and breaches (once each, compare-and-set) and alert. Every
    # 30 s, so a breach shows within 60 s of its due instant even if one run is lost (sla/README.md).
    "sla-clocks-check": {
        "task": "sla.tasks.sla_clocks_check",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    # Quality mirror (rules.md §4): Allegro recomputes the score once a day at an undocumented hour;
    # an hourly import (one request per account, stored idempotently per day) picks it up soon after.
    # A newly connected account is imported at once (integrations.tasks.allegro_connect_poll).
    "quality-snapshots-import": {
        "task": "sla.tasks.quality_snapshots_import",
        "schedule": crontab(minute=20),
        "options": {"expires": 3000},
    },
    # Daily summary e-mail for leads (sla/summary.py): sent once its organization's hour (Europe/Warsaw)
    # has come; once per day (a claimed row, unique per organization and day).
    "daily-summaries-send": {
        "task": "sla.tasks.daily_summaries_send",
        "schedule": 300.0,
        "options": {"expires": 280},
    },
    # Attachment files no row names any more (a rolled-back store, a deleted message), a day old.
    "attachment-files-sweep": {
        "task": "inbox.tasks.attachment_files_sweep_task",
        "schedule": crontab(hour=3, minute=40),
        "options": {"expires": 3000},
    },
    # Webhook outbox sweep: deliveries due for a retry (next_attempt_at parked in the database) or
    # stuck in SENDING (worker killed) are enqueued again.
    "webhook-deliveries-retry": {
        "task": "integrations.tasks.webhook_deliveries_retry",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    # Notification hygiene (issue #7): poll Allegro order events (cursor per account), send what
    # is due after the merge window, automatic acknowledgements (integrations/notifications/).
    "order-events-poll": {
        "task": "integrations.tasks.notifications_tick",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Beat heartbeat (default queue): /readyz and /metrics report its age (config/ops.py).
    "ops-beat-heartbeat": {
        "task": "config.beat_heartbeat",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
}
# Django's LOGGING applies in workers too (JSON in production, request/task ids).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Recovery from a killed worker (issue #9). The broker redelivers an unacked task only after
# `visibility_timeout` (an hour on Redis), so the database is what recovers: a sync holds a lease
# (renewed while it runs) that a dead worker stops renewing, and the outbox sweep reclaims a reply
# left in SENDING after OUTBOX_SENDING_STALE_SECONDS (keep it well above ALLEGRO_TIMEOUT_SECONDS:
# the reclaimed reply first asks Allegro whether it went out, but a send still in flight can't be seen).
# The leads' boards poll every 10 s; each is computed at most this often per organization (shared cache).
SLA_BOARD_CACHE_SECONDS = envint("SLA_BOARD_CACHE_SECONDS", 5)

SYNC_LOCK_LEASE_SECONDS = envint("SYNC_LOCK_LEASE_SECONDS", 60)
OUTBOX_SENDING_STALE_SECONDS = envint("OUTBOX_SENDING_STALE_SECONDS", 120)

# --- Allegro ----------------------------------------------------------------------------------
# Production: https://api.allegro.pl + https://allegro.pl ; Allegro's sandbox:
# https://api.allegro.pl.allegrosandbox.pl + https://allegro.pl.allegrosandbox.pl ;
# the local sandbox (`manage.py allegro_sandbox`): http://127.0.0.1:8765 for both.
ALLEGRO_API_URL = os.environ.get("ALLEGRO_API_URL", "http://127.0.0.1:8765")
ALLEGRO_AUTH_URL = os.environ.get("ALLEGRO_AUTH_URL", "http://127.0.0.1:8765")
ALLEGRO_CLIENT_ID = os.environ.get("ALLEGRO_CLIENT_ID", "sandbox-client")
ALLEGRO_CLIENT_SECRET = os.environ.get("ALLEGRO_CLIENT_SECRET", "sandbox-secret")
ALLEGRO_TIMEOUT_SECONDS = float(os.environ.get("ALLEGRO_TIMEOUT_SECONDS", "20"))
# Client-wide budget, kept under Allegro's 9000 requests/min per Client ID (allegro-api.md §2).
ALLEGRO_REQUESTS_PER_MINUTE = envint("ALLEGRO_REQUESTS_PER_MINUTE", 8000)
# POST /messaging/...messages is limited to 1 request/s per user (allegro-api.md §2).
ALLEGRO_MESSAGE_POSTS_PER_SECOND = 1
ALLEGRO_MAX_RETRIES = envint("ALLEGRO_MAX_RETRIES", 5)
# Sync "Problemy z zakupem" (POST_PURCHASE_ISSUE threads of the beta.v1 /messaging, new discussions
# since 2026-10-28; shapes unverified, integrations/allegro/sources/post_purchase.py) as discussions.
ALLEGRO_POST_PURCHASE_THREADS = envbool("ALLEGRO_POST_PURCHASE_THREADS", False)

# Checks an agent's reply passes before it is queued (dotted paths; each returns a list of warning
# msgids). A non-empty list re-shows the reply box with the warnings and a "Send anyway" button.
REPLY_CHECKS = ["integrations.notifications.services.reply_check"]
# Seconds an agent may take a reply back before it leaves (per organization, from its notification
# settings; 0 sends at once).
REPLY_UNDO_SECONDS = "integrations.notifications.services.reply_undo_seconds"

# --- Auth, i18n, static -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox:conversation-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "pl"
LANGUAGES = [("pl", _("Polish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Warsaw"  # display and calendars; storage is UTC (USE_TZ)
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"

REST_FRAMEWORK = {
    # API tokens (Authorization: Bearer rdk_…) for integrations, the session for the browser.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "inbox.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # One bucket per token (per user with a session); 429 with Retry-After beyond API_THROTTLE_RATE.
    "DEFAULT_THROTTLE_CLASSES": ["inbox.authentication.ApiRateThrottle"],
    "EXCEPTION_HANDLER": "inbox.api.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "inbox.api_schema.ApiAutoSchema",
}
API_THROTTLE_RATE = os.environ.get("API_THROTTLE_RATE", "600/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "Replydesk API",
    "DESCRIPTION": (
        "The inbox of an organization: conversations, messages, replies (through the outbox), contacts, "
        "reply deadlines. Authenticate with an API token (`Authorization: Bearer rdk_…`, created by an "
        "owner or team lead under API tokens) or, in the browser, with your session. Errors share one "
        "body (`Error`); lists use keyset pagination (`cursor`, `limit`). Webhooks: docs/webhooks.md."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ConversationKindEnum": "inbox.models.Conversation.Kind",
        "CalendarEnum": "inbox.api.CALENDARS",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "inbox.api_schema.schema_add_error_responses",
    ],
}

# --- Security ---------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie; kept default
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    DEBUG = False
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Probes and the Prometheus scraper talk plain HTTP to the process (config/ops.py).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- Logging (config/logging.py) ---------------------------------------------------------------
# One JSON object per line in production (REPLYDESK_PRODUCTION=1) or with LOG_FORMAT=json; plain
# text otherwise. Every line carries the request id (X-Request-ID) or the Celery task id and name;
# bearer tokens, API tokens and OAuth tokens are masked. Message bodies are never logged.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "plain")
if LOG_FORMAT not in ("json", "plain"):
    raise ValueError(f"LOG_FORMAT must be json or plain (got {LOG_FORMAT!r})")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "config.logging.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(log_context)s%(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},  # httpx logs full URLs at INFO; keep tokens out of logs
        "httpcore": {"level": "WARNING"},
    },
}

# --- Operations (config/ops.py) -------------------------------------------------------------------
# With METRICS_TOKEN set, /metrics and the details of /readyz need `Authorization: Bearer <token>`.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# /readyz fails when the beat heartbeat (every 30 s) is older than this.
OPS_BEAT_STALE_SECONDS = envint("OPS_BEAT_STALE_SECONDS", 180)
# /readyz reports an account "stale" when its last successful sync is older than this.
OPS_SYNC_STALE_SECONDS = envint("OPS_SYNC_STALE_SECONDS", 10 * envint("REPLYDESK_POLL_SECONDS", 30))

# --- Outbound webhooks (integrations/webhooks.py, docs/webhooks.md) -----------------------------
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
# Attempts per delivery before it fails for good (backoff 30 s … 6 h: about a day in all).
WEBHOOK_MAX_ATTEMPTS = envint("WEBHOOK_MAX_ATTEMPTS", 12)
# A subscription is disabled after this many deliveries in a row failed for good.
WEBHOOK_DISABLE_AFTER_FAILURES = envint("WEBHOOK_DISABLE_AFTER_FAILURES", 10)
# A delivery left SENDING this long (its worker was killed) is sent again by the sweep; keep it well
# above WEBHOOK_TIMEOUT_SECONDS (receivers dedupe on the event id, but a live attempt is not doubled).
WEBHOOK_SENDING_STALE_SECONDS = envint("WEBHOOK_SENDING_STALE_SECONDS", 120)

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "replydesk@localhost")
# Absolute links in e-mails (the leads' daily summary).
REPLYDESK_BASE_URL = os.environ.get("REPLYDESK_BASE_URL", "http://127.0.0.1:8000")
