"""Quarantine: where rejected input goes, with its reason, so that nothing is lost silently.

Layout: ``$ENVMON_DATA_DIR/quarantine/<zone>/<batch>.jsonl`` — one JSON object per rejected item::

    {"batch": "...", "origin": "spool/jiangkou/20261122-…ready:17", "stage": "decode",
     "reason": "bad CRC: expected 1C80, got 4B37", "raw": "##0101QN=…"}

``origin`` names the file and line (or packet) the item came from; ``stage`` is the pipeline step
that rejected it (decode, readings, units, quality, lab, ledger). Rows of a readings frame that fail
a check are written with their columns under ``row``. Files are appended, fsync'd, never pruned by envmon.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


def _raw_text(raw: bytes | str | None) -> dict[str, str]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        return {"raw": raw}
    try:
        return {"raw": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"raw_base64": base64.b64encode(raw).decode("ascii")}


@dataclass
class Quarantine:
    """Collects rejects of one ingest batch and writes them in one go (:meth:`flush`)."""

    root: Path
    zone: str
    batch: str
    reasons: Counter = field(default_factory=Counter)
    _items: list[dict] = field(default_factory=list)

    def add(self, *, stage: str, origin: str, reason: str, raw: bytes | str | None = None) -> None:
        self._items.append({"batch": self.batch, "origin": origin, "stage": stage, "reason": reason,
                            **_raw_text(raw)})
        self.reasons[f"{stage}: {_reason_key(reason)}"] += 1

    def add_rows(self, rows: pd.DataFrame, *, stage: str, reason_column: str = "reason",
                 origin: str = "batch") -> None:
        """Quarantine readings rows; each row keeps all its columns and its reason."""
        if rows.empty:
            return
        records = json.loads(rows.drop(columns=[reason_column]).to_json(orient="records", date_format="iso"))
        for rec, reason in zip(records, rows[reason_column].astype(str), strict=True):
            self._items.append({"batch": self.batch, "origin": origin, "stage": stage, "reason": reason,
                                "row": rec})
            self.reasons[f"{stage}: {_reason_key(reason)}"] += 1

    def __len__(self) -> int:
        return len(self._items)

    @property
    def path(self) -> Path:
        return self.root / self.zone / f"{self.batch}.jsonl"

    def flush(self) -> Path | None:
        """Append everything collected to the batch file and fsync it. Returns the path (None if empty)."""
        if not self._items:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            for item in self._items:
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self._items.clear()
        return self.path


def _reason_key(reason: str) -> str:
    """The reason without its specifics (numbers after a colon), for counting: 'bad CRC', 'value out of range'."""
    return reason.split(":", 1)[0].strip()[:80]
