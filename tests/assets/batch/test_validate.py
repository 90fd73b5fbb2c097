"""Every validation rule, each with the exact errmsg.txt line it produces.

The test product's template columns: A deviceKey, B Device Name, C Time Zone, D Description,
E serial (string, required, ≤ 32), F capacity (double 0–5000), G phase (enum 1/3), H commissioned (date),
I Tags.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets.batch import validate
from assets.batch.parse import ParsedSheet
from assets.batch.validate import validate_sheet
from assets.models import BatchOperation, BatchStatus, Device
from tests.assets.batch.conftest import parse_rows, problems_of, row_for

pytestmark = pytest.mark.django_db
IMPORT, UPDATE = BatchOperation.IMPORT, BatchOperation.UPDATE


def good(key: str = "new-0001", **extra) -> dict:
    return {"deviceKey": key, "Device Name": "New inverter", "serial": "SN-1", **extra}


def filler(count: int) -> list[dict]:
    return [good(f"fill-{n:04d}", serial=f"F{n}") for n in range(count)]


IMPORT_RULES = [
    pytest.param({"deviceKey": "ab"}, 'Row 3, column A (deviceKey): "ab" is not a valid deviceKey: use 4 to 64 '
                 "letters, digits or - _ . :", id="device-key-format"),
    pytest.param({"deviceKey": "has space"}, 'Row 3, column A (deviceKey): "has space" is not a valid deviceKey: '
                 "use 4 to 64 letters, digits or - _ . :", id="device-key-characters"),
    pytest.param({"deviceKey": "inv-0001"}, 'Row 3, column A (deviceKey): device "inv-0001" already exists in '
                 "product {product_key}", id="device-key-exists"),
    pytest.param({"Device Name": ""}, "Row 3, column B (Device Name): The device name is required.",
                 id="name-required"),
    pytest.param({"Device Name": "n" * 65}, "Row 3, column B (Device Name): The device name is 65 characters; "
                 "the maximum is 64.", id="name-length"),
    pytest.param({"Device Name": "<script>"}, "Row 3, column B (Device Name): The device name cannot contain "
                 "control characters, < or >.", id="name-characters"),
    pytest.param({"Time Zone": "+25:00"}, 'Row 3, column C (Time Zone): "+25:00" is not a valid time zone',
                 id="time-zone-offset"),
    pytest.param({"Time Zone": "Mars/Olympus"}, 'Row 3, column C (Time Zone): "Mars/Olympus" is not a valid '
                 "time zone", id="time-zone-name"),
    pytest.param({"Description": "d" * 501}, "Row 3, column D (Description): the description is 501 characters; "
                 "the maximum is 500", id="description-length"),
    pytest.param({"serial": ""}, "Row 3, column E (serial): a value is required for Batch Import",
                 id="attribute-required"),
    pytest.param({"serial": "s" * 33}, "Row 3, column E (serial): text is 33 characters long, the maximum is 32",
                 id="attribute-string-length"),
    pytest.param({"capacity": "lots"}, 'Row 3, column F (capacity): "lots" is not a number', id="attribute-type"),
    pytest.param({"capacity": 6000}, "Row 3, column F (capacity): 6000.0 is above the maximum 5000",
                 id="attribute-max"),
    pytest.param({"capacity": -1}, "Row 3, column F (capacity): -1.0 is below the minimum 0", id="attribute-min"),
    pytest.param({"phase": 2}, 'Row 3, column G (phase): "2" is not one of the allowed values: 1 (single), '
                 "3 (three)", id="attribute-enum"),
    pytest.param({"commissioned": "2024-13-01"}, 'Row 3, column H (commissioned): "2024-13-01" is not a date in '
                 "the form YYYY-MM-DD", id="attribute-date"),
    pytest.param({"Tags": "site"}, 'Row 3, column I (Tags): "site" is not key=value', id="tags-form"),
    pytest.param({"Tags": "bad key=1"}, 'Row 3, column I (Tags): tag key "bad key" must be 1 to 50 letters, '
                 "digits or _ - /", id="tags-key"),
    pytest.param({"Tags": "a=1;a=2"}, 'Row 3, column I (Tags): tag "a" is given twice', id="tags-twice"),
    pytest.param({"Tags": "k=" + "v" * 201}, 'Row 3, column I (Tags): tag "k" value is 201 characters; the '
                 "maximum is 200", id="tags-value-length"),
    pytest.param({"Tags": ";".join(f"k{n}=v" for n in range(101))}, "Row 3, column I (Tags): a device can have at "
                 "most 100 tags, got 101", id="tags-count"),
    pytest.param({"Tags": '{"site": '}, "Row 3, column I (Tags): tags are not valid JSON: Expecting value",
                 id="tags-json"),
    pytest.param({"Tags": '{"site": 5}'}, 'Row 3, column I (Tags): tag "site" must have a text value',
                 id="tags-json-value"),
]


@pytest.mark.parametrize(("change", "line"), IMPORT_RULES)
def test_each_import_rule_has_its_exact_line(writer, product, device, change, line):
    job = parse_rows(writer, product, IMPORT, [row_for(product, {**good(), **change})])
    assert job.status == BatchStatus.PARSED
    assert problems_of(job) == [line.format(product_key=product.product_key)]
    assert (job.valid_rows, job.invalid_rows) == (0, 1)


def test_the_issues_example_line_on_row_7(writer, product):
    rows = [row_for(product, r) for r in filler(4)] + [row_for(product, good("new-0007", **{"Time Zone": "+25:00"}))]
    job = parse_rows(writer, product, IMPORT, rows)
    assert problems_of(job) == ['Row 7, column C (Time Zone): "+25:00" is not a valid time zone']
    assert (job.total_rows, job.valid_rows, job.invalid_rows) == (5, 4, 1)


def test_every_problem_of_a_row_is_listed_in_column_order(writer, product):
    job = parse_rows(writer, product, IMPORT, [row_for(product, {
        "deviceKey": "x", "Device Name": "", "Time Zone": "+25:00", "serial": "", "phase": 9, "Tags": "bad"})])
    assert [line.split(":")[0] for line in problems_of(job)] == [
        "Row 3, column A (deviceKey)", "Row 3, column B (Device Name)", "Row 3, column C (Time Zone)",
        "Row 3, column E (serial)", "Row 3, column G (phase)", "Row 3, column I (Tags)"]
    assert job.invalid_rows == 1


@pytest.mark.parametrize("change", [
    {"Time Zone": "Europe/Berlin"}, {"Time Zone": "-09:30"}, {"phase": "three"}, {"phase": 3},
    {"capacity": "12.5"}, {"Tags": '{"note": "a;b"}'}, {"Tags": "site=north; floor = 2"},
    {"commissioned": "2024-02-29"},
], ids=lambda change: str(change))
def test_accepted_forms_of_values(writer, product, change):
    job = parse_rows(writer, product, IMPORT, [row_for(product, {**good(), **change})])
    assert (job.valid_rows, job.problems) == (1, "")


def test_import_makes_a_device_key_when_the_cell_is_empty(writer, product):
    job = parse_rows(writer, product, IMPORT, [row_for(product, good(""))])
    assert job.valid_rows == 1


def test_a_device_key_twice_with_different_values_refuses_every_such_row(writer, product):
    job = parse_rows(writer, product, IMPORT, [row_for(product, good("dup-0001")), row_for(product, good("other-01")),
                                               row_for(product, good("dup-0001", serial="SN-2"))])
    assert problems_of(job) == [
        'Row 3, column A (deviceKey): "dup-0001" is in the file more than once (rows 3, 5)',
        'Row 5, column A (deviceKey): "dup-0001" is in the file more than once (rows 3, 5)']
    assert (job.valid_rows, job.invalid_rows) == (1, 2)


def test_a_repeated_row_is_refused_once_and_the_first_kept(writer, product):
    job = parse_rows(writer, product, IMPORT, [row_for(product, good("dup-0001")), row_for(product, good("dup-0001")),
                                               row_for(product, good("")), row_for(product, good(""))])
    assert problems_of(job) == ["Row 4: the same as row 3", "Row 6: the same as row 5"]
    assert (job.valid_rows, job.invalid_rows) == (2, 2)


def test_empty_rows_are_skipped_and_not_counted(writer, product):
    job = parse_rows(writer, product, IMPORT, [row_for(product, good("new-0001")), [""] * 9,
                                               row_for(product, good("new-0002"))])
    assert (job.total_rows, job.valid_rows, job.problems) == (2, 2, "")


# --- update ----------------------------------------------------------------------------------------------

UPDATE_RULES = [
    pytest.param({"deviceKey": "", "Device Name": "Renamed"},
                 "Row 3, column A (deviceKey): a deviceKey is required to find the device",
                 id="device-key-required"),
    pytest.param({"deviceKey": "nope-0001"}, 'Row 3, column A (deviceKey): device "nope-0001" does not exist in '
                 "product {product_key} in this OU", id="device-missing"),
    pytest.param({"Time Zone": "+14:15"}, 'Row 3, column C (Time Zone): "+14:15" is not a valid time zone',
                 id="time-zone"),
    pytest.param({"capacity": True}, "Row 3, column F (capacity): expected a number, got a boolean",
                 id="attribute-type"),
]


@pytest.mark.parametrize(("change", "line"), UPDATE_RULES)
def test_each_update_rule_has_its_exact_line(writer, product, device, change, line):
    job = parse_rows(writer, product, UPDATE, [row_for(product, {"deviceKey": device.device_key, **change})])
    assert problems_of(job) == [line.format(product_key=product.product_key)]


def test_update_needs_no_other_cell_than_the_device_key(writer, product, device):
    """Empty cells keep the device's values, so required fields may stay empty."""
    job = parse_rows(writer, product, UPDATE, [row_for(product, {"deviceKey": device.device_key})])
    assert (job.valid_rows, job.problems) == (1, "")


def test_update_finds_only_devices_of_this_ou(writer, outsider, shared_product, device, globex):
    """Acme's product is shared to Globex: Globex may batch-update its own devices, never Acme's."""
    own = Device.objects.create(ou=globex, product=shared_product, device_key="glob-0001", name="Globex's",
                                attributes={"serial": "G"})
    job = parse_rows(outsider, shared_product, UPDATE, [row_for(shared_product, {"deviceKey": device.device_key}),
                                                        row_for(shared_product, {"deviceKey": own.device_key})],
                     ou=globex)
    assert problems_of(job) == [f'Row 3, column A (deviceKey): device "inv-0001" does not exist in product '
                                f"{shared_product.product_key} in this OU"]
    assert job.valid_rows == 1


def test_a_value_under_a_column_without_a_name_is_a_problem(writer, product):
    from assets.batch.template import build_template
    from tests.assets.batch.conftest import as_upload, edit_workbook

    def stray(book):
        book["Devices"]["K3"] = "stray"

    content = edit_workbook(build_template(product, rows=[row_for(product, good())]), stray)
    from assets.batch import services

    job = services.start_batch(writer, product.ou, product, IMPORT, as_upload(content))
    assert problems_of(job) == ["Row 3, column K (no name): a value in a column that has no name in row 1"]


def test_existing_devices_are_found_with_one_query_per_chunk(writer, product, device, monkeypatch):
    monkeypatch.setattr(validate, "KEY_CHUNK", 10)
    from assets.batch.columns import columns_for

    columns = [(column, index) for index, column in enumerate(columns_for(product.model))]
    rows = [(n + 3, row_for(product, good(f"key-{n:04d}", serial=f"S{n}"))) for n in range(35)]
    with CaptureQueriesContext(connection) as queries:
        outcome = validate_sheet(ParsedSheet(columns=columns, rows=rows, unnamed=[]), product, product.ou, IMPORT)
    assert len(outcome.rows) == 35
    assert len(queries) == 4  # 35 keys, 10 per IN query: whatever the row count, no query per row


@pytest.mark.parametrize("operation", [IMPORT, UPDATE])
def test_the_keys_the_database_refuses_are_found_however_they_are_asked(product, device, globex, operation):
    # keys travel as one comma-separated text (a valid deviceKey has no comma); any other key is asked apart
    Device.objects.create(ou=globex, product=product, device_key="elsewhere", name="In Globex",
                          attributes={"serial": "G"})
    keys = [device.device_key, "elsewhere", "nope-0001", "inv-0001,nope"]
    refused = validate.refused_keys_now(product, product.ou, operation, keys)
    if operation == IMPORT:  # taken in the product, whatever the OU
        assert refused == {device.device_key, "elsewhere"}
    else:  # no device of the product in this OU
        assert refused == {"elsewhere", "nope-0001", "inv-0001,nope"}


def test_the_file_is_checked_while_the_database_looks_the_keys_up(writer, product, device, monkeypatch):
    order = []
    real_lookup, real_check = validate.refused_keys, validate.SheetChecker.check

    @contextmanager
    def lookup(*args):
        with real_lookup(*args) as refused:
            order.append("keys sent")
            yield refused
        order.append(f"answered: {sorted(refused)}")

    def check(self, *args):
        order.append("other columns checked")
        return real_check(self, *args)

    monkeypatch.setattr(validate, "refused_keys", lookup)
    monkeypatch.setattr(validate.SheetChecker, "check", check)
    job = parse_rows(writer, product, UPDATE, [row_for(product, {"deviceKey": device.device_key}),
                                               row_for(product, {"deviceKey": "nope-0001"})])
    assert order == ["keys sent", "other columns checked", "answered: ['nope-0001']"]
    assert (job.valid_rows, job.invalid_rows) == (1, 1)


def test_the_cycle_collector_is_paused_while_a_file_is_read_and_checked(writer, product, monkeypatch):
    import gc

    from assets.batch import services

    seen = []
    real = services.validate_sheet

    def watching(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "validate_sheet", watching)
    job = parse_rows(writer, product, IMPORT, [row_for(product, good())])
    assert (job.valid_rows, seen, gc.isenabled()) == (1, [False], True)

    def failing(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "validate_sheet", failing)
    job = parse_rows(writer, product, IMPORT, [row_for(product, good())])
    assert (job.status, gc.isenabled()) == (BatchStatus.FAILED, True)
