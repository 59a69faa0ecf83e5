"""SLA: due dates on the state's working-day calendar, pendency buckets, colours.

A category's SLA is in days. With ``HUB_WORKING_DAY_SLA`` (the default) they
are working days of the state's calendar (``hub/calendars/<STATE>.yaml``:
weekly offs, the Saturdays of the month that are off, and holidays); the due
moment keeps the filing's time of day, in IST. A state without a calendar
file counts Sundays off only.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

from hub.enums import OPEN_STATUSES, GrievanceStatus
from hub.models import Grievance
from hub.settings import Settings

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
CALENDARS = Path(__file__).resolve().parent.parent / "calendars"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# a calendar with every day off would never reach a due date
_MAX_SCAN_DAYS = 3660


class Pendency(StrEnum):
    UNDER_7_DAYS = "UNDER_7_DAYS"
    DAYS_7_TO_15 = "DAYS_7_TO_15"
    DAYS_15_TO_30 = "DAYS_15_TO_30"
    OVER_30_DAYS = "OVER_30_DAYS"


class SlaColour(StrEnum):
    GREEN = "GREEN"  # in time
    AMBER = "AMBER"  # three quarters of the SLA gone
    RED = "RED"  # past due


AMBER_FROM = 0.75
# days since filing: [from, until); None: no end
PENDENCY_DAYS: tuple[tuple[Pendency, int, int | None], ...] = (
    (Pendency.UNDER_7_DAYS, 0, 7),
    (Pendency.DAYS_7_TO_15, 7, 15),
    (Pendency.DAYS_15_TO_30, 15, 30),
    (Pendency.OVER_30_DAYS, 30, None),
)


@dataclass(frozen=True)
class Calendar:
    state: str
    weekly_off: frozenset[int]  # 0 = Monday
    saturdays_off: frozenset[int]  # which Saturdays of the month (1-5) are off
    holidays: frozenset[dt.date]

    def is_working_day(self, day: dt.date) -> bool:
        if day.weekday() in self.weekly_off or day in self.holidays:
            return False
        return not (day.weekday() == 5 and (day.day - 1) // 7 + 1 in self.saturdays_off)

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """The moment ``days`` working days after ``start``, at the same time of day."""
        local = start.astimezone(IST)
        day, counted = local.date(), 0
        for _ in range(_MAX_SCAN_DAYS):
            if counted == days:
                break
            day += dt.timedelta(days=1)
            counted += self.is_working_day(day)
        else:
            raise ValueError(f"calendar {self.state} has no {days} working days in 10 years")
        return dt.datetime.combine(day, local.timetz()).astimezone(dt.UTC)


class CalendarError(ValueError):
    pass


@functools.cache
def calendar_for(state: str) -> Calendar:
    path = CALENDARS / f"{state}.yaml"
    if not path.is_file():
        return Calendar(state, frozenset({6}), frozenset(), frozenset())
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        weekly = frozenset(_WEEKDAYS.index(str(d).lower()) for d in raw.get("weekly_off", []))
        saturdays = frozenset(int(n) for n in raw.get("saturdays_off", []))
        holidays = frozenset(_date(d) for d in (raw.get("holidays") or {}))
    except (ValueError, TypeError) as exc:
        raise CalendarError(f"{path}: {exc}") from None
    if not saturdays <= {1, 2, 3, 4, 5}:
        raise CalendarError(f"{path}: saturdays_off: must be numbers 1-5")
    return Calendar(state, weekly, saturdays, holidays)


def _date(value: object) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def due_at(settings: Settings, start: dt.datetime, days: int) -> dt.datetime:
    if settings.working_day_sla:
        return calendar_for(settings.state_code).add_working_days(start, days)
    return start + dt.timedelta(days=days)


def pendency(filed_at: dt.datetime, now: dt.datetime) -> Pendency:
    age = (now - filed_at).total_seconds() / 86400
    return next(b for b, _, until in PENDENCY_DAYS if until is None or age < until)


def colour(filed_at: dt.datetime, due: dt.datetime | None, now: dt.datetime) -> SlaColour:
    if due is None:
        return SlaColour.GREEN
    if now > due:
        return SlaColour.RED
    span = (due - filed_at).total_seconds()
    if span <= 0 or (now - filed_at).total_seconds() / span >= AMBER_FROM:
        return SlaColour.AMBER
    return SlaColour.GREEN


def colour_of(grievance: Grievance, now: dt.datetime) -> SlaColour | None:
    """An open grievance's colour, on the clock it now runs on; None once answered."""
    if GrievanceStatus(grievance.status) not in OPEN_STATUSES:
        return None
    return colour(grievance.clock_started_at or grievance.created_at, grievance.due_at, now)
