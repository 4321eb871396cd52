"""Local delivery sinks for notification tests: a real SMTP server and a real HTTP server.

Both listen on a free port of 127.0.0.1 and keep what they received, so tests assert on the bytes a
channel actually delivered. Both can be stopped and started again on the *same* port to simulate a
relay or webhook that is down for a while.

* :class:`SmtpSink` — :class:`aiosmtpd.controller.Controller` with a handler that parses each DATA into
  an :class:`email.message.EmailMessage` (subject and body decoded, so Chinese text compares as text).
* :class:`HttpSink` — :class:`http.server.ThreadingHTTPServer` capturing every POST body (``json``
  decoded when possible); ``status`` sets the HTTP status it answers with (e.g. 500 to make sends fail).
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from aiosmtpd.controller import Controller

from monitoring.services import free_port


# ---------------------------------------------------------------------------------------------------
# SMTP
# ---------------------------------------------------------------------------------------------------
@dataclass
class ReceivedMail:
    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def text(self) -> str:
        """The decoded text of every text/* part, joined."""
        parts = [p.get_content() for p in self.message.walk()
                 if p.get_content_maintype() == "text" and not p.is_multipart()]
        return "\n".join(parts)


class _MailHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        self.sink.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"


class SmtpSink:
    """A local SMTP relay (no TLS, no auth) on ``127.0.0.1:port``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[ReceivedMail] = []
        self._controller: Controller | None = None

    def start(self) -> SmtpSink:
        self._controller = Controller(_MailHandler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        """The apprise URL delivering to this sink (plain SMTP, no login)."""
        return (f"mailto://127.0.0.1:{self.port}?mode=insecure"
                f"&from=envmon@example.org&to=duty@example.org&name=envmon")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------------
# HTTP webhook
# ---------------------------------------------------------------------------------------------------
@dataclass
class ReceivedPost:
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = field(default=None)
    at: float = field(default_factory=time.monotonic)   # when the POST arrived (latency benchmarks)


class HttpSink:
    """A local webhook on ``127.0.0.1:port`` capturing POST bodies; answers ``status`` (200)."""

    def __init__(self, port: int | None = None, status: int = 200) -> None:
        self.port = port or free_port()
        self.status = status
        self.posts: list[ReceivedPost] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    parsed = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    parsed = None
                if sink.status < 400:
                    sink.posts.append(ReceivedPost(self.path, dict(self.headers.items()), body, parsed))
                self.send_response(sink.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if sink.status < 400 else b'{"ok": false}')

            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

        return Handler

    def start(self) -> HttpSink:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """The apprise generic JSON webhook URL delivering to this sink."""
        return f"json://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
