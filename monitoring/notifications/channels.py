"""Notification channels: apprise URLs from the environment or Airflow Connections, one
:class:`Channel` per URL, and delivery through apprise (retries and per-service throttle are apprise's).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import apprise

from monitoring.config import Settings
from monitoring.connections import ConnectionConfigError, airflow_connection


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
    """Apprise URLs from the named Airflow Connections (extra ``url`` or ``apprise_url``, else the URI).

    Every id was named by a person (``ENVMON_NOTIFY_CONNECTIONS``), so each is *required*
    (:func:`monitoring.connections.airflow_connection`): a missing or unreadable one raises
    :class:`NotificationConfigError` naming it.
    """
    urls: list[str] = []
    for cid in conn_ids:
        try:
            conn = airflow_connection(cid, required=True)
        except ConnectionConfigError as exc:
            raise NotificationConfigError(str(exc)) from None
        extra = conn.extra_dejson or {}
        url = extra.get("url") or extra.get("apprise_url") or conn.get_uri()
        if not url:
            raise NotificationConfigError(f"Airflow connection {cid!r} holds no apprise URL (extra 'url')")
        urls.append(str(url))
    return urls


def channel_urls(settings: Settings) -> list[str]:
    """The apprise URLs of the configured channels: ``settings.notify_urls`` then the URLs of
    ``settings.notify_connections``."""
    return list(settings.notify_urls) + airflow_connection_urls(settings.notify_connections)


@dataclass(frozen=True)
class Channel:
    """One alert channel: its apprise URL (secret), what may be shown of it, and a stable key."""

    url: str = field(repr=False)
    display: str
    key: str
    retry: int = 1
    min_interval_s: float | None = None

    @cached_property
    def apprise(self) -> apprise.Apprise:
        """One apprise object per channel and notifier, so apprise's per-service throttle spaces the
        messages of a burst (WeCom and DingTalk robots accept about 20 messages a minute)."""
        a = apprise.Apprise(asset=apprise.AppriseAsset(default_service_retry=self.retry))
        a.add(self.url)
        if self.min_interval_s is not None:
            for plugin in a:
                plugin.request_rate_per_sec = self.min_interval_s
        return a


def make_channel(url: str, *, retry: int = 1, min_interval_s: float | None = None) -> Channel:
    """A :class:`Channel` for an apprise URL; :class:`NotificationConfigError` when apprise cannot use it.

    ``retry``: apprise retries inside one send (``?retry=N`` in the URL wins); ``min_interval_s``: seconds
    between two sends to the channel (``None``: apprise's per-service default).
    """
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:12]
        raise NotificationConfigError(f"not a usable apprise URL (scheme {scheme!r}); see the apprise docs")
    return Channel(url=url, display=plugin.url(privacy=True)[:255], key=hashlib.sha1(url.encode()).hexdigest(), retry=retry, min_interval_s=min_interval_s)


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
