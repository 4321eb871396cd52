"""What the adapters need to know about the site: the shape of a registry, as a :class:`typing.Protocol`.

The lab and ledger readers, the HJ 212 readings decoder and the simulator attach zone, enterprise and
kind to each reading from the site registry. The registry itself (validation of
``monitoring/data/registry.yaml``) belongs to ``monitoring/``; ``sensors/`` only states what it uses, so
the layers point one way (``monitoring.registry.Registry`` satisfies :class:`SiteRegistry` structurally,
checked by ``tests/sensors/test_site.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

import pandas as pd


class SitePoint(Protocol):
    """A monitoring point as the adapters read it (kind-specific fields such as ``day_start`` of noise
    points are read with :func:`getattr` where a kind has them)."""

    id: str
    zone: str
    enterprise: str | None
    kind: str
    online: bool
    mn: str | None
    pw: str | None
    interval_s: int          # expected reporting interval, s
    parameters: list[str]    # HJ 212-2017 codes measured here


class SiteEnterprise(Protocol):
    code: str
    zone: str
    hw_class: str            # HJ 1259-2022 hazardous-waste management class


class SiteZone(Protocol):
    id: str


@runtime_checkable
class SiteRegistry(Protocol):
    """The look-ups of the site registry that ``sensors/`` uses."""

    @property
    def enterprises(self) -> Mapping[str, SiteEnterprise]:
        """Enterprises by code."""

    @property
    def by_mn(self) -> Mapping[str, SitePoint]:
        """Online points by their HJ 212 MN."""

    def point(self, point_id: str) -> SitePoint:
        """A point by id; :class:`KeyError` naming it when unknown."""

    def find_zone(self, text: str) -> SiteZone:
        """A zone by id, Chinese name or pinyin; :class:`KeyError` when unknown."""

    def points_of(self, zone: str | None = None, kind: str | Iterable[str] | None = None,
                  enterprise: str | None = None, online: bool | None = None) -> list[SitePoint]:
        """Points matching every given filter."""

    def points_frame(self) -> pd.DataFrame:
        """One row per point (``id``, ``zone``, ``enterprise``, ``kind``, … ``parameters`` comma-joined)."""
