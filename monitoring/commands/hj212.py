"""``envmon hj212``: HJ 212 protocol tools (no registry, no database)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer

from sensors.hj212 import Packet, Rejected, decode_lines, packet_values
from sensors.hj212.packet import nonstandard_fields

app = typer.Typer(help="HJ 212 (2005/2017/2025) protocol tools.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """HJ 212 (2005/2017/2025) protocol tools: pure protocol, no registry, no database."""


def _value(raw: str) -> float | str:
    """The value as a JSON number, or the raw text when it is not a finite number."""
    try:
        v = float(raw)
    except ValueError:
        return raw
    return v if math.isfinite(v) else raw


def reading_objects(pkt: Packet) -> list[dict]:
    """One JSON-ready object per pollutant value field of ``pkt``."""
    dt = pkt.data_time.isoformat() if pkt.data_time else None
    out = []
    for code, fld, raw, flag in packet_values(pkt):
        obj = {"mn": pkt.mn, "st": pkt.st, "cn": pkt.cn, "qn": pkt.qn, "data_time": dt, "code": code,
               "field": fld, "value": _value(raw), "flag": flag, "version": pkt.version}
        if code in pkt.sent_codes:
            obj["sent_code"] = pkt.sent_codes[code]
        eflag = pkt.cp[code].get("EFlag")
        if eflag is not None:
            obj["eflag"] = eflag
        out.append(obj)
    return out


@app.command()
def decode(
    file: Annotated[str, typer.Argument(help="file with one packet per line; '-' = stdin")] = "-",
) -> None:
    """Decode HJ 212 packets, one per line: one JSON object per reading on stdout, rejects on stderr.

    Exit status 0 when every packet was valid, 2 when any line was rejected.
    """
    if file == "-":
        stream = sys.stdin.buffer
    else:
        try:
            stream = Path(file).open("rb")  # noqa: SIM115 (closed by the with below)
        except OSError as exc:
            typer.echo(f"{file}: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
    bad = 0
    out = sys.stdout
    with stream:
        for n, item in decode_lines(stream):
            if isinstance(item, Rejected):
                bad += 1
                typer.echo(f"line {n}: {item.reason}", err=True)
                continue
            odd = nonstandard_fields(item)
            if odd:        # kept in the packet, not read as values: say so (HJ 212 does not define them)
                typer.echo(f"line {n}: non-standard field(s) not read: {', '.join(odd)}", err=True)
            for obj in reading_objects(item):
                if isinstance(obj["value"], str):
                    bad += 1
                    typer.echo(f"line {n}: {obj['code']}-{obj['field']}: non-numeric value "
                               f"{obj['value']!r}", err=True)
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    out.flush()
    raise typer.Exit(2 if bad else 0)


if __name__ == "__main__":  # ``python -m monitoring.commands.hj212 decode FILE``
    app()
