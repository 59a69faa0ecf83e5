"""The redressal workflow as data, and the one engine that reads it.

Each row says which action moves a grievance from which states to which,
and who may take it. Services ask ``check`` before they change anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.enums import OPEN_STATUSES, Action, GrievanceStatus, Role

S = GrievanceStatus
R = Role


@dataclass(frozen=True)
class Transition:
    action: Action
    sources: frozenset[GrievanceStatus | None]  # None: the grievance does not exist yet
    targets: tuple[GrievanceStatus, ...]  # first is the default; () keeps the state
    roles: frozenset[Role]


def _t(
    action: Action,
    sources: Iterable[GrievanceStatus | None],
    targets: tuple[GrievanceStatus, ...],
    roles: set[Role],
) -> Transition:
    return Transition(action, frozenset(sources), targets, frozenset(roles | {R.SYSTEM}))


_TRIAGE = (S.PENDING_ASSIGNMENT, S.REASSIGN_REQUESTED)
_ANSWERED = (S.RESOLVED, S.REJECTED)
_OFFICERS = {R.GRO, R.LME, R.NODAL_OFFICER, R.HOD}
_EVERYONE = {
    R.CITIZEN,
    R.OPERATOR,
    R.DEPARTMENT_SYSTEM,
    R.PORTAL,
    R.LEADERSHIP,
    R.ADMIN,
    *_OFFICERS,
}

TABLE: tuple[Transition, ...] = (
    _t(
        Action.FILE,
        (None,),
        (S.PENDING_ASSIGNMENT, S.ASSIGNED, S.TRIAGE),
        {R.CITIZEN, R.OPERATOR, R.PORTAL, R.DEPARTMENT_SYSTEM},
    ),
    _t(Action.ROUTE, (S.TRIAGE,), (S.PENDING_ASSIGNMENT, S.ASSIGNED), set()),
    _t(Action.CATEGORISE, (S.TRIAGE,), (S.PENDING_ASSIGNMENT, S.ASSIGNED), {R.GRO, R.ADMIN}),
    _t(Action.ASSIGN, _TRIAGE, (S.ASSIGNED,), {R.GRO}),
    _t(Action.REASSIGN, _TRIAGE, (S.ASSIGNED,), {R.GRO}),
    _t(Action.REQUEST_REASSIGN, (S.ASSIGNED,), (S.REASSIGN_REQUESTED,), {R.LME}),
    _t(Action.TRANSFER, _TRIAGE, (S.PENDING_ASSIGNMENT,), {R.GRO}),
    _t(Action.REJECT, (*_TRIAGE, S.TRIAGE), (S.REJECTED,), {R.GRO}),
    _t(Action.FORWARD, (S.ASSIGNED, S.PENDING_ASSIGNMENT), (S.FORWARDED,), set()),
    _t(Action.RESOLVE, (S.ASSIGNED, S.FORWARDED), (S.RESOLVED,), {R.LME, R.DEPARTMENT_SYSTEM}),
    _t(Action.REOPEN, _ANSWERED, (S.PENDING_ASSIGNMENT,), {R.CITIZEN, R.OPERATOR}),
    _t(Action.RATE, _ANSWERED, (S.CLOSED,), {R.CITIZEN}),
    _t(Action.AUTO_CLOSE, _ANSWERED, (S.CLOSED,), set()),
    _t(Action.APPEAL, (S.CLOSED,), (S.PENDING_ASSIGNMENT,), {R.CITIZEN}),
    _t(Action.ESCALATE, OPEN_STATUSES, (), {R.NODAL_OFFICER, R.HOD}),
    _t(Action.COMMENT, (*S, None), (), _EVERYONE),
)

_BY_ACTION = {t.action: t for t in TABLE}


class IllegalAction(Exception):
    """An action the table does not allow from this state or for this actor."""

    def __init__(
        self, action: Action, state: GrievanceStatus | None, allowed: list[Action], reason: str
    ) -> None:
        self.action = action
        self.state = state
        self.allowed = allowed
        self.reason = reason
        shown = state.value if state else "new"
        super().__init__(
            f"{action.value} is not allowed {reason} (state {shown}); "
            f"allowed: {', '.join(a.value for a in allowed) or 'none'}"
        )

    @property
    def denies_the_actor(self) -> bool:
        """A refusal of who is asking (role or scope), not of the grievance's state."""
        return self.reason == "for this role" or self.reason.startswith("on ")


def allowed_actions(state: GrievanceStatus | None, roles: frozenset[Role]) -> list[Action]:
    return [t.action for t in TABLE if state in t.sources and not t.roles.isdisjoint(roles)]


def check(
    action: Action,
    state: GrievanceStatus | None,
    roles: frozenset[Role],
    target: GrievanceStatus | None = None,
) -> GrievanceStatus | None:
    """Return the state after ``action``, or raise ``IllegalAction``.

    ``target`` picks one of the row's targets (FILE lands in ASSIGNED when routing
    names the officer); ``None`` means the default.
    """
    row = _BY_ACTION[action]
    if state not in row.sources:
        raise IllegalAction(action, state, allowed_actions(state, roles), "from this state")
    if row.roles.isdisjoint(roles):
        raise IllegalAction(action, state, allowed_actions(state, roles), "for this role")
    if not row.targets:
        return state
    if target is None:
        return row.targets[0]
    if target not in row.targets:
        raise IllegalAction(action, state, allowed_actions(state, roles), f"into {target.value}")
    return target
