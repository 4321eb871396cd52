"""``/console/complaints`` — the public's submissions and their handling (operator), read by leaders."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from monitoring.complaints import (
    PUBLIC_STATUS,
    ComplaintError,
    complaints_frame,
    get_submission,
    handle_public,
    public_submissions,
)
from monitoring.console.views import Handler, OfficeReader, console, render

router = APIRouter(prefix="/console/complaints")


@router.get("")
def complaints_list(request: Request, user: OfficeReader, show: str = "open"):
    c = console(request)
    subs = public_submissions(c.sql_url, open_only=(show != "all"))
    recorded = complaints_frame(c.sql_url)
    counts = recorded[recorded["substantiated"]].groupby("enterprise").size().sort_values(ascending=False) \
        if not recorded.empty else None
    evidence = [(code, c.registry.enterprises[code].name if code in c.registry.enterprises else code, int(n))
                for code, n in (counts.items() if counts is not None else [])]
    return render(request, "complaints.html", {"subs": subs, "show": show, "status_names": PUBLIC_STATUS,
                                               "evidence": evidence})


def _page(request: Request, submission_id: int, error: str | None = None, status_code: int = 200):
    c = console(request)
    try:
        sub = get_submission(c.sql_url, submission_id)
    except ComplaintError as exc:
        return render(request, "error.html", {"title": "投诉不存在", "message": str(exc)}, status_code=404)
    return render(request, "complaint.html", {"sub": sub, "status_names": PUBLIC_STATUS, "error": error,
                                              "enterprises": sorted(c.registry.enterprises.values(),
                                                                    key=lambda e: e.code)},
                  status_code=status_code)


@router.get("/{submission_id}")
def complaint_page(request: Request, user: OfficeReader, submission_id: int):
    return _page(request, submission_id)


@router.post("/{submission_id}")
def handle(request: Request, user: Handler, submission_id: int, status: str = Form(...), answer: str = Form(""),
           internal_note: str = Form(""), enterprise: str = Form(""), substantiated: str = Form("")):
    c = console(request)
    subst = {"yes": True, "no": False}.get(substantiated)
    try:
        handle_public(c.sql_url, submission_id, by=user.name, status=status, answer=answer or None,
                      internal_note=internal_note or None, enterprise=enterprise or None, substantiated=subst,
                      known_enterprises=set(c.registry.enterprises))
    except ComplaintError as exc:
        return _page(request, submission_id, error=str(exc), status_code=409)
    return RedirectResponse(f"/console/complaints/{submission_id}", status_code=303)
