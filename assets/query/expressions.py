"""A typed comparison of one attribute in a device's JSON, for PostgreSQL and SQLite.

The JSON value is cast only when its JSON type is the one compared (a CASE evaluates the cast only then),
so a device whose attribute is missing, or holds another type, is simply not matched, never a database
error; COALESCE makes that "false" rather than NULL, so NOT of the comparison is its exact complement.
The identifier and the value are bound parameters; the operator comes from a fixed table.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import NotSupportedError
from django.db.models import BooleanField, Expression, F

SQL_OPERATORS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
POSTGRES_TYPES = {"number": ("number", "::numeric"), "string": ("string", ""), "bool": ("boolean", "::boolean")}
SQLITE_TYPES = {"number": "('integer', 'real')", "string": "('text')", "bool": "('true', 'false')"}


class AttributeComparison(Expression):
    """`attributes[identifier] <op> value`, true only where the stored value has the JSON type of `family`
    ("number", "string" or "bool")."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, identifier: str, family: str, op: str, value: Any) -> None:
        super().__init__(output_field=BooleanField())
        self.identifier, self.family, self.op, self.value = identifier, family, SQL_OPERATORS[op], value
        self.column: Any = F("attributes")

    def get_source_expressions(self) -> list[Any]:
        return [self.column]

    def set_source_expressions(self, exprs: list[Any]) -> None:
        (self.column,) = exprs

    def __repr__(self) -> str:
        return f"AttributeComparison({self.identifier!r}, {self.family!r}, {self.op!r}, {self.value!r})"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple]:
        raise NotSupportedError("Attribute comparisons are written for PostgreSQL and SQLite.")

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, tuple]:
        column, params = compiler.compile(self.column)
        json_type, cast = POSTGRES_TYPES[self.family]
        value = Decimal(str(self.value)) if self.family == "number" else self.value
        placeholder = "%s::text" if self.family == "string" else "%s"
        sql = (f"COALESCE(CASE WHEN jsonb_typeof({column} -> %s) = '{json_type}' "
               f"THEN ({column} ->> %s){cast} {self.op} {placeholder} END, false)")
        return sql, (*params, self.identifier, *params, self.identifier, value)

    def as_sqlite(self, compiler: Any, connection: Any) -> tuple[str, tuple]:
        column, params = compiler.compile(self.column)
        path = f'$."{self.identifier}"'  # the identifier matched IDENTIFIER_RE: letters, digits and _
        value = int(self.value) if self.family == "bool" else self.value
        sql = (f"COALESCE(CASE WHEN json_type({column}, %s) IN {SQLITE_TYPES[self.family]} "
               f"THEN json_extract({column}, %s) {self.op} %s END, 0)")
        return sql, (*params, path, *params, path, value)
