"""The monthly reports on disk, as the console lists them (written by the reports module, issue 11).

Layout read here: ``$ENVMON_DATA_DIR/reports/<YYYY-MM>/<scope>/`` with ``summary.json`` (``status``
preliminary | final, ``version``, ``issued_at``, per-zone / per-enterprise cards with their ``status``)
and the files ``report.pdf``, ``report.html``, ``points.csv``, ``emissions.csv``, ``exceedances.csv``;
public versions in ``$ENVMON_DATA_DIR/public/<YYYY-MM>/<scope>/report.{pdf,html}``. A scope is
``county``, a zone id, or ``<zone>/<enterprise>``. Every issued version is kept under
``<scope>/versions/v<N>/`` (the same files) and listed in ``<scope>/issue.json``
(:mod:`monitoring.reports.versions`). Only files of these names are ever served, and only from inside those
folders.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from monitoring.reports.period import MONTH, STATUS_ZH

STAFF_FILES = ("report.pdf", "report.html", "points.csv", "emissions.csv", "exceedances.csv", "summary.json")
PUBLIC_FILES = ("report.pdf", "report.html")
SCOPE = re.compile(r"^[a-z][a-z0-9_]*(/[A-Z0-9-]+)?$")


@dataclass(frozen=True)
class ReportEntry:
    month: str
    scope: str
    status: str
    version: int | None
    issued_at: str | None
    files: tuple[str, ...]
    public_files: tuple[str, ...]
    summary: dict
    kept: int = 0                     # issued versions kept under versions/ (issue.json)

    @property
    def status_zh(self) -> str:
        return STATUS_ZH.get(self.status, self.status)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def list_reports(reports_dir: Path, public_dir: Path) -> list[ReportEntry]:
    """Every report scope of every month, newest month first."""
    out: list[ReportEntry] = []
    if not reports_dir.exists():
        return out
    for month_dir in sorted((p for p in reports_dir.iterdir() if p.is_dir() and MONTH.match(p.name)),
                            key=lambda p: p.name, reverse=True):
        for summary_path in sorted(month_dir.glob("**/summary.json")):
            scope = summary_path.parent.relative_to(month_dir).as_posix()
            if "versions" in scope.split("/") or not SCOPE.match(scope):
                continue
            s = _read(summary_path)
            files = tuple(f for f in STAFF_FILES if (summary_path.parent / f).is_file())
            pub = public_dir / month_dir.name / scope
            public_files = tuple(f for f in PUBLIC_FILES if (pub / f).is_file())
            kept = len(_read(summary_path.parent / "issue.json").get("versions") or [])
            out.append(ReportEntry(month_dir.name, scope, str(s.get("status", "")), s.get("version"),
                                   s.get("issued_at"), files, public_files, s, kept))
    return out


def report_file(root: Path, month: str, scope: str, name: str, allowed: tuple[str, ...], *,
                scope_check: str | None = None) -> Path | None:
    """The file ``root/month/scope/name`` when every part is well-formed and it exists, else None.
    ``scope_check``: the scope validated instead of ``scope`` (a kept version's folder inside it)."""
    if not (MONTH.match(month) and SCOPE.match(scope_check or scope) and name in allowed):
        return None
    path = (root / month / scope / name).resolve()
    if root.resolve() not in path.parents or not path.is_file():
        return None
    return path


@dataclass(frozen=True)
class VersionEntry:
    """One issued version of a scope's report: what ``issue.json`` and ``versions/v<N>/summary.json`` say."""

    number: int
    status: str
    issued_at: str | None
    data_version: str
    changes: tuple[dict, ...]          # what changed against the version before (field, old → new)
    files: tuple[str, ...]

    @property
    def status_zh(self) -> str:
        return STATUS_ZH.get(self.status, self.status)


def report_versions(reports_dir: Path, month: str, scope: str) -> list[VersionEntry] | None:
    """Every issued version of one scope, newest first; None when the month or scope is malformed or has no
    report."""
    if not (MONTH.match(month) and SCOPE.match(scope)):
        return None
    folder = reports_dir / month / scope
    issue = _read(folder / "issue.json")
    if not (folder / "summary.json").is_file() and not issue:
        return None
    out = []
    for entry in issue.get("versions") or []:
        try:
            number = int(entry["version"])
        except (KeyError, TypeError, ValueError):
            continue
        vdir = folder / "versions" / f"v{number}"
        summary = _read(vdir / "summary.json")
        out.append(VersionEntry(number, str(entry.get("status", summary.get("status", ""))), entry.get("issued_at"),
                                str(entry.get("data_version", "")), tuple(summary.get("changes") or ()),
                                tuple(f for f in STAFF_FILES if (vdir / f).is_file())))
    return sorted(out, key=lambda v: v.number, reverse=True)


def version_file(reports_dir: Path, month: str, scope: str, number: int, name: str) -> Path | None:
    """The kept file ``<month>/<scope>/versions/v<number>/<name>`` when well-formed and present, else None."""
    if number < 1:
        return None
    return report_file(reports_dir, month, f"{scope}/versions/v{number}", name, STAFF_FILES,
                       scope_check=scope)


def public_reports(reports_dir: Path, public_dir: Path) -> list[ReportEntry]:
    """Final reports that have a public version (preliminary ones are never public)."""
    return [r for r in list_reports(reports_dir, public_dir) if r.status == "final" and r.public_files]


def enterprise_status(reports: list[ReportEntry], code: str) -> list[tuple[str, str]]:
    """(month, compliance status) of one enterprise from the cards of final reports, newest first."""
    out: dict[str, str] = {}
    for r in reports:
        if r.status != "final":
            continue
        for card in r.summary.get("enterprises") or []:
            if code in (card.get("enterprise"), card.get("key"), card.get("code")) and card.get("status"):
                out.setdefault(r.month, str(card["status"]))
    return sorted(out.items(), reverse=True)
