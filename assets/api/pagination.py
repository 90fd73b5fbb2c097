"""Keyset pagination for every list of the API: newest first, on (created_at, id).

DRF's CursorPagination keys on the first ordering field only and walks ties with an OFFSET
capped at 1,000 rows; a batch import can stamp many devices within one clock tick, so the
cursor here carries both columns and every page is one index range scan, however deep.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.utils.urls import remove_query_param

from ..queries import beyond

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200


class KeysetPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    key_field = "created_at"  # the time column of the keyset (with id); ordering follows it
    page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE
    page_size_query_param = "pageSize"
    page_size_query_description = f"Results per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})."
    template = None

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters

    def get_page_size(self, request: Request) -> int:
        # an out-of-range size is refused rather than clamped: a client asking for 1,000 rows
        # and silently getting 200 would believe it has seen everything
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = int(raw) if raw.isascii() and raw.isdigit() else 0  # "²".isdigit(), yet int("²") fails
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [
                _("pageSize must be a whole number from 1 to %(maximum)d.") % {"maximum": self.max_page_size}
            ]})
        return size

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list:
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.cursor = self.decode_cursor(request)
        position = self._decode_position(self.cursor.position) if self.cursor and self.cursor.position else None
        reverse = bool(self.cursor and self.cursor.reverse)

        key = self.key_field
        queryset = queryset.order_by(*((key, "id") if reverse else (f"-{key}", "-id")))
        if position:
            at, pk = position
            queryset = queryset.filter(beyond(key, reverse, at, pk))

        rows = list(queryset[: self.page_size + 1])
        more = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        if reverse:
            self.page.reverse()
            self.has_next, self.has_previous = True, more
        else:
            self.has_next, self.has_previous = more, position is not None
        return self.page

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.page:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=self._position(self.page[-1])))

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if not self.page:  # walked past the end (rows deleted meanwhile): start over
            return remove_query_param(self.base_url, self.cursor_query_param)
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=self._position(self.page[0])))

    def _position(self, row: Any) -> str:
        return f"{getattr(row, self.key_field).isoformat()}|{row.pk}"

    def _decode_position(self, position: str) -> tuple[dt.datetime, int]:
        try:
            at, pk = position.rsplit("|", 1)
            return dt.datetime.fromisoformat(at), int(pk)
        except ValueError:
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]}) from None

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound:  # DRF answers 404 to a mangled cursor; it is a bad request
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]}) from None
