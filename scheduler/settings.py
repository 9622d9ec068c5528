"""Settings, all from the environment with safe development defaults (DESIGN §9).

``DEBUG`` defaults to on only in development (no ``SECRET_KEY`` given); production sets
``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL`` and ``REDIS_URL`` and passes
``manage.py check --deploy``. Without ``DATABASE_URL``/``REDIS_URL`` the embedded services
started by ``scheduler.embedded`` are used (their addresses are kept under ``.data/``).
"""

import logging
import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from scheduler.embedded import DATA, embedded_urls

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def parse_email_url(url: str) -> dict:
    """EMAIL_URL as Django's EMAIL_* settings: smtp:// (plain), smtp+tls:// (STARTTLS),
    smtp+ssl:// (implicit TLS); user and password percent-encoded; "" gives {}."""
    if not url:
        return {}
    parts = urlsplit(url)
    schemes = {
        "smtp": (False, False, 25),
        "smtp+tls": (True, False, 587),
        "smtp+ssl": (False, True, 465),
    }
    if parts.scheme not in schemes:
        raise ImproperlyConfigured(
            f"EMAIL_URL: scheme {parts.scheme!r} is not one of {', '.join(schemes)}"
        )
    tls, ssl, port = schemes[parts.scheme]
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname or "localhost",
        "EMAIL_PORT": parts.port or port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": tls,
        "EMAIL_USE_SSL": ssl,
    }


def _development_secret_key() -> str:
    """Generated once and kept under .data/, so sessions survive restarts."""
    path = DATA / "secret_key"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


_embedded = embedded_urls()
SECRET_KEY = os.environ.get("SECRET_KEY") or _development_secret_key()
DEBUG = env_bool("DEBUG", default="SECRET_KEY" not in os.environ)
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "resources.apps.ResourcesConfig",
    "bookings.apps.BookingsConfig",
    "notices.apps.NoticesConfig",
    "projects.apps.ProjectsConfig",
]

MIDDLEWARE = [
    # Outermost: any error answer under /api/ (Django's own included) becomes problem+json.
    "bookings.api.middleware.ApiProblemMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Shows every time in the signed-in user's zone (Profile.timezone, created on demand).
    "bookings.web.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "scheduler.urls"
WSGI_APPLICATION = "scheduler.wsgi.application"
ASGI_APPLICATION = "scheduler.asgi.application"

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
                "notices.web.context.unread_notices",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL") or _embedded.get(
    "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/whencanidothis"
)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
# No JIT: these are short OLTP queries, and one mis-estimated plan compiled for ~80 ms.
_options = DATABASES["default"].setdefault("OPTIONS", {})
_options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL") or _embedded.get("REDIS_URL", "redis://127.0.0.1:6379/0")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# Production hardening; `manage.py check --deploy` passes when DEBUG is off.
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Scheduling policy (read through django.conf.settings at call time) ---
OFFER_HOLD_SECONDS = env_int("OFFER_HOLD_SECONDS", 300)
LEASE_TICK_SECONDS = env_int("LEASE_TICK_SECONDS", 2)
# Life cycle (bookings/domain/lifecycle.py): a failed adapter step is retried after
# base·2^(n-1) s (at most LEASE_RETRY_MAX_SECONDS), FAILED after LEASE_MAX_ATTEMPTS tries;
# a worker's claim on a step lapses LEASE_CLAIM_SECONDS after its last heartbeat.
LEASE_MAX_ATTEMPTS = env_int("LEASE_MAX_ATTEMPTS", 5)
LEASE_RETRY_BASE_SECONDS = env_int("LEASE_RETRY_BASE_SECONDS", 2)
LEASE_RETRY_MAX_SECONDS = env_int("LEASE_RETRY_MAX_SECONDS", 300)
LEASE_CLAIM_SECONDS = env_int("LEASE_CLAIM_SECONDS", 30)
ENGINE_STEP_SECONDS = env_int("ENGINE_STEP_SECONDS", 60)
# The planner reads the load from a per-process copy kept current by database triggers
# (bookings/domain/planning/cache.py); 0 reads it from the database on every offer set.
LOAD_CACHE = env_bool("LOAD_CACHE", True)

# --- Celery (scheduler/celery.py reads the CELERY_ namespace) ---
CELERY_BROKER_URL = REDIS_URL
# Results are kept only for the tasks a caller waits on (the capacity planner), briefly.
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = 600
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# The notices' sweep (notices/domain/deliveries.py): ending soon, routing, retries.
NOTICE_SWEEP_SECONDS = env_int("NOTICE_SWEEP_SECONDS", 2)
# Notices go to their own queue and worker: a slow webhook receiver delays no lease step.
CELERY_TASK_ROUTES = {"notices.tasks.*": {"queue": "notices"}}
CELERY_BEAT_SCHEDULE = {
    "lease-tick": {
        "task": "bookings.tasks.lease_tick",
        "schedule": float(LEASE_TICK_SECONDS),
        # Ticks queued while no worker ran are stale: the next fresh one does their work.
        "options": {"expires": float(LEASE_TICK_SECONDS)},
    },
    "notices-sweep": {
        "task": "notices.tasks.notices_sweep",
        "schedule": float(NOTICE_SWEEP_SECONDS),
        "options": {"expires": float(NOTICE_SWEEP_SECONDS)},
    },
}


# --- Cache (Redis: rate limits and idempotency keys) ---
def _next_redis_db(url: str) -> str:
    """The same Redis server, the next database number: the cache's `clear()` empties its
    whole database, and must not take the Celery queue with it."""
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{db + 1}"))


CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("REDIS_CACHE_URL") or _next_redis_db(REDIS_URL),
        # A Redis that does not answer is down: fail fast (callers answer 503), do not hang.
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}

# --- Django REST framework and the OpenAPI schema ---
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Token first: an anonymous caller then gets 401 with `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "bookings.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # limit/offset; bad values are 400 and a page is at most MAX_PAGE_SIZE (500) long
    "DEFAULT_PAGINATION_CLASS": "bookings.api.pagination.ProblemLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "bookings.api.exceptions.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["bookings.api.parsers.TextJSONParser"],
    # Offer-set creation runs the engine: the expensive call (DESIGN §7). Raise it for benchmarks.
    "DEFAULT_THROTTLE_RATES": {"offer_sets": os.environ.get("OFFER_SET_THROTTLE", "60/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "WhenCanIDoThis? API",
    "DESCRIPTION": "Ask when a job can run, hold ranked offers, and manage leases.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar wheel, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"PhaseEnum": "bookings.choices.Phase"},
}

# Quiet by default (the lease tick runs every few seconds); LOG_LEVEL=INFO for its lines.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "WARNING").upper()
if not isinstance(logging.getLevelName(LOG_LEVEL), int):
    raise ImproperlyConfigured(
        f"LOG_LEVEL={LOG_LEVEL!r} is not a level (DEBUG, INFO, WARNING, ERROR, CRITICAL)"
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# --- Policy limits on one request (bookings/domain/policy.py reads them at call time) ---
# ISO 8601 durations or seconds: a lease's longest length, how far ahead it may start, how far
# ahead a start window may reach and an extension may end.
BOOKING_MAX_DURATION = os.environ.get("BOOKING_MAX_DURATION", "P14D")
BOOKING_MAX_LEAD = os.environ.get("BOOKING_MAX_LEAD", "P90D")
BOOKING_MAX_END = os.environ.get("BOOKING_MAX_END", "P90D")
# Offers one user may hold at once (live, unaccepted).
OFFER_HOLDS_PER_USER = env_int("OFFER_HOLDS_PER_USER", 20)

# --- Fair share (projects/): the defaults of the policy limits (PolicyLimit rows in admin
# narrow them per site and project; projects/domain/policy.py reads them at call time) ---
# Per user: leases live at one instant, booked hours ahead of now (0: no limit).
POLICY_MAX_CONCURRENT_LEASES = env_int("POLICY_MAX_CONCURRENT_LEASES", 0)
POLICY_MAX_FUTURE_HOURS = env_int("POLICY_MAX_FUTURE_HOURS", 0)
# The longest single extension (ISO 8601 duration or seconds; empty: up to BOOKING_MAX_DURATION).
POLICY_MAX_EXTENSION = os.environ.get("POLICY_MAX_EXTENSION", "")
# Percent of a pool one project may hold at any instant.
POLICY_MAX_POOL_SHARE = env_int("POLICY_MAX_POOL_SHARE", 100)
# "HH:MM-HH:MM" in each site's time zone during which no lease holds resources (empty: none).
POLICY_QUIET_HOURS = os.environ.get("POLICY_QUIET_HOURS", "")
# A lease released early (or cancelled once preparing) pays for at least its first this many
# minutes; the rest of what it was charged is refunded.
BUDGET_MINIMUM_MINUTES = env_int("BUDGET_MINIMUM_MINUTES", 60)
# A project's owners are told (notice budget.warning) when an accept leaves less than this
# percent of its allocations.
BUDGET_WARNING_PERCENT = env_int("BUDGET_WARNING_PERCENT", 10)


# --- Notices (notices/): e-mail, webhooks, the sweep that delivers them ---
# Where links in notices point, and whose host names Message-IDs and iCal UIDs.
SITE_URL = os.environ.get("SITE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "WhenCanIDoThis? <notices@localhost>")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
# EMAIL_URL (smtp://user:password@host:port, smtp+tls://, smtp+ssl://) or the usual EMAIL_*;
# without either, `make run`'s embedded mail sink when it runs, else Django's localhost:25.
_email = parse_email_url(os.environ.get("EMAIL_URL") or _embedded.get("EMAIL_URL", ""))
EMAIL_BACKEND = _email.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = _email.get("EMAIL_HOST", os.environ.get("EMAIL_HOST", "localhost"))
EMAIL_PORT = _email.get("EMAIL_PORT", env_int("EMAIL_PORT", 25))
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", os.environ.get("EMAIL_HOST_USER", ""))
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", os.environ.get("EMAIL_HOST_PASSWORD", ""))
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", env_bool("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", env_bool("EMAIL_USE_SSL", False))
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
# Where `make run`'s mail sink writes each message (.eml), shown to staff at /dev/mail/.
MAIL_SINK_DIR = Path(os.environ.get("MAIL_SINK_DIR", DATA / "mail"))
# "Ending soon" this long before the end (ISO 8601 duration or seconds).
NOTICE_BEFORE_END = os.environ.get("NOTICE_BEFORE_END", "PT15M")
# A failed delivery is tried again after base·2^(n-1) s (at most the max), NOTICE_MAX_ATTEMPTS
# times in all; a worker that dies while sending loses its claim after NOTICE_CLAIM_SECONDS.
NOTICE_MAX_ATTEMPTS = env_int("NOTICE_MAX_ATTEMPTS", 8)
NOTICE_RETRY_BASE_SECONDS = env_int("NOTICE_RETRY_BASE_SECONDS", 10)
NOTICE_RETRY_MAX_SECONDS = env_int("NOTICE_RETRY_MAX_SECONDS", 3600)
NOTICE_CLAIM_SECONDS = env_int("NOTICE_CLAIM_SECONDS", 60)
# A webhook receiver has this long to answer; after WEBHOOK_DISABLE_AFTER failed attempts in a
# row its endpoint is disabled and its owner told.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5)
WEBHOOK_DISABLE_AFTER = env_int("WEBHOOK_DISABLE_AFTER", 15)
# Receivers on private, loopback or link-local addresses are refused unless this is set.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)

# Re-planning after a capacity change (resources.domain.capacity, scheduler.engine.replan):
# CP-SAT's time per objective stage and its workers (on the Celery worker, never in a
# request); how long a request waits for the worker's answer (then 503 + Retry-After); how
# long a displaced lease's owner has to choose a fresh offer (at most until its preparation).
REPLAN_STAGE_SECONDS = float(os.environ.get("REPLAN_STAGE_SECONDS", "3"))
REPLAN_WORKERS = env_int("REPLAN_WORKERS", 2)
REPLAN_WAIT_SECONDS = env_int("REPLAN_WAIT_SECONDS", 60)
REPLAN_DISPLACED_HOURS = env_int("REPLAN_DISPLACED_HOURS", 24)
# Tests and commands plan in their own process instead of asking the worker.
REPLAN_IN_PROCESS = env_bool("REPLAN_IN_PROCESS", False)
