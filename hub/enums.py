"""The domain's vocabularies, shared by models, the workflow engine and GraphQL."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    WEB = "web"
    APP = "app"
    WHATSAPP = "whatsapp"
    CALL_CENTRE = "call_centre"
    CSC = "csc"
    CPGRAMS = "cpgrams"
    SMS = "sms"
    EMAIL = "email"
    DEPARTMENT = "department"


class GrievanceStatus(StrEnum):
    TRIAGE = "TRIAGE"  # no confident category yet: a GRO chooses one
    PENDING_ASSIGNMENT = "PENDING_ASSIGNMENT"
    ASSIGNED = "ASSIGNED"
    REASSIGN_REQUESTED = "REASSIGN_REQUESTED"
    FORWARDED = "FORWARDED"
    RESOLVED = "RESOLVED"
    REJECTED = "REJECTED"
    CLOSED = "CLOSED"


OPEN_STATUSES = frozenset(
    {
        GrievanceStatus.TRIAGE,
        GrievanceStatus.PENDING_ASSIGNMENT,
        GrievanceStatus.ASSIGNED,
        GrievanceStatus.REASSIGN_REQUESTED,
        GrievanceStatus.FORWARDED,
    }
)


class Action(StrEnum):
    FILE = "FILE"
    ROUTE = "ROUTE"  # the hub chose the category from the citizen's words
    CATEGORISE = "CATEGORISE"  # a GRO chose the category of a grievance in triage
    ASSIGN = "ASSIGN"
    REASSIGN = "REASSIGN"
    REQUEST_REASSIGN = "REQUEST_REASSIGN"
    TRANSFER = "TRANSFER"
    REJECT = "REJECT"
    FORWARD = "FORWARD"
    RESOLVE = "RESOLVE"
    REOPEN = "REOPEN"
    RATE = "RATE"
    AUTO_CLOSE = "AUTO_CLOSE"
    APPEAL = "APPEAL"
    ESCALATE = "ESCALATE"
    COMMENT = "COMMENT"


class Role(StrEnum):
    CITIZEN = "citizen"
    OPERATOR = "operator"
    GRO = "gro"
    LME = "lme"
    NODAL_OFFICER = "nodal_officer"
    HOD = "hod"
    LEADERSHIP = "leadership"
    ADMIN = "admin"
    DEPARTMENT_SYSTEM = "department_system"
    PORTAL = "portal"
    SYSTEM = "system"


class UserKind(StrEnum):
    CITIZEN = "citizen"
    EMPLOYEE = "employee"
    SERVICE = "service"


class BoundaryKind(StrEnum):
    STATE = "state"
    DISTRICT = "district"
    CITY = "city"
    WARD = "ward"
    LOCALITY = "locality"


class OutboxStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERING = "DELIVERING"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"


class SyncState(StrEnum):
    PENDING = "PENDING"
    SYNCED = "SYNCED"
    FAILED = "FAILED"
    HELD = "HELD"
