"""Incident notifications through apprise, every message and attempt recorded in the SQL store.

Channels are apprise URLs:

* e-mail: ``mailtos://user:password@smtp.example.org?to=duty@example.org`` (``mailto://`` for plain SMTP)
* WeCom group robot (企业微信群机器人): ``wecombot://{key}``
* DingTalk robot (钉钉机器人): ``dingtalk://{secret}@{token}/``
* generic JSON webhook: ``json://host:port/path`` (``jsons://`` for HTTPS); apprise POSTs
  ``{"version", "title", "message", "type"}``

Configuration (environment, never the repository):

==============================  ========================================================================
variable                        meaning (default)
==============================  ========================================================================
``ENVMON_NOTIFY_URLS``          apprise URLs, separated by spaces, commas or new lines (none)
``ENVMON_NOTIFY_CONNECTIONS``   Airflow connection ids (e.g. ``envmon_notify_wecom``) whose extra
                                ``url`` (or ``apprise_url``), else whose URI, is an apprise URL. Read
                                lazily through ``airflow.sdk.Connection.get`` — only works inside an
                                Airflow task; elsewhere a clear :class:`NotificationConfigError`.
``ENVMON_PUBLIC_URL``           base of the incident links (``http://localhost:8000``, the console) →
                                ``{base}/incidents/{id}``
``ENVMON_NOTIFY_DIGEST_MINUTES``  digest interval, minutes (360)
``ENVMON_NOTIFY_RETRY``         apprise retries inside one send (1; ``?retry=N`` in a URL wins)
``ENVMON_NOTIFY_MIN_INTERVAL_S``  seconds between two sends to one channel (apprise's default, 5.5 s
                                for most plugins: keeps bursts under the robots' rate limits)
==============================  ========================================================================

Rules
-----
* ``open``, ``clear`` and each ``escalate`` level are sent at most once per incident and channel (a
  ``dedupe_key`` unique per channel). Re-applying assessments (backfill) therefore never repeats them.
  An incident opened and cleared in the same change set (found by a backfill) gets one ``open``
  message saying it already recovered.
* ``update`` changes are never sent one by one: while an incident stays open, its pending updates (audit
  events not yet covered by a message to that channel) go out as one ``digest`` once the last message
  to that channel for that incident is at least ``digest_interval`` old. So at most one update message
  per incident, channel and digest interval.
* A point's data-missing recovery (``clear``) is not sent on its own: recoveries go out together as one
  "数据恢复汇总" once the oldest waiting one is ``ENVMON_DEADMAN_DIGEST_MINUTES`` (15) old; each incident
  still gets its ``{id}:clear`` record (the first carries the message, the others are ``bundled``), so
  a recovery is told once. A cluster's or the county's recovery is sent at once.
* Every message is stored before it is sent (``notification``), every send attempt after it
  (``notification_attempt``: time, success, apprise tries, error). Failed and stale pending messages
  are re-sent by :meth:`Notifier.retry_pending` on the next run, with the stored text: nothing is
  silently dropped.
* Messages are Chinese, times Asia/Shanghai with the offset shown (``2025-06-01 14:00+08:00``).

Modules: :mod:`~monitoring.notifications.channels` (apprise URLs, Airflow Connections, delivery),
:mod:`~monitoring.notifications.rendering` (templates → title and body),
:mod:`~monitoring.notifications.tables` (SQL), :mod:`~monitoring.notifications.notifier` (:class:`Notifier`).
"""

from monitoring.notifications.channels import (
    Channel,
    NotificationConfigError,
    airflow_connection_urls,
    channel_urls,
    make_channel,
    split_urls,
)
from monitoring.notifications.notifier import STALE_PENDING, Notifier, NotifyReport, SendOutcome
from monitoring.notifications.rendering import (
    AVERAGING_NAMES_ZH,
    CHECK_NAMES_ZH,
    DEFAULT_PUBLIC_URL,
    KIND_TITLES,
    LIMIT_STATUS_ZH,
    TEMPLATES,
    incident_link,
    render,
)
from monitoring.notifications.tables import NOTIFICATION_KINDS, Notification, NotificationAttempt

__all__ = [
    "AVERAGING_NAMES_ZH", "CHECK_NAMES_ZH", "DEFAULT_PUBLIC_URL", "KIND_TITLES", "LIMIT_STATUS_ZH",
    "NOTIFICATION_KINDS", "STALE_PENDING", "TEMPLATES", "Channel", "Notification", "NotificationAttempt",
    "NotificationConfigError", "Notifier", "NotifyReport", "SendOutcome", "airflow_connection_urls",
    "channel_urls", "incident_link", "make_channel", "render", "split_urls",
]
