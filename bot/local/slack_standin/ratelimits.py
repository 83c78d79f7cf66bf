"""Slack's rate limits, per method and workspace, as token buckets on an injectable clock.

Slack's published tiers (https://api.slack.com/apis/rate-limits, "per API method per app per
workspace"): Tier 1 1+ per minute, Tier 2 20+, Tier 3 50+, Tier 4 100+, bursts tolerated. Each is
a bucket of that many calls that refills at that rate: a burst of up to a minute's quota, then
the quota per minute. The tier of each served method is the one its method page gives.

Special limits:

* ``chat.postMessage``: "generally allow[s] an app to post 1 message per second to a specific
  channel", short bursts above 1 allowed (`CHANNEL_BURST` here), "while also maintaining a
  workspace-wide limit" of "several hundred messages per minute" (read here as 300 per minute,
  the same as a burst).
* response URLs: Slack answers them as incoming webhooks, "1 per second, short bursts >1
  allowed"; a response URL posts into its channel, so the bucket is per channel. (Each URL also
  takes at most 5 posts in 30 minutes: see ``methods.RESPONSE_URL_MAX_USES``.)

Over the limit, Slack answers HTTP 429 with ``Retry-After`` (whole seconds) and
``{"ok": false, "error": "ratelimited"}``; the call does nothing and uses no quota.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Limit:
    """A token bucket: ``burst`` calls at once, refilled at ``per_minute`` calls a minute."""

    per_minute: float
    burst: float

    @classmethod
    def tier(cls, per_minute: float) -> Limit:
        return cls(per_minute, per_minute)


TIER_1: Final = Limit.tier(1)
TIER_2: Final = Limit.tier(20)
TIER_3: Final = Limit.tier(50)
TIER_4: Final = Limit.tier(100)

CHANNEL_BURST: Final = 3  # "short bursts >1 allowed": how many is not published
PER_CHANNEL: Final = Limit(per_minute=60, burst=CHANNEL_BURST)  # 1 message per second
POST_MESSAGE_WORKSPACE: Final = Limit.tier(300)  # "several hundred messages per minute"

# Served method → its limit per workspace (Slack's method pages).
METHOD_TIERS: Final[dict[str, Limit]] = {
    "auth.test": TIER_4,  # "Special": generous; held to Tier 4 here
    "chat.postMessage": POST_MESSAGE_WORKSPACE,  # special: also PER_CHANNEL
    "chat.update": TIER_3,
    "chat.postEphemeral": TIER_4,
    "conversations.history": TIER_3,  # internal and Marketplace apps
    "conversations.members": TIER_4,
    "conversations.open": TIER_3,
    "views.open": TIER_4,
    "views.push": TIER_4,
    "views.update": TIER_4,
    "views.publish": TIER_4,
    "users.info": TIER_4,
    "users.lookupByEmail": TIER_3,
    "users.conversations": TIER_3,
    "usergroups.users.list": TIER_2,
}
# Limited per channel as well as per workspace (the key is the channel).
PER_CHANNEL_METHODS: Final = frozenset({"chat.postMessage", "response_url"})


@dataclass
class _Bucket:
    limit: Limit
    tokens: float
    at: float

    def refill(self, now: float) -> None:
        rate = self.limit.per_minute / 60.0
        self.tokens = min(self.limit.burst, self.tokens + max(0.0, now - self.at) * rate)
        self.at = now

    def wait(self) -> float:
        """Seconds until one token is there (0 when there is one now)."""
        missing = 1.0 - self.tokens
        return 0.0 if missing <= 1e-9 else missing * 60.0 / self.limit.per_minute


@dataclass(frozen=True)
class Hit:
    """A call answered 429 by the rate limiter."""

    method: str
    key: str  # the channel for per-channel limits, else ""
    retry_after: int
    at: float


class RateLimiter:
    """Decides whether a call may run now. Not thread-safe: the stand-in holds its lock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self.hits: list[Hit] = []

    def _bucket(self, method: str, key: str, limit: Limit, now: float) -> _Bucket:
        bucket = self._buckets.get((method, key))
        if bucket is None:
            bucket = self._buckets[(method, key)] = _Bucket(limit, limit.burst, now)
        bucket.refill(now)
        return bucket

    def admit(self, method: str, channel: str | None = None) -> int | None:
        """Take one call's quota and return None, or return ``Retry-After`` seconds (>= 1)
        when the call is over a limit (then nothing is taken)."""
        now = self._clock()
        buckets = []
        if method in METHOD_TIERS:
            buckets.append(self._bucket(method, "", METHOD_TIERS[method], now))
        if method in PER_CHANNEL_METHODS:
            buckets.append(self._bucket(method, f"#{channel or ''}", PER_CHANNEL, now))
        wait = max((b.wait() for b in buckets), default=0.0)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            key = channel or "" if method in PER_CHANNEL_METHODS else ""
            self.hits.append(Hit(method, key, retry_after, now))
            return retry_after
        for bucket in buckets:
            bucket.tokens -= 1.0
        return None
