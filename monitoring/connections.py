"""Airflow Connections: the one reader, with one error policy.

Deployment secrets (InfluxDB credentials, alert channel URLs) may live in Airflow Connections instead of
``ENVMON_*`` variables. :func:`airflow_connection` is the only place that reads them:

=====================================  ==========================  ===============================
situation                              optional connection         required connection
=====================================  ==========================  ===============================
Airflow not loaded in this process     ``None`` (not configured)   Airflow is loaded, then read
the connection id is not defined       ``None`` (not configured)   :class:`ConnectionConfigError`
any other failure (secrets backend     :class:`ConnectionConfigError` (loud: the deployment is
down, access denied, malformed URI)    broken, not "unconfigured")
=====================================  ==========================  ===============================

*Optional*: a fallback the caller can do without (``envmon_influx`` when ``ENVMON_INFLUX_URL`` is unset);
it is looked up only when Airflow is already loaded, because importing Airflow elsewhere creates
``~/airflow``. *Required*: a connection a person named (``ENVMON_NOTIFY_CONNECTIONS``). Messages name the
connection id, never its password or URI.
"""

from __future__ import annotations

import sys
from typing import Any


class ConnectionConfigError(ValueError):
    """An Airflow Connection cannot be used; the message names it (never its secret)."""


def airflow_connection(conn_id: str, *, required: bool) -> Any | None:
    """The Airflow Connection ``conn_id`` (an ``airflow.sdk.Connection``), or ``None`` if optional and absent.

    Parameters
    ----------
    conn_id : str
        Airflow connection id, e.g. ``envmon_influx``.
    required : bool
        Whether a person asked for this connection (absence is then an error); see the module table.

    Raises
    ------
    ConnectionConfigError
        Required and not defined, or the lookup itself failed.
    """
    if not required and "airflow.sdk" not in sys.modules:
        return None
    try:
        # deferred: Airflow is heavy and only present inside the scheduler's processes and the tests
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError as exc:  # pragma: no cover - Airflow is a dependency of this project
        raise ConnectionConfigError(f"Airflow connection {conn_id!r} needed but Airflow is not importable: "
                                    f"{exc}") from None
    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        if required:
            raise ConnectionConfigError(f"Airflow connection {conn_id!r} is not defined") from None
        return None
    except Exception as exc:  # noqa: BLE001 - secrets backend down, access denied …: never "unconfigured"
        raise ConnectionConfigError(f"Airflow connection {conn_id!r} cannot be read: "
                                    f"{type(exc).__name__}") from None
