"""The filing benchmark's request: one citizen filing one routed grievance."""

from __future__ import annotations

import json
from typing import Any

CITIZEN_MOBILE = "+919900000001"
CATEGORY_CODE = "UDD-ULB-SWM-GARB-DOOR"
BOUNDARY_CODE = "KA-BLR-BBMP-W150"

MUTATION = (
    "mutation F($input: FileGrievanceInput!) { fileGrievance(input: $input) "
    "{ grievance { registrationNumber } errors { field message } } }"
)
FILING_INPUT: dict[str, Any] = {
    "description": "Garbage has not been collected from our lane for a week.",
    "categoryCode": CATEGORY_CODE,
    "boundaryCode": BOUNDARY_CODE,
}


def request_body() -> bytes:
    """The body both servers get: the hub's GraphQL request, byte for byte."""
    return json.dumps({"query": MUTATION, "variables": {"input": FILING_INPUT}}).encode()
