"""Settings from environment variables prefixed ``IMPORTER_`` (and ``.env`` when present)."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from importer.parsing import ParseLimits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMPORTER_", env_file=".env", extra="ignore")

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/importer"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Empty means "the Redis URL"; an amqp:// URL selects RabbitMQ.
    broker_url: str = ""
    # Keys in Redis and the Celery queue are namespaced so that test runs and deployments sharing
    # one Redis never see each other's progress, cancel flags or tasks.
    redis_prefix: str = "importer"
    task_queue: str = "importer"

    max_upload_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    max_rows: int = Field(default=2_000_000, gt=0)
    max_columns: int = Field(default=1_000, gt=0)
    max_field_bytes: int = Field(default=1_048_576, gt=0)
    max_nesting: int = Field(default=32, gt=0)

    # Uploads per API key (Flask-Limiter notation); more get 429 with Retry-After.
    upload_rate_limit: str = "120/minute"

    # Rows read, checked and written per unit of work: a chunk task of a chunked step or phase
    # (validate, data_cleansing); cancel is honoured between chunks.
    chunk_size: int = Field(default=5_000, gt=0)
    # How long an unacknowledged task waits before a Redis broker hands it to another worker: it
    # must exceed the longest step (a redelivered copy of a live step is dropped, not run twice).
    broker_visibility_timeout: int = Field(default=3600, gt=0)
    # A step started this many times without finishing (worker deaths, lost connections) fails.
    max_restarts: int = Field(default=5, ge=1)
    # Retries of a step whose database connection failed (PostgreSQL restarting, say).
    db_retries: int = Field(default=5, ge=0)
    # A running step or phase with no heartbeat for this long, and no worker holding it, is
    # marked failed. Work waiting in the queue is pending, not running: it is never judged so.
    stale_after_seconds: int = Field(default=300, gt=0)
    # The import's next run, pending this long since its task was sent, is sent again: its
    # message may have been lost (a crash between the commit and the send). A copy that finds
    # the run taken or done does nothing, so a message that was only slow costs one no-op.
    resend_pending_after_seconds: int = Field(default=180, gt=0)
    watchdog_interval_seconds: int = Field(default=60, gt=0)

    # Below this confidence, a required field's mapping waits for a person's approval.
    mapping_confidence_threshold: float = Field(default=0.85, ge=0, le=1)

    # The client accounts /metrics names in its imports gauge (those with the most imports); the
    # others are summed as "other", so that tenants do not each cost Prometheus a series.
    metrics_top_accounts: int = Field(default=20, ge=0)

    api_url: str = "http://127.0.0.1:8000"
    api_key: str = ""

    # Signs the dashboard's session cookie and CSRF tokens. Without one the dashboard stays off
    # (the API needs no sessions): a per-process random key would sign users out at every
    # restart and fail across gunicorn workers, and a fixed default would let anyone forge one.
    secret_key: str = Field(default="", repr=False)
    # Browsers send a Secure cookie over HTTPS only (and http://localhost); `make up` turns it off.
    session_cookie_secure: bool = True
    session_lifetime_hours: int = Field(default=12, gt=0)
    # Where the dashboard links each step's Celery task.
    flower_url: str = "http://127.0.0.1:5555"

    @model_validator(mode="after")
    def _default_broker(self) -> Settings:
        if not self.broker_url:
            self.broker_url = self.redis_url
        return self

    @cached_property
    def parse_limits(self) -> ParseLimits:
        return ParseLimits(
            max_rows=self.max_rows,
            max_columns=self.max_columns,
            max_field_bytes=self.max_field_bytes,
            max_nesting=self.max_nesting,
        )

    @property
    def psycopg_url(self) -> str:
        """The database URL in the form psycopg itself accepts (for COPY on raw connections)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
