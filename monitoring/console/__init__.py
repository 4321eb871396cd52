"""The bureau's console and the public site (issue 12): FastAPI + Jinja2 + vendored htmx.

* :mod:`monitoring.console.app` — the application factory (:func:`create_app`), sessions, CSRF,
  security headers.
* :mod:`monitoring.console.users` — users, roles, argon2 hashes, login throttling.
* :mod:`monitoring.console.views` — role checks, rendering, filters (local time).
* :mod:`monitoring.console.routes` — one router per area: ``auth`` (/login, /logout, /healthz, /),
  ``public`` (/public/…), ``overview``, ``incidents``, ``complaints``, ``admin`` (/console/…).

``envmon serve`` runs it with uvicorn; ``envmon users`` manages the accounts.
"""

from monitoring.console.app import create_app

__all__ = ["create_app"]
