"""Settings for the medical-security back office (医保经办后台).

Everything that differs between a laptop and production comes from environment variables;
the defaults are the embedded ones (an SQLite file and a file-system Celery broker under
``var/``), so that a fresh clone runs with no server installed.
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("YIBAO_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
_DEV_SECRET = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"
SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET)
if not DEBUG and SECRET_KEY == _DEV_SECRET and env_bool("YIBAO_PRODUCTION", False):
    raise ImproperlyConfigured("SECRET_KEY must be set in production (YIBAO_PRODUCTION=1).")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "simple_history",
    "axes",
    "django_celery_beat",
    "yibao_site",
    "members",
    "chronic",
    "claims",
    "assistance",
    "assistance.early_warning",
    "procurement",
    "payments",
    "config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body or the query: size, NUL and control characters.
    "yibao_site.guards.RequestGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # AxesMiddleware last: it turns a lockout into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "yibao_site.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/agent/"
# Signing out (agent pages and admin alike) lands on our own login page, in the user's language.
LOGOUT_REDIRECT_URL = "/accounts/login/?logged_out=1"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'yibao.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the web process, the worker and beat share the embedded database.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
         "transaction_mode": "IMMEDIATE"}
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# Past one machine (README): a streaming-replication standby for the published reports.  Only
# reads inside yibao_site.replica.reporting() go there, never inside a transaction on the primary.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"], conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")))
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["yibao_site.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login lockout (django-axes): 5 failures per username+IP lock for an hour.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "1"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # never log usernames or addresses at INFO

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("YIBAO_PRODUCTION", False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"  # never served directly: materials go through a scoped view
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 20000
# Hostile-input bounds (yibao_site/guards.py): any API body, a JSON body, JSON nesting.
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(20 * 1024 * 1024)))
API_JSON_MAX_BYTES = int(os.environ.get("API_JSON_MAX_BYTES", str(2 * 1024 * 1024)))
API_JSON_MAX_DEPTH = 20
# Imports (yibao_site/imports.py): checked before a file is parsed.
IMPORT_MAX_BYTES = int(os.environ.get("IMPORT_MAX_BYTES", str(100 * 1024 * 1024)))
IMPORT_MAX_UNCOMPRESSED_BYTES = int(os.environ.get("IMPORT_MAX_UNCOMPRESSED_BYTES", str(1024 * 1024 * 1024)))
IMPORT_MAX_COMPRESSION_RATIO = 100  # a real XLSX packs 5–30×; a zip bomb hundreds of times
IMPORT_MAX_ROWS = int(os.environ.get("IMPORT_MAX_ROWS", "1000000"))
IMPORT_MAX_COLUMNS = 100
# Admin imports of more rows than this run in the background with a progress bar (import_jobs.py).
IMPORT_BACKGROUND_ROWS = int(os.environ.get("IMPORT_BACKGROUND_ROWS", "1000"))
# The nightly ledger check cuts a year into shards of this many ledgers, one task each, so that
# a city's year (3 M ledgers → 60 tasks) spreads over every worker serving the claims queue.
LEDGER_CHECK_SHARD_SIZE = int(os.environ.get("LEDGER_CHECK_SHARD_SIZE", "50000"))

# Security: strict by default outside DEBUG; `manage.py check --deploy` is clean in production.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(8 * 3600)))
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if env_bool("YIBAO_PRODUCTION", False):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# REST API (API.md)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: a bad or revoked token answers 401 with WWW-Authenticate.
        "yibao_site.authentication.TokenAuthentication",  # DRF's, the token read without the ORM's compile
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["yibao_site.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "yibao_site.api_base.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "yibao_site.api_base.FilterBackend",  # django-filter's, the form class built once
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PARSER_CLASSES": ["yibao_site.guards.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "yibao_site.api_base.exception_handler",
    "NON_FIELD_ERRORS_KEY": "detail",
    "COERCE_DECIMAL_TO_STRING": True,
    "DATE_FORMAT": "%Y-%m-%d",
    "DEFAULT_THROTTLE_RATES": {},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "医保经办后台 API",
    "DESCRIPTION": "Medical-security back office public interface (v1). See shared/API.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The error answers (400/401/403/404/413/415) and their shapes, on every operation.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "yibao_site.openapi.document_error_responses"],
    # One schema name per choice set (several models have a "status", "kind" or "source").
    "ENUM_NAME_OVERRIDES": {
        "ClaimStatusEnum": "claims.models.ClaimStatus",
        "ClaimSourceEnum": "claims.models.ClaimSource",
        "VisitTypeEnum": "claims.models.VisitType",
        "FundEntryKindEnum": "claims.models.FundEntryKind",
        "DeliveryStatusEnum": "procurement.models.DeliveryStatus",
        "PaymentRunStatusEnum": "procurement.models.RunStatus",
        "ProductKindEnum": "procurement.models.ProductKind",
        "DepartmentEnum": "assistance.early_warning.models.Department",
        "WarningKindEnum": "assistance.early_warning.models.WarningKind",
        "WarningStatusEnum": "assistance.early_warning.models.WarningStatus",
        "PushDeliveryStatusEnum": "assistance.early_warning.models.DeliveryStatus",
        # members.EntitlementKind has the same three values: one component for both.
        "ApplicationKindEnum": "assistance.models.ApplicationKind",
        "ApplicationStatusEnum": "assistance.models.ApplicationStatus",
        "MaterialTypeEnum": "assistance.models.MaterialType",
        "EmployeeStatusEnum": "members.models.EmployeeStatus",
        "IdentityKindEnum": "members.models.IdentityKind",
        "IdentitySourceEnum": "members.models.IdentitySource",
        "AccountEntryKindEnum": "members.models.EntryKind",
        "OffsiteKindEnum": "members.models.OffsiteKind",
        "SubsidyBatchStatusEnum": "members.models.BatchStatus",
        "CertificationStatusEnum": "chronic.models.CertificationStatus",
        "CertificationChannelEnum": "chronic.models.CertificationChannel",
        "CertificationMaterialTypeEnum": "chronic.models.CertificationMaterialType",
        "PaymentPurposeEnum": "payments.models.Purpose",
        "PaymentBatchStatusEnum": "payments.models.BatchStatus",
        "InstructionStatusEnum": "payments.models.InstructionStatus",
        "PayeeKindEnum": "payments.models.PayeeKind",
        "BankFileFormatEnum": "payments.models.FileFormat",
        "BankResultOutcomeEnum": "payments.models.ResultOutcome",
        "BankResultChannelEnum": "payments.models.ResultChannel",
        "CorrectionStatusEnum": "payments.models.CorrectionStatus",
    },
}

# Celery: embedded file-system broker by default; Redis or RabbitMQ via CELERY_BROKER_URL.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
_broker_dir = VAR_DIR / "celery-broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
# A task whose worker died (kill -9, lost machine) is delivered again once the broker's
# visibility timeout passes; Redis's default is an hour.  Longer than any run takes between
# acknowledgements would be wrong, but every task here is idempotent and the payment run is
# serialised by its lock, so an early redelivery only waits, it never pays twice.
CELERY_VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "600"))
if CELERY_BROKER_URL.startswith(("redis://", "rediss://", "redis+socket://", "sqs://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
# A run left ``running`` without its PostgreSQL lock is stale at once; elsewhere after this.
JOBS_STALE_AFTER_SECONDS = int(os.environ.get("JOBS_STALE_AFTER_SECONDS", "1800"))
# Watchdog ticks (django-celery-beat copies these into its table when beat starts).
CELERY_BEAT_SCHEDULE = {
    "procurement.resume_stale_runs": {"task": "procurement.resume_stale_runs", "schedule": 300.0},
    "early_warning.resume_missed_runs": {"task": "early_warning.resume_missed_runs", "schedule": 600.0},
    "yibao_site.import_jobs_fail_stale": {"task": "yibao_site.import_jobs_fail_stale", "schedule": 300.0},
}
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Keep Django's LOGGING in the worker: hijacking empties the "celery" logger's handlers, and
# with propagate=False (below) the worker's own lines, "ready." included, went nowhere.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Past one machine (README): CELERY_QUEUES_BY_KIND=1 sends each job kind to its own queue, so
# workers on different machines take different kinds (`celery worker -Q claims`, `-Q warning`…).
# Off by default: one worker without -Q then serves everything.
TASK_QUEUES_BY_KIND = {
    "claims.*": {"queue": "claims"},
    "members.*": {"queue": "members"},
    "early_warning.*": {"queue": "warning"},
    "assistance.*": {"queue": "assistance"},
    "procurement.*": {"queue": "procurement"},
    "payments.*": {"queue": "payments"},
    "chronic.*": {"queue": "assistance"},
    "yibao_site.import_job*": {"queue": "imports"},
}
if env_bool("CELERY_QUEUES_BY_KIND", False):
    CELERY_TASK_ROUTES = TASK_QUEUES_BY_KIND

# Outgoing pushes to partner departments (HMAC-signed JSON).
PUSH_TIMEOUT_SECONDS = float(os.environ.get("PUSH_TIMEOUT_SECONDS", "10"))

# Logging: personal data (resident ID numbers, phone numbers) is masked in every record.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_pii": {"()": "yibao_site.logging.MaskPersonalDataFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["mask_pii"], "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # runserver's access log: URLs carry ID numbers (persons/{id_number}/), so mask them too.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "celery": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "axes": {"level": "WARNING"},
    },
}

# The admin theme (django-unfold).
UNFOLD = {
    "SITE_TITLE": _("医保经办后台"),
    "SITE_HEADER": _("医保经办后台"),
    "SITE_SYMBOL": "health_and_safety",
    "SITE_FAVICONS": [{"rel": "icon", "type": "image/svg+xml", "href": "/static/yibao/favicon.svg"}],
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "DASHBOARD_CALLBACK": "yibao_site.dashboard.dashboard_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": "yibao_site.navigation.navigation",
    },
    "COLORS": {
        "primary": {
            "50": "239 246 255", "100": "219 234 254", "200": "191 219 254", "300": "147 197 253",
            "400": "96 165 250", "500": "59 130 246", "600": "37 99 235", "700": "29 78 216",
            "800": "30 64 175", "900": "30 58 138", "950": "23 37 84",
        },
    },
}

IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = True
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
