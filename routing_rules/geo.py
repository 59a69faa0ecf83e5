"""Boundary geometry: GeoJSON checks, point in polygon and a locator.

Pure code: no database and no shapely. Positions are GeoJSON's
``[longitude, latitude]``; the public functions take ``(lat, lon)`` as people
say them. Polygons are ray-cast after a bounding-box test, which is plenty for
ward-sized shapes. A point exactly on an edge may fall either side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Ring = tuple[tuple[float, float], ...]
Polygon = tuple[Ring, ...]  # the outer ring, then its holes
Box = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat
GEOMETRY_TYPES = ("Polygon", "MultiPolygon")
KIND_ORDER = ("state", "district", "city", "ward", "locality")
_MAX_PROBLEMS = 10


def geometry_problems(value: Any) -> list[tuple[str, str]]:
    """``(path inside the geometry, problem)`` for each way ``value`` is not a valid GeoJSON
    Polygon or MultiPolygon: rings closed, at least 4 positions, lon/lat in range."""
    if not isinstance(value, Mapping):
        return [("", "must be a GeoJSON object with 'type' and 'coordinates'")]
    problems: list[tuple[str, str]] = []
    for key in value:
        if key not in ("type", "coordinates"):
            problems.append((str(key), "not allowed: a geometry has only 'type' and 'coordinates'"))
    kind = value.get("type")
    coordinates = value.get("coordinates")
    if kind not in GEOMETRY_TYPES:
        problems.append(("type", f"must be 'Polygon' or 'MultiPolygon' (got {kind!r})"))
    elif coordinates is None:
        problems.append(("coordinates", "missing"))
    elif kind == "Polygon":
        _polygon_problems(coordinates, "coordinates", problems)
    elif not _is_list(coordinates) or not coordinates:
        problems.append(("coordinates", "must be a non-empty list of polygons"))
    else:
        for index, polygon in enumerate(coordinates):
            _polygon_problems(polygon, f"coordinates.{index}", problems)
    if len(problems) > _MAX_PROBLEMS:
        more = len(problems) - _MAX_PROBLEMS
        problems = [*problems[:_MAX_PROBLEMS], ("", f"... and {more} more problem(s)")]
    return problems


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _polygon_problems(rings: Any, where: str, problems: list[tuple[str, str]]) -> None:
    if not _is_list(rings) or not rings:
        problems.append((where, "must be a non-empty list of rings (the outer ring, then holes)"))
        return
    for index, ring in enumerate(rings):
        _ring_problems(ring, f"{where}.{index}", problems)


def _ring_problems(ring: Any, where: str, problems: list[tuple[str, str]]) -> None:
    if not _is_list(ring):
        problems.append((where, "must be a list of [longitude, latitude] positions"))
        return
    if len(ring) < 4:
        problems.append((where, f"a ring needs at least 4 positions (got {len(ring)})"))
    valid = True
    for index, position in enumerate(ring):
        at = f"{where}.{index}"
        if not _is_list(position) or len(position) not in (2, 3):
            problems.append((at, "must be [longitude, latitude] (optionally with altitude)"))
            valid = False
        elif not all(_is_number(n) for n in position):
            problems.append((at, f"must hold numbers (got {list(position)!r})"))
            valid = False
        else:
            lon, lat = position[0], position[1]
            if not -180 <= lon <= 180:
                problems.append((at, f"longitude {lon} is outside -180..180"))
                valid = False
            if not -90 <= lat <= 90:
                problems.append((at, f"latitude {lat} is outside -90..90"))
                valid = False
    if valid and len(ring) >= 4 and list(ring[0][:2]) != list(ring[-1][:2]):
        problems.append((where, "ring is not closed: the last position must equal the first"))


def polygons(geometry: Mapping[str, Any]) -> tuple[Polygon, ...]:
    """The polygons of a valid Polygon or MultiPolygon, as tuples of (lon, lat)."""
    coordinates: Any = geometry["coordinates"]
    raw = [coordinates] if geometry["type"] == "Polygon" else list(coordinates)
    return tuple(
        tuple(tuple((float(p[0]), float(p[1])) for p in ring) for ring in polygon)
        for polygon in raw
    )


def bounding_box(rings: Iterable[Ring]) -> Box:
    lons = [p[0] for ring in rings for p in ring]
    lats = [p[1] for ring in rings for p in ring]
    return (min(lons), min(lats), max(lons), max(lats))


def in_ring(lon: float, lat: float, ring: Sequence[tuple[float, float]]) -> bool:
    """Ray casting: an eastward ray from the point crosses the ring's edges an odd number of
    times exactly when the point is inside."""
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def in_polygon(lon: float, lat: float, polygon: Polygon) -> bool:
    outer, *holes = polygon
    return in_ring(lon, lat, outer) and not any(in_ring(lon, lat, hole) for hole in holes)


def contains(geometry: Mapping[str, Any], lat: float, lon: float) -> bool:
    """Whether a valid Polygon/MultiPolygon contains the point (holes excluded)."""
    return _Shape.of(geometry).contains(lon, lat)


@dataclass(frozen=True)
class _Shape:
    parts: tuple[tuple[Box, Polygon], ...]
    box: Box

    @classmethod
    def of(cls, geometry: Mapping[str, Any]) -> _Shape:
        parts = tuple((bounding_box(p[:1]), p) for p in polygons(geometry))
        boxes = [box for box, _ in parts]
        whole = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        return cls(parts, whole)

    def contains(self, lon: float, lat: float) -> bool:
        if not _in_box(lon, lat, self.box):
            return False
        return any(_in_box(lon, lat, box) and in_polygon(lon, lat, p) for box, p in self.parts)


def _in_box(lon: float, lat: float, box: Box) -> bool:
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


@dataclass(frozen=True)
class Area:
    code: str
    kind: str
    depth: int
    shape: _Shape


class Locator:
    """Which boundary a lat/long lies in: the deepest (most specific) one containing it.

    Built from ``(code, kind, depth, geometry)``; boundaries without geometry are skipped.
    Ties at one depth go to the finer kind, then the smaller code, so answers are stable.
    """

    def __init__(
        self, boundaries: Iterable[tuple[str, str, int, Mapping[str, Any] | None]]
    ) -> None:
        areas = [
            Area(code, kind, depth, _Shape.of(geometry))
            for code, kind, depth, geometry in boundaries
            if geometry
        ]
        areas.sort(key=lambda a: (-a.depth, -_kind_rank(a.kind), a.code))
        self.areas: tuple[Area, ...] = tuple(areas)

    def __len__(self) -> int:
        return len(self.areas)

    def locate(self, lat: float, lon: float) -> str | None:
        for area in self.areas:  # deepest first: the first hit is the most specific
            if area.shape.contains(lon, lat):
                return area.code
        return None

    def containing(self, lat: float, lon: float) -> list[str]:
        """Every boundary containing the point, most specific first."""
        return [a.code for a in self.areas if a.shape.contains(lon, lat)]


def _kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else -1
