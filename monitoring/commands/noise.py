"""``envmon noise assess``: one boundary-noise measurement against GB 12348-2008."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer

from limits.catalogue import load_catalogue
from monitoring.compliance.noise import assess_noise
from monitoring.config import load_settings

app = typer.Typer(help="Boundary noise (GB 12348-2008).", no_args_is_help=True)


class Period(str, Enum):
    day = "day"
    night = "night"


class Kind(str, Enum):
    frequent = "frequent"
    sporadic = "sporadic"


@app.command("assess")
def assess(zone_class: Annotated[int, typer.Option("--class", min=0, max=4, help="acoustic zone class 0–4")],
           period: Annotated[Period, typer.Option(help="day (06–22) or night (22–06)")],
           leq: Annotated[float, typer.Option(help="measured Leq, dB(A)")],
           background: Annotated[float | None, typer.Option(help="background Leq, dB(A)")] = None,
           lmax: Annotated[float | None, typer.Option(help="night Lmax, dB(A)")] = None,
           kind: Annotated[Kind, typer.Option(help="frequent or sporadic noise (for Lmax)")] = Kind.frequent,
           indoor: Annotated[bool, typer.Option(help="measured indoors: boundary < 1 m from a noise-sensitive "
                                                     "building, limit 表1 − 10 dB(A) (4.1.5)")] = False) -> None:
    """Judge one measured Leq (of a representative period: one clock hour for continuous monitoring,
    GB 12348-2008 §5.5) with the §5.9 background correction (raw difference first). Prints JSON: limit,
    corrected_leq, verdict (compliant/exceeds/invalid), reason, Lmax result."""
    try:
        catalogue = load_catalogue(load_settings().limits_override)
        result = assess_noise(catalogue, zone_class, period.value, leq, background, lmax, kind.value,
                              indoor=indoor)
    except (KeyError, ValueError) as exc:
        typer.echo(f"error: {exc.args[0] if exc.args else exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
