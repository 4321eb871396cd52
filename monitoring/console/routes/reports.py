"""``/console/reports`` (staff: every version, download) and ``/public/reports`` (final, public versions)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from monitoring.console.reports_index import (
    PUBLIC_FILES,
    STAFF_FILES,
    list_reports,
    public_reports,
    report_file,
)
from monitoring.console.views import OfficeReader, console, render

router = APIRouter()


@router.get("/console/reports")
def reports_page(request: Request, user: OfficeReader):
    s = console(request).settings
    return render(request, "reports.html", {"reports": list_reports(s.reports_dir, s.public_dir)})


@router.get("/console/reports/{month}/{scope:path}/{name}")
def report_download(request: Request, user: OfficeReader, month: str, scope: str, name: str):
    path = report_file(console(request).settings.reports_dir, month, scope, name, STAFF_FILES)
    if path is None:
        return render(request, "error.html", {"title": "文件不存在", "message": ""}, status_code=404)
    return FileResponse(path, filename=f"{month}-{scope.replace('/', '-')}-{name}", content_disposition_type="attachment")


@router.get("/public/reports")
def public_reports_page(request: Request):
    s = console(request).settings
    return render(request, "public/reports.html", {"reports": public_reports(s.reports_dir, s.public_dir)})


@router.get("/public/reports/{month}/{scope:path}/{name}")
def public_report_download(request: Request, month: str, scope: str, name: str):
    s = console(request).settings
    final = {(r.month, r.scope) for r in public_reports(s.reports_dir, s.public_dir)}
    path = report_file(s.public_dir, month, scope, name, PUBLIC_FILES) if (month, scope) in final else None
    if path is None:
        return render(request, "error.html", {"title": "文件不存在", "message": ""}, status_code=404)
    return FileResponse(path, filename=f"{month}-{scope.replace('/', '-')}-{name}", content_disposition_type="attachment")
