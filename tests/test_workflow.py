"""The workflow table is data; the engine names the state and the allowed actions."""

from __future__ import annotations

import pytest

from hub.enums import Action, GrievanceStatus, Role
from hub.workflow import TABLE, IllegalAction, allowed_actions, check

S = GrievanceStatus
CITIZEN = frozenset({Role.CITIZEN})
GRO = frozenset({Role.GRO})


def test_every_action_has_exactly_one_row() -> None:
    assert sorted(t.action for t in TABLE) == sorted(Action)


def test_filing_lands_in_triage_or_with_a_named_officer() -> None:
    assert check(Action.FILE, None, CITIZEN) == S.PENDING_ASSIGNMENT
    assert check(Action.FILE, None, CITIZEN, target=S.ASSIGNED) == S.ASSIGNED
    with pytest.raises(IllegalAction):
        check(Action.FILE, None, CITIZEN, target=S.CLOSED)


def test_wrong_state_names_the_state_and_what_is_allowed() -> None:
    with pytest.raises(IllegalAction) as caught:
        check(Action.RATE, S.ASSIGNED, CITIZEN)
    assert caught.value.state == S.ASSIGNED
    assert "RATE is not allowed from this state (state ASSIGNED)" in str(caught.value)
    assert "allowed: COMMENT" in str(caught.value)


def test_wrong_role_is_refused() -> None:
    with pytest.raises(IllegalAction, match="for this role"):
        check(Action.ASSIGN, S.PENDING_ASSIGNMENT, CITIZEN)
    assert check(Action.ASSIGN, S.PENDING_ASSIGNMENT, GRO) == S.ASSIGNED


def test_comment_and_escalate_keep_the_state() -> None:
    assert check(Action.COMMENT, S.RESOLVED, CITIZEN) == S.RESOLVED
    assert check(Action.ESCALATE, S.ASSIGNED, frozenset({Role.SYSTEM})) == S.ASSIGNED
    with pytest.raises(IllegalAction):
        check(Action.ESCALATE, S.CLOSED, frozenset({Role.SYSTEM}))


def test_allowed_actions_for_a_gro_in_triage() -> None:
    assert set(allowed_actions(S.PENDING_ASSIGNMENT, GRO)) == {
        Action.ASSIGN,
        Action.REASSIGN,
        Action.TRANSFER,
        Action.REJECT,
        Action.COMMENT,
    }
