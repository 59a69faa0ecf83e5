"""Taxonomy queries: the public catalogue citizens and front-ends choose from."""

from __future__ import annotations

import strawberry

from hub.services import taxonomy as service
from schema.permissions import Allow
from schema.types import Category, Department


@strawberry.type
class TaxonomyQuery:
    @strawberry.field(
        permission_classes=[Allow.anyone()], description="Active departments, by code."
    )
    async def departments(self) -> list[Department]:
        return [Department(row=row) for row in await service.active_departments()]

    @strawberry.field(
        permission_classes=[Allow.anyone()],
        description="Active categories under a parent (or a department's top level).",
    )
    async def categories(
        self, department_code: str | None = None, parent_code: str | None = None
    ) -> list[Category]:
        rows = await service.active_categories(department_code, parent_code)
        return [Category(row=row) for row in rows]
