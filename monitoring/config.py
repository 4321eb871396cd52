"""Runtime configuration, read from environment variables (never from the repository).

=============================  =====================================================================
variable                       meaning (default)
=============================  =====================================================================
``ENVMON_INFLUX_URL``          InfluxDB base URL for the v1 HTTP API (unset → a managed local influxd)
``ENVMON_INFLUX_DB``           database / bucket name (``envmon``)
``ENVMON_INFLUX_TOKEN``        token (InfluxDB 2.x/3 v1-compat auth, sent as ``Authorization: Token``)
``ENVMON_INFLUX_USER``         user for v1 basic auth (with ``ENVMON_INFLUX_PASSWORD``)
``ENVMON_DB_URL``              SQLAlchemy URL of the relational store (``sqlite:///$DATA_DIR/envmon.sqlite``)
``ENVMON_DATA_DIR``            spool, quarantine, landing files, records, outputs
                               (``$XDG_DATA_HOME/envmon`` or ``~/.local/share/envmon``)
``ENVMON_REGISTRY``            site registry YAML (the packaged county registry)
``ENVMON_LIMITS_OVERRIDE``     local limit override file (EIA approval / permit values), optional
``ENVMON_INSPECTORS``          inspector directory YAML (the packaged example directory)
``ENVMON_ROSTER_RULES``        double-random rules YAML (the packaged county rules)
``ENVMON_HOLIDAYS``            local holiday file for years the calendar package does not know, optional
``ENVMON_MAX_LANDING_MB``      largest lab / ledger file ingest reads, MB (``50``); larger ones are refused
``ENVMON_CONSOLE_SECRET``      key signing the console's session and CSRF cookies (unset → a random key kept
                               in ``$DATA_DIR/console-secret``, mode 0600, made on first use)
``ENVMON_CONSOLE_HTTPS``       ``1`` when the console is served behind HTTPS: cookies get ``Secure`` (``0``)
``ENVMON_SAFETY_PLANS``        plants' safety-plan alarm settings (the packaged simulated examples)
``ENVMON_SAFETY_NOTIFY_URLS``  apprise URLs for safety alarms (default: ``ENVMON_NOTIFY_URLS``);
                               ``ENVMON_SAFETY_ESCALATE_URLS`` for second-level escalation (default: the
                               same), ``ENVMON_SAFETY_ESCALATE_MINUTES`` unacknowledged first level (10),
                               ``ENVMON_SAFETY_MIN_INTERVAL_S`` seconds between two sends (0)
``ENVMON_ENFORCEMENT_HISTORY`` enforcement cases and credit ratings YAML for 双随机 risk weights (the
                               packaged example file)
``ENVMON_PUBLIC_URL``          the console's address; messages link to ``{url}/console/incidents/<id>`` (``http://localhost:8000``)
``ENVMON_NOTIFY_URLS``         apprise URLs of the alert channels, separated by spaces, commas or new
                               lines (none)
``ENVMON_NOTIFY_CONNECTIONS``  Airflow Connection ids whose extra ``url`` is an apprise URL (none)
``ENVMON_NOTIFY_RETRY``        apprise retries inside one send (1)
``ENVMON_NOTIFY_MIN_INTERVAL_S``  seconds between two sends to one channel (apprise's default)
``ENVMON_NOTIFY_DIGEST_MINUTES``  digest interval of incident updates, minutes (360)
``ENVMON_INCIDENT_MIN_MINUTES``   summed exceedance before an incident opens, minutes (60)
``ENVMON_INCIDENT_CLEAR_AFTER``   consecutive compliant windows that clear it (3)
``ENVMON_INCIDENT_ESCALATE_HOURS``  unacknowledged this long → escalate, h (4)
``ENVMON_INCIDENT_MAX_ESCALATIONS``  escalation levels at most (3)
``ENVMON_INCIDENT_LONG_HOURS``    summed exceedance that raises the severity one level, h (24)
``ENVMON_DEADMAN_FACTOR``      silence longer than interval_s × factor → data missing (3)
``ENVMON_DEADMAN_DELAY_S``     allowance for the pipeline's delay on top of interval × factor, s (300)
``ENVMON_DEADMAN_RECOVER_MINUTES``  data back this long before a data-missing incident clears (10)
``ENVMON_DEADMAN_DIGEST_MINUTES``  a point's "数据恢复" waits at most this long, bundled with the others
                               in one "数据恢复汇总" message (15)
``ENVMON_DEADMAN_GROUP_SHARE``  share of a cluster's points silent together → one cluster/county incident (0.5)
``ENVMON_REPORT_REVIEW_DAY``   day of the next month until which a monthly report is preliminary (the
                               bureau's data-review deadline; ``10``): on and after it reports are final
=============================  =====================================================================

This module is the only reader of ``ENVMON_*`` variables: every other module takes a :class:`Settings`
(or the values it needs) as a parameter. A malformed value raises :class:`SettingsError` naming the
variable.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sensors.timezone import LOCAL_TZ  # noqa: F401  (re-exported; defined in sensors/, which reads device times)

PACKAGE_DATA = Path(__file__).resolve().parent / "data"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "envmon"


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used; the message names the variable."""


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def _env_number(name: str, default: float, *, minimum: float = 0.0) -> float:
    """A finite number ≥ ``minimum`` from ``name``; unset or blank → ``default``."""
    value = _env_optional_number(name, minimum=minimum)
    return default if value is None else value


def _env_optional_number(name: str, *, minimum: float = 0.0) -> float | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"environment variable {name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < minimum:
        raise SettingsError(f"environment variable {name}={raw!r} must be a finite number ≥ {minimum:g}")
    return value


def _env_list(name: str) -> tuple[str, ...]:
    """Items separated by spaces, commas or new lines (apprise URLs, Connection ids)."""
    return tuple(u for u in re.split(r"[\s,]+", os.environ.get(name) or "") if u)
def _env_int(name: str, default: int, low: int, high: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: not an integer") from None
    if not low <= number <= high:
        raise ValueError(f"{name}={number}: must be between {low} and {high}")
    return number


#: ``envmon serve``'s default address: where links point when ``ENVMON_PUBLIC_URL`` is unset.
DEFAULT_CONSOLE_URL = "http://localhost:8000"


@dataclass(frozen=True)
class Settings:
    """A snapshot of the configuration. Build with :func:`load_settings`."""

    data_dir: Path
    influx_url: str | None = None
    influx_db: str = "envmon"
    influx_token: str | None = field(default=None, repr=False)
    influx_user: str | None = None
    influx_password: str | None = field(default=None, repr=False)
    db_url: str | None = None
    registry_path: Path = PACKAGE_DATA / "registry.yaml"
    limits_override: Path | None = None
    inspectors_path: Path = PACKAGE_DATA / "inspectors.yaml"
    roster_rules_path: Path = PACKAGE_DATA / "roster_rules.yaml"
    holidays_path: Path | None = None
    max_landing_mb: float = 50.0
    console_secret: str | None = field(default=None, repr=False)
    console_https: bool = False
    safety_plans_path: Path = PACKAGE_DATA / "safety_plans.yaml"
    # safety alarms (monitoring.safety): own channels, escalation after ``safety_escalate`` unacknowledged
    safety_notify_urls: tuple[str, ...] = field(default=(), repr=False)
    safety_escalate_urls: tuple[str, ...] = field(default=(), repr=False)
    safety_escalate: timedelta = timedelta(minutes=10)
    safety_min_interval_s: float = 0.0
    enforcement_history_path: Path = PACKAGE_DATA / "enforcement_history.yaml"
    # messages and links
    public_url: str | None = None        # None: the console on this machine (DEFAULT_CONSOLE_URL)
    notify_urls: tuple[str, ...] = field(default=(), repr=False)   # apprise URLs carry secrets
    notify_connections: tuple[str, ...] = ()
    notify_retry: int = 1
    notify_min_interval_s: float | None = None
    notify_digest: timedelta = timedelta(minutes=360)
    # incident rules (monitoring.incidents)
    incident_min_duration: timedelta = timedelta(minutes=60)
    incident_clear_after: int = 3
    incident_escalate_after: timedelta = timedelta(hours=4)
    incident_max_escalations: int = 3
    incident_long_duration: timedelta = timedelta(hours=24)
    deadman_factor: float = 3.0
    deadman_delay_s: float = 300.0
    deadman_recover: timedelta = timedelta(minutes=10)
    deadman_digest: timedelta = timedelta(minutes=15)
    deadman_group_share: float = 0.5
    report_review_day: int = 10

    @property
    def console_url(self) -> str:
        """Base of every link a message or report gives a person: ``ENVMON_PUBLIC_URL``, else the
        console that ``envmon serve`` / ``envmon up`` run on this machine (:data:`DEFAULT_CONSOLE_URL`)."""
        return (self.public_url or DEFAULT_CONSOLE_URL).rstrip("/")

    @property
    def sql_url(self) -> str:
        """``ENVMON_DB_URL``, else the SQLite file ``$ENVMON_DATA_DIR/envmon.sqlite``."""
        return self.db_url or f"sqlite:///{self.data_dir / 'envmon.sqlite'}"

    # Directory layout under ENVMON_DATA_DIR -------------------------------------------------------
    @property
    def spool_dir(self) -> Path:
        """Durable spool of acknowledged HJ 212 packets, one file per receiver segment."""
        return self.data_dir / "spool"

    @property
    def landing_dir(self) -> Path:
        """Drop folder for lab CSV/XLSX results and hazardous-waste ledgers, one sub-folder per zone."""
        return self.data_dir / "landing"

    @property
    def quarantine_dir(self) -> Path:
        """Rejected input with its reason, never deleted automatically."""
        return self.data_dir / "quarantine"

    @property
    def write_spool_dir(self) -> Path:
        """Validated readings whose InfluxDB write failed; retried on every ingest run."""
        return self.data_dir / "write-spool"

    @property
    def records_dir(self) -> Path:
        """Run records: ingest reports, quality summaries."""
        return self.data_dir / "records"

    @property
    def quality_dir(self) -> Path:
        """One JSON summary per ingest batch from :func:`monitoring.quality.write_summary`."""
        return self.records_dir / "quality"

    @property
    def rosters_dir(self) -> Path:
        """双随机 draw records (one JSON per draw)."""
        return self.data_dir / "rosters"

    @property
    def reports_dir(self) -> Path:
        """Generated reports (monthly compliance PDFs)."""
        return self.data_dir / "reports"

    @property
    def public_dir(self) -> Path:
        """What may be published (双随机、一公开 results, public reports)."""
        return self.data_dir / "public"

    @property
    def public_reports_dir(self) -> Path:
        """Public versions of the monthly reports (``<YYYY-MM>/<scope>/report.{pdf,html}``)."""
        return self.public_dir / "reports"

    @property
    def evidence_dir(self) -> Path:
        """Attachments of incident handling (photos, letters): private, served to staff only."""
        return self.data_dir / "evidence"

    def ensure_dirs(self) -> Settings:
        """Create every directory of the layout (idempotent); returns ``self``."""
        for d in (self.data_dir, self.spool_dir, self.landing_dir, self.quarantine_dir,
                  self.write_spool_dir, self.records_dir, self.rosters_dir, self.reports_dir,
                  self.public_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self


def load_settings(**overrides: object) -> Settings:
    """Read the environment; keyword arguments override single fields (used by tests and the demo)."""
    values: dict[str, object] = {
        "data_dir": _env_path("ENVMON_DATA_DIR") or _default_data_dir(),
        "influx_url": os.environ.get("ENVMON_INFLUX_URL") or None,
        "influx_db": os.environ.get("ENVMON_INFLUX_DB") or "envmon",
        "influx_token": os.environ.get("ENVMON_INFLUX_TOKEN") or None,
        "influx_user": os.environ.get("ENVMON_INFLUX_USER") or None,
        "influx_password": os.environ.get("ENVMON_INFLUX_PASSWORD") or None,
        "db_url": os.environ.get("ENVMON_DB_URL") or None,
        "limits_override": _env_path("ENVMON_LIMITS_OVERRIDE"),
        "holidays_path": _env_path("ENVMON_HOLIDAYS"),
        "max_landing_mb": _env_number("ENVMON_MAX_LANDING_MB", 50.0),
        "console_secret": os.environ.get("ENVMON_CONSOLE_SECRET") or None,
        "console_https": os.environ.get("ENVMON_CONSOLE_HTTPS", "0").strip().lower() in ("1", "true", "yes"),
        "public_url": (os.environ.get("ENVMON_PUBLIC_URL") or "").rstrip("/") or None,
        "notify_urls": _env_list("ENVMON_NOTIFY_URLS"),
        "notify_connections": _env_list("ENVMON_NOTIFY_CONNECTIONS"),
        "notify_retry": int(_env_number("ENVMON_NOTIFY_RETRY", 1)),
        "notify_min_interval_s": _env_optional_number("ENVMON_NOTIFY_MIN_INTERVAL_S"),
        "notify_digest": timedelta(minutes=_env_number("ENVMON_NOTIFY_DIGEST_MINUTES", 360)),
        "incident_min_duration": timedelta(minutes=_env_number("ENVMON_INCIDENT_MIN_MINUTES", 60)),
        "incident_clear_after": int(_env_number("ENVMON_INCIDENT_CLEAR_AFTER", 3, minimum=1)),
        "incident_escalate_after": timedelta(hours=_env_number("ENVMON_INCIDENT_ESCALATE_HOURS", 4)),
        "incident_max_escalations": int(_env_number("ENVMON_INCIDENT_MAX_ESCALATIONS", 3)),
        "incident_long_duration": timedelta(hours=_env_number("ENVMON_INCIDENT_LONG_HOURS", 24)),
        "deadman_factor": _env_number("ENVMON_DEADMAN_FACTOR", 3.0),
        "deadman_delay_s": _env_number("ENVMON_DEADMAN_DELAY_S", 300.0),
        "deadman_recover": timedelta(minutes=_env_number("ENVMON_DEADMAN_RECOVER_MINUTES", 10)),
        "deadman_digest": timedelta(minutes=_env_number("ENVMON_DEADMAN_DIGEST_MINUTES", 15)),
        "deadman_group_share": _env_number("ENVMON_DEADMAN_GROUP_SHARE", 0.5),
        "safety_notify_urls": _env_list("ENVMON_SAFETY_NOTIFY_URLS") or _env_list("ENVMON_NOTIFY_URLS"),
        "safety_escalate_urls": _env_list("ENVMON_SAFETY_ESCALATE_URLS"),
        "safety_escalate": timedelta(minutes=_env_number("ENVMON_SAFETY_ESCALATE_MINUTES", 10)),
        "safety_min_interval_s": _env_number("ENVMON_SAFETY_MIN_INTERVAL_S", 0.0),
        "report_review_day": _env_int("ENVMON_REPORT_REVIEW_DAY", 10, 1, 28),
    }
    for name, attr in (("ENVMON_REGISTRY", "registry_path"), ("ENVMON_INSPECTORS", "inspectors_path"),
                       ("ENVMON_ROSTER_RULES", "roster_rules_path"),
                       ("ENVMON_SAFETY_PLANS", "safety_plans_path"),
                       ("ENVMON_ENFORCEMENT_HISTORY", "enforcement_history_path")):
        p = _env_path(name)
        if p:
            values[attr] = p
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
