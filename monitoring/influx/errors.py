"""Errors of the InfluxDB client; every one names the server's message."""

from __future__ import annotations

#: 4xx answers that mean "this data is bad" (1.x: 400; 2.x: 400/422) as opposed to configuration
#: problems (401/403 credentials, 404 database not found, 413 body too large) that a retry may fix.
_BAD_DATA_STATUSES = frozenset({400, 422})


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------
class InfluxError(RuntimeError):
    """Base class of the store's errors."""


class InfluxNotConfigured(InfluxError):
    """``ENVMON_INFLUX_URL`` is not set."""


class InfluxUnavailable(InfluxError):
    """The server could not be reached, or kept answering 429/5xx, after all retries."""


class InfluxWriteError(InfluxError):
    """The server answered a write with a 4xx status.

    ``status``: HTTP status; ``message``: the server's error text; ``first_line``: the first line of the
    batch the error refers to; ``lines_before``: lines of the same call written before this batch.
    ``bad_data`` is true for 400/422 (the lines themselves are wrong: syntax, field type conflict);
    false for 401/403/404/413 (credentials, missing database) where the data may be written later.
    """

    def __init__(self, status: int, message: str, first_line: str | None, lines_before: int = 0):
        self.status, self.message, self.first_line, self.lines_before = status, message, first_line, \
            lines_before
        super().__init__(f"InfluxDB rejected a write (HTTP {status}): {message}"
                         + (f"; first offending line: {first_line!r}" if first_line else ""))

    @property
    def bad_data(self) -> bool:
        return self.status in _BAD_DATA_STATUSES


class InfluxQueryError(InfluxError):
    """The server rejected a query (syntax, unknown database, …); the message is the server's."""
