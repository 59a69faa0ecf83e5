"""One typed settings object, read once from the environment.

Business code never reads ``os.environ``: it is handed a ``Settings``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production-0000"  # noqa: S105
MIN_SECRET_BYTES = 32
DEFAULT_DATABASE_URL = "sqlite://var/hub.sqlite3"
# example grievances for the CPGRAMS taxonomy's departments (routing_rules.overlays)
CPGRAMS_EXAMPLES = (
    Path(__file__).resolve().parents[1] / "routing_rules" / "overlays" / "cpgrams_examples.yaml"
)


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable and the value."""


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"Config '{name}' has value '{raw}'. Not a valid bool.")


def _int(name: str, raw: str, *, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"Config '{name}' has value '{raw}'. Not a valid integer.") from None
    if not low <= value <= high:
        raise SettingsError(f"Config '{name}' has value '{raw}'. Must be between {low} and {high}.")
    return value


def _fraction(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise SettingsError(f"Config '{name}' has value '{raw}'. Must be a number from 0 to 1.")
    return value


def _choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise SettingsError(
            f"Config '{name}' has value '{raw}'. Must be one of: {', '.join(choices)}."
        )
    return raw


def _database_url(name: str, raw: str) -> str:
    scheme = urlsplit(raw).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "asyncpg"}:
        raise SettingsError(
            f"Config '{name}' has value '{_redact_url(raw)}'. "
            "Must be a sqlite://PATH or postgres://USER@HOST:PORT/DB URL."
        )
    return raw


def _redis_url(name: str, raw: str) -> str | None:
    if not raw:
        return None
    if urlsplit(raw).scheme not in {"redis", "rediss"}:
        raise SettingsError(
            f"Config '{name}' has value '{_redact_url(raw)}'. Must be a redis://HOST:PORT/DB URL."
        )
    return raw


def _folder(name: str, raw: str) -> Path | None:
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise SettingsError(f"Config '{name}' has value '{raw}'. Must be an existing folder.")
    return path


def _examples_file(name: str, raw: str) -> Path | None:
    if raw.strip().lower() == "none":
        return None
    if not raw.strip():
        return CPGRAMS_EXAMPLES  # set but empty: as if unset
    path = Path(raw).expanduser().resolve()
    if not path.is_file():
        raise SettingsError(
            f"Config '{name}' has value '{raw}'. Must be an existing file, or 'none'."
        )
    return path


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


@dataclass(frozen=True)
class Settings:
    env: Literal["dev", "production"] = "dev"
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    secret_key: str = DEV_SECRET_KEY
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    log_format: Literal["json", "text"] = "json"
    state_code: str = "KA"
    registration_format: str = "{state}-{dept}-{year}-{seq:07d}"
    sms_sink: Literal["console", "http"] = "console"
    allow_sqlite_in_production: bool = False
    max_body_bytes: int = 1_048_576
    outbox_poll_seconds: int = 2
    outbox_max_attempts: int = 8
    outbox_backoff_cap_seconds: int = 900
    outbox_batch_size: int = 100
    connectors: tuple[str, ...] = ("log",)
    db_pool_size: int = 10
    routing_auto_threshold: float = 0.7
    routing_rebuild_hours: int = 24
    routing_history_limit: int = 20000
    lexicon_dir: Path | None = None
    routing_examples: Path | None = CPGRAMS_EXAMPLES
    # the lifecycle
    default_sla_days: int = 30
    working_day_sla: bool = True
    reopen_window_days: int = 15
    auto_close_days: int = 7
    appeal_window_days: int = 30
    appeal_rating_max: int = 2
    transfer_hop_limit: int = 3
    closure_reasons_file: str = ""
    escalation_poll_seconds: int = 300
    summary_hour: int = 8
    # notifications
    sms_gateway_url: str = ""
    sms_gateway_key: str = ""
    sms_sender_id: str = "GRVHUB"
    email_sink: Literal["console", "smtp"] = "console"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    email_from: str = "grievance-hub@localhost"
    # attachments
    storage: Literal["local", "s3"] = "local"
    storage_dir: str = "var/attachments"
    s3_endpoint: str = ""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    max_attachment_bytes: int = 5_242_880
    max_attachments: int = 5
    download_url_seconds: int = 300
    public_url: str = "http://127.0.0.1:8000"
    # sign-in and tokens
    token_algorithm: Literal["HS256", "RS256", "ES256"] = "HS256"  # noqa: S105
    token_private_key_file: str = ""
    token_public_key_file: str = ""
    token_issuer: str = "grievance-hub"  # noqa: S105
    token_audience: str = "grievance-hub"  # noqa: S105
    access_token_seconds: int = 900
    refresh_token_days: int = 30
    otp_seconds: int = 300
    otp_max_attempts: int = 5
    otp_resend_seconds: int = 30
    otp_burst_max: int = 3
    otp_burst_minutes: int = 10
    otp_daily_per_number: int = 10
    otp_daily_per_ip: int = 100
    otp_daily_global: int = 200_000
    staff_password_required: bool = False
    client_secret_grace_hours: int = 24
    # GraphQL hardening
    max_query_depth: int = 12
    max_aliases: int = 20
    max_query_tokens: int = 3000
    cors_origins: tuple[str, ...] = ()
    ws_origins: tuple[str, ...] = ()
    rate_limit_per_ip: int = 600
    rate_limit_per_actor: int = 300
    forwarded_allow_ips: tuple[str, ...] = ()

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def dev_auth_enabled(self) -> bool:
        """The ``X-Hub-Dev-User`` header: a dev convenience until real login exists."""
        return not self.is_production

    @property
    def graphiql_enabled(self) -> bool:
        return not self.is_production

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def database_url_redacted(self) -> str:
        return _redact_url(self.database_url)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class _Var:
    env: str
    attr: str
    parse: Callable[[str, str], Any]
    doc: str
    default_text: str = ""


def _tuple(name: str, raw: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if not items:
        raise SettingsError(f"Config '{name}' has value '{raw}'. Must list at least one name.")
    return items


VARIABLES: tuple[_Var, ...] = (
    _Var(
        "HUB_ENV",
        "env",
        lambda n, v: _choice(n, v, ("dev", "production")),
        "`dev` or `production`. Production refuses unsafe defaults and turns off GraphiQL "
        "and the dev actor header.",
    ),
    _Var(
        "HUB_DATABASE_URL",
        "database_url",
        _database_url,
        "`sqlite://PATH` (embedded) or `postgres://USER[:PASS]@HOST:PORT/DB`.",
    ),
    _Var(
        "HUB_REDIS_URL",
        "redis_url",
        _redis_url,
        "Unset: jobs run in-process. Set (`redis://HOST:PORT/DB`): jobs go to arq workers.",
    ),
    _Var(
        "HUB_SECRET_KEY",
        "secret_key",
        lambda n, v: v,
        f"Signing key; at least {MIN_SECRET_BYTES} bytes. The dev default is refused in "
        "production.",
        "a dev-only key",
    ),
    _Var("HUB_HOST", "host", lambda n, v: v, "Address `hub serve` binds."),
    _Var("HUB_PORT", "port", lambda n, v: _int(n, v, low=1, high=65535), "Port `hub serve` binds."),
    _Var(
        "HUB_LOG_LEVEL",
        "log_level",
        lambda n, v: _choice(n, v.lower(), ("debug", "info", "warning", "error")),
        "`debug`, `info`, `warning` or `error`.",
    ),
    _Var(
        "HUB_LOG_FORMAT",
        "log_format",
        lambda n, v: _choice(n, v, ("json", "text")),
        "`json` (one object per line) or `text`.",
    ),
    _Var(
        "HUB_STATE_CODE",
        "state_code",
        lambda n, v: _state_code(n, v),
        "State code that starts every registration number, e.g. `KA`.",
    ),
    _Var(
        "HUB_REGISTRATION_FORMAT",
        "registration_format",
        lambda n, v: _reg_format(n, v),
        "Registration number pattern: `{state}`, `{dept}`, `{year}` and `{seq}` (required).",
    ),
    _Var(
        "HUB_SMS_SINK",
        "sms_sink",
        lambda n, v: _choice(n, v, ("console", "http")),
        "`console` prints messages (dev only); `http` sends through the SMS gateway.",
    ),
    _Var(
        "HUB_ALLOW_SQLITE_IN_PRODUCTION",
        "allow_sqlite_in_production",
        _bool,
        "Let production mode run on SQLite (a single-machine pilot).",
    ),
    _Var(
        "HUB_MAX_BODY_BYTES",
        "max_body_bytes",
        lambda n, v: _int(n, v, low=1024, high=100 * 1_048_576),
        "Largest request body accepted, in bytes.",
    ),
    _Var(
        "HUB_OUTBOX_POLL_SECONDS",
        "outbox_poll_seconds",
        lambda n, v: _int(n, v, low=1, high=3600),
        "How often the outbox relay looks for due messages.",
    ),
    _Var(
        "HUB_OUTBOX_MAX_ATTEMPTS",
        "outbox_max_attempts",
        lambda n, v: _int(n, v, low=1, high=100),
        "Delivery attempts before a message is DEAD.",
    ),
    _Var(
        "HUB_OUTBOX_BACKOFF_CAP_SECONDS",
        "outbox_backoff_cap_seconds",
        lambda n, v: _int(n, v, low=1, high=86400),
        "Longest wait between two delivery attempts.",
    ),
    _Var(
        "HUB_OUTBOX_BATCH_SIZE",
        "outbox_batch_size",
        lambda n, v: _int(n, v, low=1, high=10000),
        "Messages one relay pass claims.",
    ),
    _Var(
        "HUB_CONNECTORS",
        "connectors",
        _tuple,
        "Comma-separated connectors every grievance event is sent to.",
    ),
    _Var(
        "HUB_DB_POOL_SIZE",
        "db_pool_size",
        lambda n, v: _int(n, v, low=1, high=500),
        "Largest PostgreSQL connection pool per process.",
    ),
    _Var(
        "HUB_ROUTING_AUTO_THRESHOLD",
        "routing_auto_threshold",
        _fraction,
        "Confidence (0-1) above which a grievance without a category is routed without a GRO;"
        " below it, it waits in the triage queue. 1 sends every one to triage.",
    ),
    _Var(
        "HUB_ROUTING_REBUILD_HOURS",
        "routing_rebuild_hours",
        lambda n, v: _int(n, v, low=0, high=24),
        "Hours (1-24) between rebuilds of the routing model from routed grievances;"
        " 0: on demand only.",
    ),
    _Var(
        "HUB_ROUTING_HISTORY_LIMIT",
        "routing_history_limit",
        lambda n, v: _int(n, v, low=10, high=1_000_000),
        "Most recent routed grievances the routing model learns from.",
    ),
    _Var(
        "HUB_ROUTING_EXAMPLES",
        "routing_examples",
        _examples_file,
        "Seed examples the routing model learns from beside history (YAML: department code"
        " to example grievances; those of departments the taxonomy lacks are skipped). The"
        " default is the shipped file for the CPGRAMS taxonomy; 'none' for none. A model is"
        " trained once there are 10 routed grievances.",
        default_text="the shipped CPGRAMS file",
    ),
    _Var(
        "HUB_LEXICON_DIR",
        "lexicon_dir",
        _folder,
        "A folder of this deployment's own lexicons (`*.yaml`, as in `routing_rules/lexicon/`),"
        " read with the shipped ones. A change is read by running processes within seconds;"
        " one with problems is logged and the lists in use stay.",
    ),
    _Var(
        "HUB_DEFAULT_SLA_DAYS",
        "default_sla_days",
        lambda n, v: _int(n, v, low=1, high=365),
        "SLA for a grievance whose category sets none, or that waits in triage.",
    ),
    _Var(
        "HUB_WORKING_DAY_SLA",
        "working_day_sla",
        _bool,
        "Count SLA days as working days of the state's calendar (hub/calendars/STATE.yaml).",
    ),
    _Var(
        "HUB_REOPEN_WINDOW_DAYS",
        "reopen_window_days",
        lambda n, v: _int(n, v, low=0, high=365),
        "Days after a resolution or rejection in which the citizen may reopen.",
    ),
    _Var(
        "HUB_AUTO_CLOSE_DAYS",
        "auto_close_days",
        lambda n, v: _int(n, v, low=1, high=365),
        "Days after a resolution or rejection before an unrated grievance closes itself.",
    ),
    _Var(
        "HUB_APPEAL_WINDOW_DAYS",
        "appeal_window_days",
        lambda n, v: _int(n, v, low=0, high=365),
        "Days after closing in which a citizen who rated poorly may appeal.",
    ),
    _Var(
        "HUB_APPEAL_RATING_MAX",
        "appeal_rating_max",
        lambda n, v: _int(n, v, low=1, high=5),
        "Highest rating (1-5) that counts as poor and allows an appeal.",
    ),
    _Var(
        "HUB_TRANSFER_HOP_LIMIT",
        "transfer_hop_limit",
        lambda n, v: _int(n, v, low=0, high=20),
        "Transfers to another department one grievance may take.",
    ),
    _Var(
        "HUB_CLOSURE_REASONS_FILE",
        "closure_reasons_file",
        lambda n, v: v,
        "YAML list of closure reasons (code, en, hi); unset: the 11 standard reasons.",
        "the standard list",
    ),
    _Var(
        "HUB_ESCALATION_POLL_SECONDS",
        "escalation_poll_seconds",
        lambda n, v: _int(n, v, low=10, high=86400),
        "How often the escalation and auto-close jobs run.",
    ),
    _Var(
        "HUB_SUMMARY_HOUR",
        "summary_hour",
        lambda n, v: _int(n, v, low=0, high=23),
        "Hour (IST) of the daily summary to each HoD and the reminders to nodal officers.",
    ),
    _Var(
        "HUB_SMS_GATEWAY_URL",
        "sms_gateway_url",
        lambda n, v: v,
        "SMS gateway endpoint that `HUB_SMS_SINK=http` POSTs to.",
    ),
    _Var(
        "HUB_SMS_GATEWAY_KEY",
        "sms_gateway_key",
        lambda n, v: v,
        "API key sent to the SMS gateway.",
        "unset",
    ),
    _Var("HUB_SMS_SENDER_ID", "sms_sender_id", lambda n, v: v, "DLT sender id of SMS."),
    _Var(
        "HUB_EMAIL_SINK",
        "email_sink",
        lambda n, v: _choice(n, v, ("console", "smtp")),
        "`console` prints e-mail (dev only); `smtp` sends through HUB_SMTP_HOST.",
    ),
    _Var("HUB_SMTP_HOST", "smtp_host", lambda n, v: v, "SMTP server."),
    _Var(
        "HUB_SMTP_PORT",
        "smtp_port",
        lambda n, v: _int(n, v, low=1, high=65535),
        "SMTP port.",
    ),
    _Var("HUB_SMTP_USER", "smtp_user", lambda n, v: v, "SMTP login; unset: none."),
    _Var("HUB_SMTP_PASSWORD", "smtp_password", lambda n, v: v, "SMTP password.", "unset"),
    _Var("HUB_SMTP_STARTTLS", "smtp_starttls", _bool, "Upgrade SMTP with STARTTLS."),
    _Var("HUB_EMAIL_FROM", "email_from", lambda n, v: v, "Sender address of e-mail."),
    _Var(
        "HUB_STORAGE",
        "storage",
        lambda n, v: _choice(n, v, ("local", "s3")),
        "Where attachments are kept: `local` (HUB_STORAGE_DIR) or `s3` (an S3-compatible store).",
    ),
    _Var("HUB_STORAGE_DIR", "storage_dir", lambda n, v: v, "Directory of local attachments."),
    _Var("HUB_S3_ENDPOINT", "s3_endpoint", lambda n, v: v, "S3-compatible endpoint URL."),
    _Var("HUB_S3_BUCKET", "s3_bucket", lambda n, v: v, "Bucket of attachments."),
    _Var("HUB_S3_REGION", "s3_region", lambda n, v: v, "Region of the bucket."),
    _Var("HUB_S3_ACCESS_KEY", "s3_access_key", lambda n, v: v, "S3 access key."),
    _Var("HUB_S3_SECRET_KEY", "s3_secret_key", lambda n, v: v, "S3 secret key.", "unset"),
    _Var(
        "HUB_MAX_ATTACHMENT_BYTES",
        "max_attachment_bytes",
        lambda n, v: _int(n, v, low=1024, high=100 * 1_048_576),
        "Largest attachment, in bytes.",
    ),
    _Var(
        "HUB_MAX_ATTACHMENTS",
        "max_attachments",
        lambda n, v: _int(n, v, low=0, high=50),
        "Most attachments on one filing or action.",
    ),
    _Var(
        "HUB_DOWNLOAD_URL_SECONDS",
        "download_url_seconds",
        lambda n, v: _int(n, v, low=10, high=3600),
        "Lifetime of a signed attachment download URL.",
    ),
    _Var(
        "HUB_PUBLIC_URL",
        "public_url",
        lambda n, v: v.rstrip("/"),
        "The hub's address as clients see it (signed download URLs start with it).",
    ),
    _Var(
        "HUB_TOKEN_ALGORITHM",
        "token_algorithm",
        lambda n, v: _choice(n, v, ("HS256", "RS256", "ES256")),
        "The one signing algorithm tokens use and accept: `HS256` (HUB_SECRET_KEY), or `RS256`"
        " / `ES256` with a key pair (subgraphs verify with the public key).",
    ),
    _Var(
        "HUB_TOKEN_PRIVATE_KEY_FILE",
        "token_private_key_file",
        lambda n, v: v,
        "PEM private key that signs tokens (RS256/ES256 only).",
        "unset",
    ),
    _Var(
        "HUB_TOKEN_PUBLIC_KEY_FILE",
        "token_public_key_file",
        lambda n, v: v,
        "PEM public key that verifies tokens (RS256/ES256 only).",
        "unset",
    ),
    _Var("HUB_TOKEN_ISSUER", "token_issuer", lambda n, v: v, "`iss` of every token."),
    _Var("HUB_TOKEN_AUDIENCE", "token_audience", lambda n, v: v, "`aud` of every token."),
    _Var(
        "HUB_ACCESS_TOKEN_SECONDS",
        "access_token_seconds",
        lambda n, v: _int(n, v, low=30, high=900),
        "Lifetime of an access token (at most 15 minutes).",
    ),
    _Var(
        "HUB_REFRESH_TOKEN_DAYS",
        "refresh_token_days",
        lambda n, v: _int(n, v, low=1, high=90),
        "Lifetime of a sign-in: a refresh token family expires this long after login.",
    ),
    _Var(
        "HUB_OTP_SECONDS",
        "otp_seconds",
        lambda n, v: _int(n, v, low=30, high=300),
        "Lifetime of a one-time code (at most 5 minutes).",
    ),
    _Var(
        "HUB_OTP_MAX_ATTEMPTS",
        "otp_max_attempts",
        lambda n, v: _int(n, v, low=1, high=5),
        "Wrong codes that kill a challenge (at most 5).",
    ),
    _Var(
        "HUB_OTP_RESEND_SECONDS",
        "otp_resend_seconds",
        lambda n, v: _int(n, v, low=30, high=3600),
        "Shortest wait between two codes to one number (at least 30 s).",
    ),
    _Var(
        "HUB_OTP_BURST_MAX",
        "otp_burst_max",
        lambda n, v: _int(n, v, low=1, high=3),
        "Codes one number may get in HUB_OTP_BURST_MINUTES (at most 3).",
    ),
    _Var(
        "HUB_OTP_BURST_MINUTES",
        "otp_burst_minutes",
        lambda n, v: _int(n, v, low=10, high=1440),
        "The window of HUB_OTP_BURST_MAX (at least 10 minutes).",
    ),
    _Var(
        "HUB_OTP_DAILY_PER_NUMBER",
        "otp_daily_per_number",
        lambda n, v: _int(n, v, low=1, high=1000),
        "Codes one number may get a day (IST).",
    ),
    _Var(
        "HUB_OTP_DAILY_PER_IP",
        "otp_daily_per_ip",
        lambda n, v: _int(n, v, low=1, high=1_000_000),
        "Codes asked for from one IP address a day (IST).",
    ),
    _Var(
        "HUB_OTP_DAILY_GLOBAL",
        "otp_daily_global",
        lambda n, v: _int(n, v, low=1, high=100_000_000),
        "Codes the whole hub sends a day (IST): the SMS budget.",
    ),
    _Var(
        "HUB_STAFF_PASSWORD_REQUIRED",
        "staff_password_required",
        _bool,
        "Every officer, operator and admin signs in with a password after the code; without"
        " it, only those given a password need one.",
    ),
    _Var(
        "HUB_CLIENT_SECRET_GRACE_HOURS",
        "client_secret_grace_hours",
        lambda n, v: _int(n, v, low=0, high=720),
        "Hours a rotated service-account secret keeps working beside the new one.",
    ),
    _Var(
        "HUB_MAX_QUERY_DEPTH",
        "max_query_depth",
        lambda n, v: _int(n, v, low=3, high=50),
        "Deepest GraphQL selection accepted, in fields from the root (fragments included).",
    ),
    _Var(
        "HUB_MAX_ALIASES",
        "max_aliases",
        lambda n, v: _int(n, v, low=1, high=500),
        "Most aliases in one GraphQL operation (one in a fragment counts at every spread).",
    ),
    _Var(
        "HUB_MAX_QUERY_TOKENS",
        "max_query_tokens",
        lambda n, v: _int(n, v, low=100, high=100_000),
        "Most lexical tokens in one GraphQL document.",
    ),
    _Var(
        "HUB_CORS_ORIGINS",
        "cors_origins",
        lambda n, v: _origins(n, v),
        "Comma-separated origins (https://app.example.in, no path) whose pages may call the"
        " API; `*`: any; unset: none.",
    ),
    _Var(
        "HUB_WS_ORIGINS",
        "ws_origins",
        lambda n, v: _origins(n, v),
        "Origins whose pages may open a subscription WebSocket (same-origin pages and"
        " clients that send no Origin always may); unset: HUB_CORS_ORIGINS.",
    ),
    _Var(
        "HUB_RATE_LIMIT_PER_IP",
        "rate_limit_per_ip",
        lambda n, v: _int(n, v, low=1, high=1_000_000),
        "Requests a minute from one client address (an IPv6 /64 counts as one address).",
    ),
    _Var(
        "HUB_RATE_LIMIT_PER_ACTOR",
        "rate_limit_per_actor",
        lambda n, v: _int(n, v, low=1, high=1_000_000),
        "Requests a minute from one signed-in actor.",
    ),
    _Var(
        "HUB_FORWARDED_ALLOW_IPS",
        "forwarded_allow_ips",
        _tuple,
        "Proxies (IPs or networks such as 10.0.0.0/8) whose X-Forwarded-For gives the client's"
        " address; unset: none, the connecting address counts.",
    ),
)


def _origins(name: str, raw: str) -> tuple[str, ...]:
    """Origins as browsers send them: ``https://app.example.in[:port]``, or ``*``."""
    origins = _tuple(name, raw)
    for origin in origins:
        if origin == "*":
            continue
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username
        ):
            raise SettingsError(
                f"Config '{name}' has value '{origin}'. Must be an origin like "
                "https://app.example.in (scheme, host, optional port; no path), or *."
            )
    return origins


def _state_code(name: str, raw: str) -> str:
    if not (raw.isascii() and raw.isalpha() and raw.isupper() and 2 <= len(raw) <= 4):
        raise SettingsError(
            f"Config '{name}' has value '{raw}'. Must be 2-4 upper-case letters, e.g. KA."
        )
    return raw


def _reg_format(name: str, raw: str) -> str:
    try:
        sample = raw.format(state="KA", dept="UDD", year=2026, seq=1)
        sample_two = raw.format(state="KA", dept="UDD", year=2026, seq=2)
    except (KeyError, IndexError, ValueError) as exc:
        raise SettingsError(
            f"Config '{name}' has value '{raw}'. Not a valid pattern ({exc!r}); "
            "use {state}, {dept}, {year} and {seq}."
        ) from None
    if sample == sample_two or len(sample) > 64:
        raise SettingsError(
            f"Config '{name}' has value '{raw}'. Must contain {{seq}} and stay under 64 characters."
        )
    return raw


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every ``HUB_*`` variable once; raise ``SettingsError`` on the first bad one."""
    source = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var in VARIABLES:
        raw = source.get(var.env)
        if raw is not None:
            values[var.attr] = var.parse(var.env, raw)
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    if len(settings.secret_key.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(
            f"Config 'HUB_SECRET_KEY' is {len(settings.secret_key.encode())} bytes long. "
            f"Must be at least {MIN_SECRET_BYTES} bytes."
        )
    if settings.sms_sink == "http" and not settings.sms_gateway_url:
        raise SettingsError("Config 'HUB_SMS_GATEWAY_URL' is unset. HUB_SMS_SINK=http needs it.")
    if settings.storage == "s3" and not (settings.s3_endpoint and settings.s3_bucket):
        raise SettingsError(
            "Config 'HUB_S3_ENDPOINT' and 'HUB_S3_BUCKET' must be set when HUB_STORAGE=s3."
        )
    if settings.token_algorithm != "HS256" and not (  # noqa: S105
        settings.token_private_key_file and settings.token_public_key_file
    ):
        raise SettingsError(
            f"Config 'HUB_TOKEN_ALGORITHM' has value '{settings.token_algorithm}'. It needs "
            "HUB_TOKEN_PRIVATE_KEY_FILE and HUB_TOKEN_PUBLIC_KEY_FILE."
        )
    if not settings.is_production:
        return
    if settings.secret_key == DEV_SECRET_KEY:
        raise SettingsError(
            "Config 'HUB_SECRET_KEY' is the dev default. Production needs its own secret "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))").'
        )
    if settings.sms_sink == "console":
        raise SettingsError(
            "Config 'HUB_SMS_SINK' has value 'console'. Production needs a real gateway: http."
        )
    if settings.email_sink == "console":
        raise SettingsError(
            "Config 'HUB_EMAIL_SINK' has value 'console'. Production needs a real server: smtp."
        )
    if settings.is_sqlite and not settings.allow_sqlite_in_production:
        raise SettingsError(
            f"Config 'HUB_DATABASE_URL' has value '{settings.database_url_redacted}'. "
            "Production runs on PostgreSQL; set HUB_ALLOW_SQLITE_IN_PRODUCTION=true to "
            "allow SQLite deliberately."
        )


def sqlite_path(settings: Settings) -> Path | None:
    if not settings.is_sqlite:
        return None
    rest = settings.database_url.split("://", 1)[1].split("?", 1)[0]
    return None if rest == ":memory:" else Path(rest)


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for the README and ``hub settings``."""
    defaults = Settings()
    rows = []
    for var in VARIABLES:
        default = var.default_text or _show(getattr(defaults, var.attr))
        rows.append((var.env, default, var.doc))
    return rows


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


__all__ = ["Settings", "SettingsError", "load_settings", "settings_table"]
