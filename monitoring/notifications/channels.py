"""Notification channels: apprise URLs from the environment or Airflow Connections, one
:class:`Channel` per URL, and delivery through apprise (retries and per-service throttle are apprise's).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import apprise


class NotificationConfigError(ValueError):
    """A channel URL or Airflow connection cannot be used; the message names it (never its secret)."""


# ---------------------------------------------------------------------------------------------------
# channels
# ---------------------------------------------------------------------------------------------------
def split_urls(text: str | None) -> list[str]:
    """URLs separated by spaces, commas or new lines (commas inside a query string are rare in
    apprise URLs; use one URL per line or space if a URL needs one)."""
    return [u for u in re.split(r"[\s,]+", text or "") if u]


def airflow_connection_urls(conn_ids: Sequence[str]) -> list[str]:
    """Apprise URLs from Airflow connections (only inside a running Airflow task)."""
    if not conn_ids:
        return []
    try:
        from airflow.sdk import Connection  # lazy: Airflow is heavy and optional here
    except ImportError as exc:  # pragma: no cover - Airflow is installed in this project
        raise NotificationConfigError(f"ENVMON_NOTIFY_CONNECTIONS set but Airflow is not importable: {exc}") from None
    urls: list[str] = []
    for cid in conn_ids:
        try:
            conn = Connection.get(cid)
        except Exception as exc:  # noqa: BLE001 - not found, no supervisor, secrets backend down: all fatal here
            raise NotificationConfigError(f"Airflow connection {cid!r} cannot be read: {exc}") from None
        extra = conn.extra_dejson or {}
        url = extra.get("url") or extra.get("apprise_url") or conn.get_uri()
        if not url:
            raise NotificationConfigError(f"Airflow connection {cid!r} holds no apprise URL (extra 'url')")
        urls.append(str(url))
    return urls


def channel_urls_from_env() -> list[str]:
    urls = split_urls(os.environ.get("ENVMON_NOTIFY_URLS"))
    conns = split_urls(os.environ.get("ENVMON_NOTIFY_CONNECTIONS"))
    return urls + airflow_connection_urls(conns)


@dataclass(frozen=True)
class Channel:
    url: str = field(repr=False)
    display: str
    key: str

    @cached_property
    def apprise(self) -> apprise.Apprise:
        """One apprise object per channel and notifier, so apprise's per-service throttle spaces the
        messages of a burst (WeCom and DingTalk robots accept about 20 messages a minute)."""
        a = apprise.Apprise(asset=apprise.AppriseAsset(default_service_retry=_retry_default()))
        a.add(self.url)
        spacing = _min_interval()
        if spacing is not None:
            for plugin in a:
                plugin.request_rate_per_sec = spacing
        return a


def _retry_default() -> int:
    raw = os.environ.get("ENVMON_NOTIFY_RETRY", "1")
    try:
        return max(0, int(raw))
    except ValueError:
        raise NotificationConfigError(f"ENVMON_NOTIFY_RETRY={raw!r} is not an integer") from None


def _min_interval() -> float | None:
    raw = os.environ.get("ENVMON_NOTIFY_MIN_INTERVAL_S")
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise NotificationConfigError(f"ENVMON_NOTIFY_MIN_INTERVAL_S={raw!r} is not a number") from None
    return max(0.0, value)


def make_channel(url: str) -> Channel:
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:12]
        raise NotificationConfigError(f"not a usable apprise URL (scheme {scheme!r}); see the apprise docs")
    return Channel(url=url, display=plugin.url(privacy=True)[:255], key=hashlib.sha1(url.encode()).hexdigest())


def _deliver(ch: Channel, title: str, body: str) -> tuple[bool, int, str | None]:
    """Send through apprise; (ok, tries, error text). apprise retries inside the call (``retry``)."""
    try:
        result = ch.apprise.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
    except Exception as exc:  # noqa: BLE001 - a plugin bug must not lose the message: record it
        return False, 1, f"{type(exc).__name__}: {exc}"
    services = list(result) if hasattr(result, "__iter__") else []
    tries = sum(len(s) for s in services) or 1
    if bool(result):
        return True, tries, None
    errors: list[str] = []
    for s in services:
        for entry in s.logs():
            msg = getattr(entry, "message", str(entry))
            if msg not in errors:
                errors.append(msg)
    return False, tries, "; ".join(errors) or f"apprise status {getattr(result, 'status', result)}"
