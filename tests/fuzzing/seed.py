"""Data for a fuzzed hub, written in this child process (the test process's ORM is bound to
the suite's own database): ``prepare`` adds the demo officers, citizens and grievances and
prints what a fuzzer can aim at; ``tokens`` signs the fuzzing actors in afresh (access
tokens live 15 minutes at most). Settings come from the environment, as ``hub serve``
reads them, so the tokens are signed with the server's key. One JSON object on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from hub import db, demo
from hub.jobs import InProcessRunner
from hub.models import Boundary, Department, Grievance, Office, TaxonomyNode, User
from hub.runtime import Runtime
from hub.services import signin
from hub.services.audit import Origin
from hub.settings import Settings, load_settings

# who the fuzzer acts as (demo users: see hub/demo.py); "anonymous" sends no token
ACTORS = {
    "citizen": "+919900000001",
    "operator": "+919800000003",
    "gro": "+919700030003",  # UDD's GRO at its headquarters
    "lme": "+919700030004",
    "leadership": "+919800000001",
    "admin": "+919800000002",
}


async def _tokens(settings: Settings) -> dict[str, str]:
    tokens = {}
    for actor, mobile in ACTORS.items():
        user = await User.get(mobile=mobile)
        pair = await signin.open_session(settings, user, "otp", Origin(ip="127.0.0.1"))
        tokens[actor] = pair.access_token
    return tokens


async def _targets() -> dict[str, list[Any]]:
    """Values that exist, for arguments a fuzzer would otherwise never guess."""
    return {
        "registration_numbers": await Grievance.all()
        .order_by("id")
        .values_list("registration_number", flat=True),
        "user_ids": await User.all().order_by("id").limit(40).values_list("id", flat=True),
        "mobiles": await User.all().order_by("id").limit(40).values_list("mobile", flat=True),
        "department_codes": await Department.all().values_list("code", flat=True),
        "category_codes": await TaxonomyNode.all()
        .order_by("id")
        .limit(60)
        .values_list("code", flat=True),
        "boundary_codes": await Boundary.all().order_by("id").values_list("code", flat=True),
        "office_codes": await Office.all().values_list("code", flat=True),
    }


async def main(command: str) -> dict[str, Any]:
    settings = load_settings()
    runner = InProcessRunner(settings)
    rt = Runtime(settings=settings, jobs=runner)
    await db.connect(settings)
    try:
        await db.require_migrated()
        if command == "prepare":
            # the jobs these filings queue (notifications) are left undelivered
            await demo.create_demo_data(rt)
            return {"targets": await _targets()}
        return {"tokens": await _tokens(settings)}
    finally:
        await db.disconnect()


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in {"prepare", "tokens"}:
        sys.exit("usage: python -m tests.fuzzing.seed prepare|tokens")
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
