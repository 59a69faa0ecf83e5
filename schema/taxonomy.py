"""Taxonomy queries: the public catalogue citizens and front-ends choose from."""

from __future__ import annotations

import strawberry

from hub.models import Department as DepartmentRow
from hub.models import TaxonomyNode
from schema.types import Category, Department


@strawberry.type
class TaxonomyQuery:
    @strawberry.field(description="Active departments, by code.")
    async def departments(self) -> list[Department]:
        rows = await DepartmentRow.filter(active=True).order_by("code")
        return [Department(row=row) for row in rows]

    @strawberry.field(description="Active categories under a parent (or a department's top level).")
    async def categories(
        self, department_code: str | None = None, parent_code: str | None = None
    ) -> list[Category]:
        query = TaxonomyNode.filter(active=True)
        if parent_code is not None:
            query = query.filter(parent__code=parent_code)
        else:
            query = query.filter(parent_id=None)
        if department_code is not None:
            query = query.filter(department__code=department_code)
        return [Category(row=row) for row in await query.order_by("code").limit(500)]
