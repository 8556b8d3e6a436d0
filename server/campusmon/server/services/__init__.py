"""The service layer: one module per resource, shared by the HTTP API, the console and the CLI.

Services take and return typed objects (frozen dataclasses); no caller writes SQL. Every write takes
the acting person (`Actor`) and leaves an audit entry in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_PER_PAGE = 200


class NotFound(LookupError):
    """The resource asked for does not exist."""


class Invalid(ValueError):
    """The request cannot be carried out as asked (bad value, forbidden transition); says why."""


class Conflict(ValueError):
    """The request clashes with the current state (an open ticket for the same problem)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who does something: a console user, an API token's user, a teacher, the system."""

    name: str
    role: str = "system"
    client: str = ""

    @property
    def label(self) -> str:
        """How history rows name them: `user:alice`, `teacher:王老师`."""
        return self.name if ":" in self.name else f"user:{self.name}"


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int = 1
    per_page: int = 50

    def __post_init__(self) -> None:
        if self.page < 1 or not 1 <= self.per_page <= MAX_PER_PAGE:
            raise Invalid(f"page must be >= 1 and per_page between 1 and {MAX_PER_PAGE}")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))
