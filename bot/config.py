"""Settings, read once from the environment.

The same names configure Lambda, the offline sandbox and the tests (see the README's
"Configuration" table). A missing or malformed setting fails fast with a message naming it.
Secrets (the Slack bot token and signing secret) come from SSM Parameter Store through
Powertools Parameters when ``*_PARAM`` is set, or from plain environment variables locally.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.models import CHANNEL_ID_HINT, CHANNEL_ID_RE, PRINCIPAL_ID_RE


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


_POSITIVE_INT_RE = re.compile(r"^[1-9][0-9]*$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    approvals_table: str
    default_channel: str | None = None
    default_approvers: tuple[str, ...] = ()
    slack_api_url: str | None = None
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_bot_token_param: str | None = None
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_signing_secret_param: str | None = None
    allow_self_approval: bool = False
    post_lease_seconds: int = 120
    retention_days: int = 90
    secrets_max_age_seconds: int = 300
    slack_timeout_seconds: int = 10

    def bot_token(self) -> str:
        """The Slack bot token (from SSM when ``SLACK_BOT_TOKEN_PARAM`` is set)."""
        return _secret("SLACK_BOT_TOKEN", self.slack_bot_token, self.slack_bot_token_param, self)

    def signing_secret(self) -> str:
        """The Slack signing secret (from SSM when ``SLACK_SIGNING_SECRET_PARAM`` is set)."""
        return _secret(
            "SLACK_SIGNING_SECRET",
            self.slack_signing_secret,
            self.slack_signing_secret_param,
            self,
        )


def _secret(name: str, value: str | None, param: str | None, settings: Settings) -> str:
    if param:
        # Imported here: only deployed functions that need a secret pay for it.
        from aws_lambda_powertools.utilities import parameters

        fetched = parameters.get_parameter(
            param, decrypt=True, max_age=settings.secrets_max_age_seconds
        )
        if not fetched:
            raise ConfigError(f"SSM parameter {param} ({name}_PARAM) is empty")
        return fetched
    if value:
        return value
    raise ConfigError(f"{name} or {name}_PARAM must be set")


def _str(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _required(env: Mapping[str, str], name: str) -> str:
    value = _str(env, name)
    if value is None:
        raise ConfigError(f"{name} must be set")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = _str(env, name)
    if raw is None:
        return default
    if not _POSITIVE_INT_RE.match(raw):
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def _approvers(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = _str(env, name)
    if raw is None:
        return ()
    ids = tuple(part.strip() for part in raw.split(",") if part.strip())
    bad = [i for i in ids if not PRINCIPAL_ID_RE.match(i)]
    if bad:
        raise ConfigError(
            f"{name} must list Slack user ids (U…/W…) or user-group ids (S…), got {bad!r}"
        )
    return ids


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; raise ``ConfigError`` naming the first bad one."""
    env = os.environ if env is None else env
    default_channel = _str(env, "DEFAULT_CHANNEL")
    if default_channel is not None and not CHANNEL_ID_RE.match(default_channel):
        raise ConfigError(f"DEFAULT_CHANNEL must be {CHANNEL_ID_HINT}, got {default_channel!r}")
    api_url = _str(env, "SLACK_API_URL")
    if api_url is not None:
        if not api_url.startswith(("http://", "https://")):
            raise ConfigError(f"SLACK_API_URL must be an http(s) URL, got {api_url!r}")
        if not api_url.endswith("/"):
            api_url += "/"
    lease = _int(env, "POST_LEASE_SECONDS", 120)
    slack_timeout = _int(env, "SLACK_TIMEOUT_SECONDS", 10)
    if lease <= slack_timeout:
        # A redelivery may take a post over only once the attempt that holds the lease cannot
        # still be waiting for Slack: otherwise a slow post could be posted twice.
        raise ConfigError(
            f"POST_LEASE_SECONDS ({lease}) must be longer than "
            f"SLACK_TIMEOUT_SECONDS ({slack_timeout})"
        )
    return Settings(
        approvals_table=_required(env, "APPROVALS_TABLE"),
        default_channel=default_channel,
        default_approvers=_approvers(env, "DEFAULT_APPROVERS"),
        slack_api_url=api_url,
        slack_bot_token=_str(env, "SLACK_BOT_TOKEN"),
        slack_bot_token_param=_str(env, "SLACK_BOT_TOKEN_PARAM"),
        slack_signing_secret=_str(env, "SLACK_SIGNING_SECRET"),
        slack_signing_secret_param=_str(env, "SLACK_SIGNING_SECRET_PARAM"),
        allow_self_approval=_bool(env, "ALLOW_SELF_APPROVAL", default=False),
        post_lease_seconds=lease,
        retention_days=_int(env, "RETENTION_DAYS", 90),
        secrets_max_age_seconds=_int(env, "SECRETS_MAX_AGE_SECONDS", 300),
        slack_timeout_seconds=slack_timeout,
    )
