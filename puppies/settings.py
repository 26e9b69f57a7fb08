"""Settings, all read here from the environment (12-factor, via django-environ).

Every knob an operator may turn is an environment variable named in the README.
Code elsewhere reads `django.conf.settings`, never `os.environ`.
"""

import ipaddress
import re
from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers as cors_default_headers
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# --- Signing keys -----------------------------------------------------------------
# SECRET_KEY signs sessions, upload links and cursors; JWT_SIGNING_KEY signs the API's
# tokens. Anyone holding a key can forge what it signs (an access token for user 1), so
# without DEBUG the process refuses to start unless both are set, long, distinct, and not
# one of the keys ever published in this repository. A settings-time error rather than a
# system check: gunicorn and Celery never run the checks. With DEBUG (`make run`, the
# tests) the dev keys below are used when none is set: they are public, and fine there.
KEY_MIN_LENGTH = 50
_DEV_SECRET_KEY = "django-insecure-dev-only-key-change-me-in-production-0123456789"  # noqa: S105  # nosec B105
_DEV_JWT_SIGNING_KEY = "django-insecure-dev-only-jwt-key-change-me-in-production-0123456789"
PUBLIC_KEYS = frozenset(
    {
        _DEV_SECRET_KEY,
        _DEV_JWT_SIGNING_KEY,
        "change-me-in-production-please-0123456789abcdef",  # docker-compose.yml, until 2026-11
    }
)


def _refuse_key(name: str, key: str) -> str | None:
    """Why `key` may not sign anything in production, or None if it may."""
    if not key:
        return f"{name} is not set"
    if key in PUBLIC_KEYS or key.startswith("django-insecure-"):
        return f"{name} is a key published in the repository"
    if len(key) < KEY_MIN_LENGTH or len(set(key)) < 5:
        return f"{name} is shorter than {KEY_MIN_LENGTH} characters (or too repetitive)"
    return None


def _signing_key(name: str, dev_default: str) -> str:
    key = env(name, default="")
    if DEBUG:
        return key or dev_default
    problem = _refuse_key(name, key)
    if problem:
        raise ImproperlyConfigured(
            f"{problem}: with DEBUG=false set it to a long random value, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
        )
    return key


SECRET_KEY = _signing_key("SECRET_KEY", _DEV_SECRET_KEY)
JWT_SIGNING_KEY = _signing_key("JWT_SIGNING_KEY", _DEV_JWT_SIGNING_KEY)
# Rotation: tokens signed with these earlier keys are still accepted until they expire
# (new ones are signed with JWT_SIGNING_KEY only); drop a key once JWT_REFRESH_DAYS passed.
JWT_VERIFYING_KEYS = env.list("JWT_VERIFYING_KEYS", default=[])
if not DEBUG:
    _problems = [_refuse_key("JWT_VERIFYING_KEYS entry", key) for key in JWT_VERIFYING_KEYS]
    _problems.append("JWT_SIGNING_KEY equals SECRET_KEY" if JWT_SIGNING_KEY == SECRET_KEY else None)
    if any(_problems):
        raise ImproperlyConfigured("; ".join(p for p in _problems if p) + ".")
# Every token names who issued it and for whom; one without both (or other ones) is refused.
JWT_ISSUER = env("JWT_ISSUER", default="puppies")
JWT_AUDIENCE = env("JWT_AUDIENCE", default="puppies-api")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "users",
    "posts",
    "interactions",
    "feed",
    "ingestion",
]

CORS_MIDDLEWARE = "corsheaders.middleware.CorsMiddleware"
MIDDLEWARE = [
    "puppies.middleware.RequestMetricsMiddleware",
    "puppies.request_id.RequestIdMiddleware",
    "puppies.ratelimit.GlobalRateLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Sessions, the session user and messages serve the admin only (puppies/middleware.py).
    "puppies.middleware.AdminSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "puppies.middleware.AdminAuthenticationMiddleware",
    "puppies.middleware.AdminMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# --- CORS: browser clients on other origins (django-cors-headers) -----------------
# None by default, and then the middleware is not installed at all (no cost per request).
# Placed before the rate limits, so that a 429 reaches the browser's script readable.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/v1/"
CORS_ALLOW_HEADERS = (*cors_default_headers, "idempotency-key", "x-request-id")
# What a script may read of a response besides the safelisted headers.
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "X-Feed-Degraded"]
CORS_PREFLIGHT_MAX_AGE = 3600
if CORS_ALLOWED_ORIGINS:
    INSTALLED_APPS.append("corsheaders")
    MIDDLEWARE.insert(
        MIDDLEWARE.index("puppies.ratelimit.GlobalRateLimitMiddleware"), CORS_MIDDLEWARE
    )

ROOT_URLCONF = "puppies.urls"
WSGI_APPLICATION = "puppies.wsgi.application"
ASGI_APPLICATION = "puppies.asgi.application"

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

# --- PostgreSQL -------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/puppies")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# Django's backend, with the per-request health check at most once a second per connection
# (puppies/postgresql/base.py).
DATABASES["default"]["ENGINE"] = "puppies.postgresql"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DB_HEALTH_CHECK_INTERVAL_S = env.float("DB_HEALTH_CHECK_INTERVAL_S", default=1.0)
DATABASES["default"]["OPTIONS"] = {"connect_timeout": env.int("DB_CONNECT_TIMEOUT", default=5)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A streaming read replica (puppies/db_router.py): GETs of feeds, posts, profiles and lists
# read from it, unless the caller wrote in the last READ_YOUR_WRITES_S or the replica is
# more than REPLICA_MAX_LAG_S behind (looked at every REPLICA_LAG_CHECK_S per process).
# Unset: no router, no middleware, every read on the primary.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
READ_YOUR_WRITES_S = env.int("READ_YOUR_WRITES_S", default=10)
REPLICA_MAX_LAG_S = env.float("REPLICA_MAX_LAG_S", default=5.0)
REPLICA_LAG_CHECK_S = env.float("REPLICA_LAG_CHECK_S", default=1.0)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **DATABASES["default"],
        **env.db_url_config(DATABASE_REPLICA_URL),
        "ENGINE": "puppies.postgresql",
        # Tests: the same database as default (pytest-django creates no second one).
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["puppies.db_router.ReplicaRouter"]
    # After the request id: it marks the requests whose reads may go to the replica.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("puppies.request_id.RequestIdMiddleware") + 1,
        "puppies.db_router.ReplicaReadsMiddleware",
    )
# PostgreSQL unreachable: what a refused request's Retry-After says (read-only mode).
DB_DOWN_RETRY_AFTER_S = env.int("DB_DOWN_RETRY_AFTER_S", default=5)
# Profiles are copied to Redis for read-only mode (users/profiles.py): a process stores
# an unchanged profile again at most this often; a copy unread this long is dropped.
PROFILE_CACHE_REFRESH_S = env.int("PROFILE_CACHE_REFRESH_S", default=300)
PROFILE_CACHE_TTL_S = env.int("PROFILE_CACHE_TTL_S", default=86_400)

# --- Redis: cache, rate limits, like buffer, Celery broker --------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Past this a Redis call of the hot paths gives up and the request falls back to PostgreSQL.
REDIS_TIMEOUT_S = env.float("REDIS_TIMEOUT_S", default=0.5)
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "puppies",
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 1,
            # A Redis outage degrades the cache to misses instead of 500s.
            "IGNORE_EXCEPTIONS": True,
        },
    }
}
# Rate-limit counters: the same Redis, but errors are raised, not ignored, so that
# puppies/ratelimit.py can tell "Redis is down" from "no count yet" (and fail open for
# the global limit, fall back to an in-process count for logins and registrations).
CACHES["ratelimit"] = {
    **CACHES["default"],
    "OPTIONS": {**CACHES["default"]["OPTIONS"], "IGNORE_EXCEPTIONS": False},
}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = "default"
# Every queue a task is routed to (the routes below): /metrics reports each one's length,
# and compose and deploy/k8s run one worker pool per queue (`media`: the upload checks).
WORKER_QUEUES = ("default", "fanout", "likes", "ingestion", "media")
CELERY_TASK_ROUTES: dict = {
    "feed.tasks.fan_out_post": {"queue": "fanout"},
}
CELERY_BEAT_SCHEDULE: dict = {
    "feed-relay-outbox": {
        "task": "feed.tasks.relay_outbox",
        "schedule": env.float("OUTBOX_RELAY_INTERVAL_S", default=10.0),
    },
    "feed-trim": {
        "task": "feed.tasks.trim_feeds",
        "schedule": env.float("FEED_TRIM_INTERVAL_S", default=60.0),
    },
    "feed-refresh-vips": {
        "task": "feed.tasks.refresh_vips",
        "schedule": env.float("VIP_REFRESH_INTERVAL_S", default=300.0),
    },
    "feed-mark-dormant": {
        "task": "feed.tasks.mark_dormant_feeds",
        "schedule": env.float("FEED_DORMANT_INTERVAL_S", default=3600.0),
    },
    "feed-refresh-popular": {
        "task": "feed.tasks.refresh_popular_posts",
        "schedule": env.float("FEED_POPULAR_CACHE_S", default=60.0),
    },
}

# The staff status page's history (puppies/ops.py): a sample of its figures a minute.
CELERY_BEAT_SCHEDULE["ops-sample"] = {
    "task": "puppies.sample_ops",
    "schedule": 60.0,
    "options": {"expires": 60.0},
}

# --- Home feed: hybrid push/pull fan-out ----------------------------------------
# Authors with at least this many followers are pulled at read time instead of pushed;
# they go back to push only below the exit threshold, so nobody flaps at the line.
VIP_FOLLOWER_THRESHOLD = env.int("VIP_FOLLOWER_THRESHOLD", default=10_000)
VIP_EXIT_FOLLOWER_THRESHOLD = env.int(
    "VIP_EXIT_FOLLOWER_THRESHOLD", default=VIP_FOLLOWER_THRESHOLD * 9 // 10
)
FEED_MAX_ENTRIES = env.int("FEED_MAX_ENTRIES", default=800)
FEED_INACTIVE_DAYS = env.int("FEED_INACTIVE_DAYS", default=30)
FEED_BACKFILL_POSTS = env.int("FEED_BACKFILL_POSTS", default=20)
# Fan-out: followers per INSERT ... SELECT (each its own transaction), at most CHUNK and,
# when a fan-out is split only to run at once, at least MIN_CHUNK (below that the bounds
# query and the hand-off cost more than the parallel insert saves); THREADS chunks
# written at once, each on its own connection (more than the database's cores is waste).
FEED_FANOUT_CHUNK = env.int("FEED_FANOUT_CHUNK", default=2_500)
FEED_FANOUT_MIN_CHUNK = env.int("FEED_FANOUT_MIN_CHUNK", default=750)
FEED_FANOUT_THREADS = env.int("FEED_FANOUT_THREADS", default=2)
FEED_TRIM_BATCH = env.int("FEED_TRIM_BATCH", default=2_000)
FEED_BREAKER_OPEN_S = env.int("FEED_BREAKER_OPEN_S", default=15)
# The first page of an active owner's feed is cached in Redis (feed/heads.py): this many
# posts, dropped by fan-out, follows and rebuilds, and expiring after this long unread.
FEED_HEAD_SIZE = env.int("FEED_HEAD_SIZE", default=50)
FEED_HEAD_TTL_S = env.int("FEED_HEAD_TTL_S", default=600)
FEED_POPULAR_CACHE_S = env.int("FEED_POPULAR_CACHE_S", default=60)
# An outbox event not processed this long after its last dispatch is dispatched again.
OUTBOX_REDISPATCH_AFTER_S = env.int("OUTBOX_REDISPATCH_AFTER_S", default=60)

# --- Hashtags: trending tags counted over this window, recounted this often at most ---
TRENDING_WINDOW_HOURS = env.int("TRENDING_WINDOW_HOURS", default=24)
TRENDING_CACHE_S = env.int("TRENDING_CACHE_S", default=60)

# --- Likes: buffered in Redis, drained to PostgreSQL in batches (interactions/like_buffer.py) ---
# Off (or Redis unreachable): likes are written straight to PostgreSQL.
LIKE_BUFFER_ENABLED = env.bool("LIKE_BUFFER_ENABLED", default=True)
LIKE_BUFFER_REDIS_URL = env("LIKE_BUFFER_REDIS_URL", default=REDIS_URL)
LIKE_BUFFER_REDIS_TIMEOUT_S = env.float("LIKE_BUFFER_REDIS_TIMEOUT_S", default=0.5)
LIKE_FLUSH_INTERVAL_S = env.float("LIKE_FLUSH_INTERVAL_S", default=2.0)
LIKE_FLUSH_BATCH_SIZE = env.int("LIKE_FLUSH_BATCH_SIZE", default=5_000)  # intents per transaction
LIKE_FLUSH_POSTS_PER_BATCH = env.int("LIKE_FLUSH_POSTS_PER_BATCH", default=500)
LIKE_FLUSH_MAX_SECONDS = env.float("LIKE_FLUSH_MAX_SECONDS", default=20.0)  # one drain's budget
# A killed drain holds the lock this long; the next one then finishes its in-flight batch.
LIKE_FLUSH_LOCK_TTL_S = env.float("LIKE_FLUSH_LOCK_TTL_S", default=60.0)
CELERY_TASK_ROUTES["interactions.tasks.drain_like_buffer"] = {"queue": "likes"}
CELERY_BEAT_SCHEDULE["likes-drain-buffer"] = {
    "task": "interactions.tasks.drain_like_buffer",
    "schedule": LIKE_FLUSH_INTERVAL_S,
    # A drain queued behind a stopped worker is useless once the next one is due.
    "options": {"expires": LIKE_FLUSH_INTERVAL_S * 5},
}

# --- Ingestion: imports from external JSON APIs (ingestion/) ---------------------
# Every request has this timeout (connect, read, write, pool), is retried this many times
# more on timeouts, connection errors, 429 and 5xx (exponential backoff with jitter,
# starting at BACKOFF_S and capped at BACKOFF_MAX_S; a Retry-After is honoured up to
# RETRY_AFTER_MAX_S), and its body may not exceed MAX_RESPONSE_BYTES.
INGEST_HTTP_TIMEOUT_S = env.float("INGEST_HTTP_TIMEOUT_S", default=10.0)
INGEST_HTTP_RETRIES = env.int("INGEST_HTTP_RETRIES", default=4)
INGEST_BACKOFF_S = env.float("INGEST_BACKOFF_S", default=0.5)
INGEST_BACKOFF_MAX_S = env.float("INGEST_BACKOFF_MAX_S", default=30.0)
INGEST_RETRY_AFTER_MAX_S = env.float("INGEST_RETRY_AFTER_MAX_S", default=60.0)
INGEST_MAX_RESPONSE_BYTES = env.int("INGEST_MAX_RESPONSE_BYTES", default=16 * 1024 * 1024)
# Requests in flight at once per run (pages fetched ahead, item details of a page).
INGEST_CONCURRENCY = env.int("INGEST_CONCURRENCY", default=4)
# Source URLs whose host resolves to a private, loopback or link-local address are
# refused (no importing from the internal network) unless this is set (tests, make run).
INGEST_ALLOW_PRIVATE = env.bool("INGEST_ALLOW_PRIVATE", default=False)
# A run with no progress for this long (its worker died) no longer holds the source: the
# next request takes over and resumes from the checkpoint.
INGEST_RUN_STALE_S = env.int("INGEST_RUN_STALE_S", default=600)
# This many failed pages in a row end a run as failed (the source is down or wrong).
INGEST_MAX_PAGE_FAILURES = env.int("INGEST_MAX_PAGE_FAILURES", default=3)
# Dead letters: retried with backoff from DEAD_LETTER_BACKOFF_S (doubling, with jitter),
# given up after MAX_ATTEMPTS attempts in all; beat looks for due ones this often.
INGEST_MAX_ATTEMPTS = env.int("INGEST_MAX_ATTEMPTS", default=5)
INGEST_DEAD_LETTER_BACKOFF_S = env.float("INGEST_DEAD_LETTER_BACKOFF_S", default=60.0)
INGEST_REPROCESS_INTERVAL_S = env.float("INGEST_REPROCESS_INTERVAL_S", default=60.0)
# Beat starts a run of each enabled source whose schedule (seconds) has elapsed.
INGEST_SCHEDULER_INTERVAL_S = env.float("INGEST_SCHEDULER_INTERVAL_S", default=60.0)
CELERY_TASK_ROUTES["ingestion.tasks.*"] = {"queue": "ingestion"}
CELERY_BEAT_SCHEDULE["ingestion-start-due-runs"] = {
    "task": "ingestion.tasks.start_due_runs",
    "schedule": INGEST_SCHEDULER_INTERVAL_S,
}
CELERY_BEAT_SCHEDULE["ingestion-reprocess-dead-letters"] = {
    "task": "ingestion.tasks.reprocess_dead_letters",
    "schedule": INGEST_REPROCESS_INTERVAL_S,
}

# --- Auth -------------------------------------------------------------------
AUTH_USER_MODEL = "users.User"
AUTHENTICATION_BACKENDS = ["users.auth.UsernameOrEmailBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# How often a user's activity is stamped at most (in Redis; beat writes the stamps to
# last_active_at every ACTIVITY_FLUSH_INTERVAL_S, so requests never write PostgreSQL).
LAST_ACTIVE_WRITE_INTERVAL = timedelta(seconds=env.int("LAST_ACTIVE_WRITE_INTERVAL_S", default=300))
CELERY_BEAT_SCHEDULE["users-flush-activity"] = {
    "task": "users.tasks.flush_activity",
    "schedule": env.float("ACTIVITY_FLUSH_INTERVAL_S", default=60.0),
}
# Redis mirrors token revocations (users/revocations.py); this reload re-syncs it.
CELERY_BEAT_SCHEDULE["users-reload-revocations"] = {
    "task": "users.tasks.reload_revocations",
    "schedule": env.float("REVOCATIONS_RELOAD_INTERVAL_S", default=60.0),
}
# Refresh tokens past their expiry, and revoked token families, are dropped this often.
CELERY_BEAT_SCHEDULE["users-flush-expired-tokens"] = {
    "task": "users.tasks.flush_expired_tokens",
    "schedule": env.float("TOKEN_FLUSH_INTERVAL_S", default=3600.0),
}

# --- Email (verification links) -------------------------------------------------
# EMAIL_URL as django-environ reads it: consolemail:// (default: mail is printed to the
# log), smtp+tls://user:password@host:587, ...
globals().update(
    env.email_url("EMAIL_URL", default="consolemail://")
)  # EMAIL_BACKEND, EMAIL_HOST, ...
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Puppies <no-reply@puppies.invalid>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT_S", default=10)
# Where a verification link points; {token} is replaced. Default: this API's own endpoint.
EMAIL_VERIFICATION_URL = env(
    "EMAIL_VERIFICATION_URL", default="http://127.0.0.1:8000/v1/auth/email/verify?token={token}"
)
EMAIL_VERIFICATION_TTL_S = env.int("EMAIL_VERIFICATION_TTL_S", default=48 * 3600)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    # Verified by users.auth.TokenBackend, which also accepts JWT_VERIFYING_KEYS.
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "ISSUER": JWT_ISSUER,
    "AUDIENCE": JWT_AUDIENCE,
    "AUTH_TOKEN_CLASSES": ("users.auth.AccessToken",),
    "AUTH_HEADER_TYPES": ("Bearer",),
}

# --- REST framework and the API contract --------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["users.auth.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PARSER_CLASSES": ["puppies.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["puppies.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "puppies.pagination.KeysetPagination",
    "EXCEPTION_HANDLER": "puppies.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
PAGE_DEFAULT_LIMIT = env.int("PAGE_DEFAULT_LIMIT", default=20)
PAGE_MAX_LIMIT = env.int("PAGE_MAX_LIMIT", default=100)

SPECTACULAR_SETTINGS = {
    "TITLE": "Puppies API",
    "DESCRIPTION": "The /v1 REST API of Puppies. Errors are always "
    '`{"error": {"code", "message", "fields"?}}`; lists are cursor-paginated.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Post and CreatedPost share the post status choices; name them (and a run's) once.
    "ENUM_NAME_OVERRIDES": {
        "PostStatusEnum": "posts.models.Post.Status",
        "IngestionRunStatusEnum": "ingestion.models.IngestionRun.Status",
    },
    "SCHEMA_PATH_PREFIX": r"/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "puppies.schema.add_error_responses",
    ],
}

# --- Limits from the API contract ---------------------------------------------
USERNAME_MIN_LENGTH = 3
USERNAME_MAX_LENGTH = 30
BIO_MAX_LENGTH = env.int("BIO_MAX_LENGTH", default=300)
POST_MAX_LENGTH = env.int("POST_MAX_LENGTH", default=2000)
COMMENT_MAX_LENGTH = env.int("COMMENT_MAX_LENGTH", default=1000)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("REQUEST_BODY_MAX_BYTES", default=1024 * 1024)

# --- Internationalization, static -------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Admin and Swagger UI/Redoc assets are served by the app itself: no CDN, no internet.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Media (post images, avatars; posts/media/) ------------------------------------
# Every file goes through `default_storage`. MEDIA_STORAGE=local keeps files under
# MEDIA_ROOT and takes uploads at a signed endpoint of the API (SERVE_MEDIA lets `make run`
# serve them); MEDIA_STORAGE=s3 keeps them in an S3-compatible bucket (django-storages),
# where clients upload with a presigned POST and then call .../media/complete.
MEDIA_STORAGE = env("MEDIA_STORAGE", default="local")
if MEDIA_STORAGE not in ("local", "s3"):
    raise ImproperlyConfigured(f"MEDIA_STORAGE={MEDIA_STORAGE!r}: expected local or s3.")
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = env("MEDIA_URL", default="/media/")
MEDIA_MAX_BYTES = env.int("MEDIA_MAX_BYTES", default=10 * 1024 * 1024)
MEDIA_MAX_PIXELS = env.int("MEDIA_MAX_PIXELS", default=40_000_000)  # 40 MP: any phone photo
MEDIA_UPLOAD_TTL_S = env.int("MEDIA_UPLOAD_TTL_S", default=900)  # an upload link's life
# One image's check in a worker may take this long; then the file is refused.
MEDIA_CHECK_TIME_LIMIT_S = env.int("MEDIA_CHECK_TIME_LIMIT_S", default=60)
# A post whose file has not arrived this long after its link was made is deleted (beat).
MEDIA_PENDING_TTL_S = env.int("MEDIA_PENDING_TTL_S", default=3600)
if MEDIA_PENDING_TTL_S <= MEDIA_UPLOAD_TTL_S:
    raise ImproperlyConfigured("MEDIA_PENDING_TTL_S must be longer than MEDIA_UPLOAD_TTL_S.")
# A deleted post's files stay (unserved) this long before they are removed for good.
MEDIA_DELETE_GRACE_S = env.int("MEDIA_DELETE_GRACE_S", default=3 * 86_400)
# `manage.py media_gc` leaves files younger than this alone (an upload may be in flight).
MEDIA_GC_MIN_AGE_S = env.int("MEDIA_GC_MIN_AGE_S", default=86_400)
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=True)
if MEDIA_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("MEDIA_S3_BUCKET"),
            "endpoint_url": env("MEDIA_S3_ENDPOINT_URL", default=None),
            "region_name": env("MEDIA_S3_REGION", default=None),
            "access_key": env("MEDIA_S3_ACCESS_KEY_ID", default=None),
            "secret_key": env("MEDIA_S3_SECRET_ACCESS_KEY", default=None),
            # Files are read through this public origin (a CDN, or the bucket's website);
            # the bucket serves only posts/ and avatars/ publicly (docs/media.md).
            "custom_domain": env("MEDIA_S3_PUBLIC_DOMAIN", default=None),
            "url_protocol": env("MEDIA_S3_PUBLIC_PROTOCOL", default="https:"),
            "querystring_auth": False,
            "file_overwrite": False,
        },
    }
# Image checks decode untrusted files: their own queue, so a pool can be sized for them.
CELERY_TASK_ROUTES["posts.tasks.*"] = {"queue": "media"}
CELERY_BEAT_SCHEDULE["posts-media-cleanup"] = {
    "task": "posts.tasks.clean_up_media",
    "schedule": env.float("MEDIA_CLEANUP_INTERVAL_S", default=300.0),
}

# --- Proxy and security -------------------------------------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
# Opt-in: `make run` serves plain http://127.0.0.1; in production the TLS proxy or this redirects.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
# Browsers ignore HSTS on plain http, so the secure default costs local runs nothing.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Rate limits (django-ratelimit on the Redis cache; see puppies/ratelimit.py) ---
_RATE_RE = r"^\d+/\d*[smhd]$"


def _rate(name: str, default: str) -> str:
    rate = env(name, default=default)
    if not re.match(_RATE_RE, rate):
        raise ImproperlyConfigured(f'{name}={rate!r}: expected a rate like "10/m" or "20/h".')
    return rate


RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_USE_CACHE = "ratelimit"
# Redis down: the global and per-feature limits serve without limits rather than refuse
# everyone; login and registration limits count in-process instead (puppies/ratelimit.py).
RATELIMIT_FAIL_OPEN = True
RATELIMIT_GLOBAL = _rate("RATELIMIT_GLOBAL", "1000/m")  # per client IP, every request
RATELIMIT_POST_CREATE = _rate("RATELIMIT_POST_CREATE", "10/m")  # per user
# Failed logins per account, however it was named (username in any case, or its email),
# for the API and the admin alike; reaching it locks the account's logins for the lockout.
RATELIMIT_LOGIN_FAILED = _rate("RATELIMIT_LOGIN_FAILED", "10/m")
RATELIMIT_LOGIN_LOCKOUT_S = env.int("RATELIMIT_LOGIN_LOCKOUT_S", default=300)
RATELIMIT_LOGIN = _rate("RATELIMIT_LOGIN", "100/m")  # login attempts per client IP
RATELIMIT_REGISTER = _rate("RATELIMIT_REGISTER", "20/h")  # registrations per client IP
# Per user unless said: roomy for a person at their busiest, tight for a script.
RATELIMIT_LIKE = _rate("RATELIMIT_LIKE", "120/m")  # likes and unlikes
RATELIMIT_COMMENT = _rate("RATELIMIT_COMMENT", "20/m")  # comments written
RATELIMIT_POST_EDIT = _rate("RATELIMIT_POST_EDIT", "30/m")  # edits of posts
RATELIMIT_FOLLOW = _rate("RATELIMIT_FOLLOW", "200/h")  # follows and unfollows
RATELIMIT_REPORT = _rate("RATELIMIT_REPORT", "20/h")  # reports filed
RATELIMIT_REPOST = _rate("RATELIMIT_REPOST", "60/m")  # reposts and unreposts (each fans out)
RATELIMIT_PASSWORD_CHANGE = _rate("RATELIMIT_PASSWORD_CHANGE", "5/h")  # password changes tried
RATELIMIT_TOKEN_REFRESH = _rate("RATELIMIT_TOKEN_REFRESH", "60/m")  # per client IP
RATELIMIT_LOGOUT = _rate("RATELIMIT_LOGOUT", "60/m")  # per client IP
RATELIMIT_SEARCH = _rate("RATELIMIT_SEARCH", "60/m")  # post and user searches, per client IP
RATELIMIT_REGISTER_EMAIL = _rate("RATELIMIT_REGISTER_EMAIL", "3/h")  # registrations per address
RATELIMIT_VERIFICATION_EMAIL = _rate("RATELIMIT_VERIFICATION_EMAIL", "3/h")  # new links, per user
RATELIMIT_EMAIL_VERIFY = _rate("RATELIMIT_EMAIL_VERIFY", "30/m")  # links followed, per client IP
# Behind a proxy the client address comes from this header only (e.g. X-Forwarded-For),
# taking the entry TRUSTED_PROXY_DEPTH hops from the right, i.e. the one our own proxies
# appended; unset means REMOTE_ADDR (a client-sent header is never believed by default).
_ip_header = env("CLIENT_IP_HEADER", default="")
RATELIMIT_CLIENT_IP_HEADER = "HTTP_" + _ip_header.upper().replace("-", "_") if _ip_header else ""
RATELIMIT_TRUSTED_PROXY_DEPTH = env.int("TRUSTED_PROXY_DEPTH", default=1)
RATELIMIT_IP_META_KEY = "puppies.ratelimit.client_ip"

# --- Monitoring: who may read /metrics and /readyz's details ----------------------
# A scrape runs a COUNT and Redis scans and shows internal traffic, so /metrics answers
# only the monitoring system: the bearer METRICS_TOKEN, or a client address (as the rate
# limits see it, CLIENT_IP_HEADER included) in METRICS_ALLOWED_NETWORKS. Neither set: 403
# for everyone. /readyz answers everyone 200/503 but names what is down only to them.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_NETWORKS: {_network!r} is not a network like 10.0.0.0/8."
        ) from None
if METRICS_TOKEN and not DEBUG and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN is shorter than 32 characters.")

# --- Logging: one JSON object per line, with the request id -------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "puppies.request_id.RequestIdLogFilter"},
        # trace_id / span_id of the current span (puppies/tracing.py; null with tracing off).
        "trace": {"()": "puppies.tracing.TraceLogFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s"
            " %(span_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "trace"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # httpx logs every request at INFO: an import makes thousands.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}
