"""Batch fixtures: template files filled in the tests, uploads, and uploads kept in a temporary folder."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from assets.batch.columns import columns_for
from assets.batch.template import build_template
from assets.models import Product


@pytest.fixture(autouse=True)
def batch_upload_dir(settings, tmp_path):
    settings.BATCH_UPLOAD_DIR = tmp_path / "batch-uploads"
    return settings.BATCH_UPLOAD_DIR


ROLES = ("writer", "viewer", "outsider", "anonymous")


def role_cases(matrix: Sequence[tuple]) -> Iterator[Any]:
    """(name, method, url, body, status per role…) rows → one pytest case per role, named "<name>-<role>"."""
    for name, method, url, body, *statuses in matrix:
        for who, status in zip(ROLES, statuses, strict=True):
            yield pytest.param(who, method, url, body, status, id=f"{name}-{who}")


def headers(product: Product) -> list[str]:
    return [column.header for column in columns_for(product.model)]


def row_for(product: Product, values: dict[str, Any]) -> list[Any]:
    """One row in template order from values named by header ("deviceKey", "Time Zone", "serial"…)."""
    unknown = set(values) - set(headers(product))
    assert not unknown, unknown
    return [values.get(header, "") for header in headers(product)]


def template_with(product: Product, rows: Sequence[Sequence[Any]] = ()) -> bytes:
    return build_template(product, rows=rows)


def as_upload(content: bytes, name: str = "devices.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def edit_workbook(content: bytes, change: Callable[[Any], None]) -> bytes:
    """Open a template in openpyxl (as a person's spreadsheet program would), change it, save it."""
    book = load_workbook(io.BytesIO(content))
    change(book)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def shared_product(globex, product):
    """Acme's product shared read-only to Globex (as a migration leaves it)."""
    from assets.services import share_product

    share_product(product.ou.owner, product, globex)
    return product


def parse_rows(actor: Any, product: Product, operation: str, rows: Sequence[Sequence[Any]], ou: Any = None):
    """Upload a template holding `rows` (from row 3 on) and return the parsed job."""
    from assets.batch import services

    return services.start_batch(actor, ou or product.ou, product, operation, as_upload(template_with(product, rows)))


def problems_of(job) -> list[str]:
    return job.problems.splitlines()
