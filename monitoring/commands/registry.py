"""``envmon registry show``: the site registry as tables (or JSON)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from monitoring.config import load_settings
from monitoring.registry import Registry, RegistryError, load_registry

app = typer.Typer(help="The site registry: clusters, enterprises, monitoring points.", no_args_is_help=True)


def _load(console: Console) -> Registry:
    settings = load_settings()
    try:
        return load_registry(settings.registry_path)
    except RegistryError as exc:
        console.print(f"[bold red]registry error[/] ({settings.registry_path}):", highlight=False)
        console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None


def _mask_pw(point: dict, show: bool) -> dict:
    """A point's JSON with its HJ 212 PW as ``******`` unless ``--show-secrets`` (issue 9, item 5)."""
    if point.get("pw") and not show:
        point["pw"] = "******"
    return point


def _limits_attrs(p) -> str:
    """The attributes that decide which limit applies to a point."""
    kind = p.kind
    if kind == "stack":
        return f"h={p.height_m:g} m" + ("" if p.above_buildings else ", not ≥5 m above buildings")
    if kind == "noise":
        return (f"class {p.zone_class}, {p.noise_type}, day {p.day_start:%H:%M} / night {p.night_start:%H:%M}")
    if kind in ("wastewater", "plant_effluent"):
        return f"{p.standard} grade {p.grade} → {p.receiving}"
    if kind == "hw_store":
        return f"{p.capacity_t:g} t" + (" temporary (≤ 3 t)" if p.temporary else "")
    return ""


def _interval(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


@app.command()
def show(
    zone: Annotated[str | None, typer.Option("--zone", "-z", help="zone id, Chinese name or pinyin")] = None,
    kind: Annotated[str | None, typer.Option("--kind", "-k", help="point kind, e.g. stack, noise")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    show_secrets: Annotated[bool, typer.Option("--show-secrets",
                                               help="print device PWs (masked as ****** otherwise)")] = False,
) -> None:
    """Show zones, enterprises and monitoring points (optionally of one zone / one point kind)."""
    console = Console()
    reg = _load(console)
    zone_id: str | None = None
    if zone:
        try:
            zone_id = reg.find_zone(zone).id
        except KeyError as exc:
            console.print(f"[red]{exc.args[0]}[/]")
            raise typer.Exit(2) from None
    kinds = sorted({p.kind for p in reg.points.values()})
    if kind and kind not in kinds:
        console.print(f"[red]unknown point kind {kind!r}; known: {', '.join(kinds)}[/]")
        raise typer.Exit(2)
    zones = [z for z in reg.zones.values() if zone_id in (None, z.id)]
    enterprises = reg.enterprises_of(zone_id)
    points = reg.points_of(zone=zone_id, kind=kind)

    if as_json:
        payload = {
            "source": reg.source,
            "zones": [z.model_dump(mode="json") for z in zones],
            "enterprises": [e.model_dump(mode="json") for e in enterprises],
            "points": [_mask_pw(p.model_dump(mode="json"), show_secrets) for p in points],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return

    zt = Table(title=f"Zones ({reg.source})")
    for col in ("id", "name", "town", "area 亩", "elevation m", "lead industries", "sewage plant",
                "enterprises", "points (online)", "parameter series"):
        zt.add_column(col)
    for z in zones:
        zp = reg.points_of(zone=z.id)
        online = [p for p in zp if p.online]
        zt.add_row(z.id, f"{z.name_zh} {z.pinyin}", z.town, f"{z.area_mu:g}",
                   f"{z.elevation_m[0]:g}–{z.elevation_m[1]:g}", "、".join(z.industries), z.sewage_plant or "",
                   str(len(reg.enterprises_of(z.id))), f"{len(zp)} ({len(online)})",
                   str(sum(len(p.parameters) for p in online)))
    console.print(zt)

    if not kind:
        et = Table(title=f"Enterprises ({len(enterprises)})")
        for col in ("code", "name", "industry", "category", "HW class", "flags", "points"):
            et.add_column(col)
        for e in enterprises:
            flags = [f for f, on in (("positive list", e.positive_list), ("commitment exempt", e.commitment_exempt),
                                     ("simulated", e.example)) if on]
            et.add_row(e.code, e.name, e.industry, e.category, e.hw_class, ", ".join(flags),
                       str(len(reg.points_of(enterprise=e.code))))
        console.print(et)

    pt = Table(title=f"Points ({len(points)}, online {sum(p.online for p in points)})")
    for col in ("id", "kind", "enterprise", "parameters", "MN", "interval", "limit attributes"):
        pt.add_column(col, overflow="fold")
    for p in points:
        pt.add_row(p.id, p.kind, p.enterprise or "—", " ".join(p.parameters),
                   p.mn if p.online else "offline", _interval(p.interval_s), _limits_attrs(p))
    console.print(pt)
