"""Expected failures of the domain: they name the field, a code and the problem."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str


class DomainError(Exception):
    """A request the domain refuses; nothing was written."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))

    @classmethod
    def one(cls, field: str, code: str, message: str) -> DomainError:
        return cls([FieldError(field, code, message)])


def nul_problems(fields: dict[str, str | None]) -> list[FieldError]:
    """Text no database should store (PostgreSQL cannot): a NUL byte, named by field."""
    return [
        FieldError(name, "invalid", "Has a NUL byte; send text only.")
        for name, value in fields.items()
        if value and "\x00" in value
    ]
