"""``/console/reports`` (staff: every version, download, regeneration) and ``/public/reports`` (final,
public versions). Regeneration (operators only, CSRF-protected like every POST) queues
:func:`monitoring.console.report_jobs.request`: the report code issues a new version when the data or the
status changed, and the request is recorded with who asked and what came of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse

from monitoring.config import LOCAL_TZ
from monitoring.console.reports_index import (
    PUBLIC_FILES,
    STAFF_FILES,
    list_reports,
    public_reports,
    report_file,
    report_versions,
    version_file,
)
from monitoring.console.views import Handler, OfficeReader, console, render

router = APIRouter()


@router.get("/console/reports")
def reports_page(request: Request, user: OfficeReader, error: str | None = None, status_code: int = 200):
    from monitoring.console.report_jobs import history

    s = console(request).settings
    first = datetime.now(UTC).astimezone(LOCAL_TZ).date().replace(day=1)
    months = [first.strftime("%Y-%m"), (first - timedelta(days=1)).strftime("%Y-%m")]   # this and last month
    return render(request, "reports.html", {
        "reports": list_reports(s.reports_dir, s.public_reports_dir), "jobs": history(s), "error": error,
        "months": months, "zones": console(request).registry.zones.values()}, status_code=status_code)


@router.post("/console/reports/regenerate")
def regenerate(request: Request, user: Handler, month: Annotated[str, Form()], scope: Annotated[str, Form()]):
    """Queue a regeneration (a new version is issued when the data or the status changed)."""
    from monitoring.console.report_jobs import RegenerationError
    from monitoring.console.report_jobs import request as queue

    try:
        queue(console(request).settings, month.strip(), scope.strip(), by=user.name)
    except RegenerationError as exc:
        return reports_page(request, user, error=str(exc), status_code=409)
    return RedirectResponse("/console/reports", status_code=303)


# the two version routes before the download route: its {scope:path} would take ".../versions" as a scope
@router.get("/console/reports/{month}/{scope:path}/versions")
def report_versions_page(request: Request, user: OfficeReader, month: str, scope: str):
    """Every issued version of one report, newest first, each with what changed and its files."""
    from monitoring.reports.content import Names, changes_zh

    versions = report_versions(console(request).settings.reports_dir, month, scope)
    if versions is None:
        return render(request, "error.html", {"title": "报告不存在", "message": ""}, status_code=404)
    names = Names(console(request).registry)
    changes = {v.number: changes_zh(list(v.changes), names) for v in versions}   # worded as in the PDF
    return render(request, "report_versions.html", {"month": month, "scope": scope, "versions": versions,
                                                    "changes": changes})


@router.get("/console/reports/{month}/{scope:path}/versions/{number}/{name}")
def report_version_download(request: Request, user: OfficeReader, month: str, scope: str, number: str, name: str):
    path = (version_file(console(request).settings.reports_dir, month, scope, int(number), name)
            if number.isdigit() else None)
    if path is None:
        return render(request, "error.html", {"title": "文件不存在", "message": ""}, status_code=404)
    return FileResponse(path, filename=f"{month}-{scope.replace('/', '-')}-v{number}-{name}",
                        content_disposition_type="attachment")


@router.get("/console/reports/{month}/{scope:path}/{name}")
def report_download(request: Request, user: OfficeReader, month: str, scope: str, name: str):
    path = report_file(console(request).settings.reports_dir, month, scope, name, STAFF_FILES)
    if path is None:
        return render(request, "error.html", {"title": "文件不存在", "message": ""}, status_code=404)
    return FileResponse(path, filename=f"{month}-{scope.replace('/', '-')}-{name}", content_disposition_type="attachment")


@router.get("/public/reports")
def public_reports_page(request: Request):
    s = console(request).settings
    return render(request, "public/reports.html", {"reports": public_reports(s.reports_dir, s.public_reports_dir)})


@router.get("/public/reports/{month}/{scope:path}/{name}")
def public_report_download(request: Request, month: str, scope: str, name: str):
    s = console(request).settings
    final = {(r.month, r.scope) for r in public_reports(s.reports_dir, s.public_reports_dir)}
    path = report_file(s.public_reports_dir, month, scope, name, PUBLIC_FILES) if (month, scope) in final else None
    if path is None:
        return render(request, "error.html", {"title": "文件不存在", "message": ""}, status_code=404)
    return FileResponse(path, filename=f"{month}-{scope.replace('/', '-')}-{name}", content_disposition_type="attachment")
