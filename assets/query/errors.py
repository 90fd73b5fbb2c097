"""The one error of the device query language: a sentence for people, the column it points at and the token."""

from __future__ import annotations

from typing import Any


class QueryError(ValueError):
    """A query that cannot be run. `column` is 1-based (what an editor shows); `token` is the text it points at."""

    def __init__(self, message: str, *, column: int, token: str) -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.token = token

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "position": self.column, "token": self.token}
