"""Template_<productKey>.xlsx: empty and generated from a device, its columns per model, drop-downs,
the Instructions sheet, and values that can never run as formulas."""

from __future__ import annotations

import io
import zipfile

import pytest
import python_calamine
from openpyxl import load_workbook

from assets.batch import services
from assets.batch.columns import columns_for, template_filename
from assets.batch.template import TIME_ZONE_OFFSETS, build_template
from assets.models import BatchOperation, BatchStatus, Device, Product, ThingModel
from tests.assets.batch.conftest import as_upload

pytestmark = pytest.mark.django_db

FIXED = ["deviceKey", "Device Name", "Time Zone", "Description"]


def sheet_xml(content: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return "".join(archive.read(name).decode() for name in archive.namelist()
                       if name.startswith("xl/worksheets/sheet"))


def test_the_file_is_named_after_the_product(product):
    assert template_filename(product) == f"Template_{product.product_key}.xlsx"


def test_an_empty_template_has_the_columns_of_the_products_model(product):
    book = load_workbook(io.BytesIO(build_template(product)))
    assert book.sheetnames == ["Devices", "Instructions", "Lists"]
    devices = book["Devices"]
    assert [c.value for c in devices[1]] == [*FIXED, "serial", "capacity", "phase", "commissioned", "Tags"]
    assert devices.max_row == 2  # the header and the notes row: no sample row
    notes = [c.value for c in devices[2]]
    assert all(note.startswith("Type: ") for note in notes)
    assert notes[4] == "Type: string · required for Batch Import · at most 32 characters · Serial number"
    assert notes[5] == "Type: double · optional · min 0 · max 5000 · Capacity"
    assert "one of 1 = single, 3 = three" in notes[6]
    assert devices.freeze_panes == "A3"


def test_another_model_gives_other_columns(acme):
    model = ThingModel.objects.create(ou=acme, model_id="sensor", name="Sensor", attributes=[
        {"identifier": "enabled_at_boot", "name": "Boot", "data_type": "bool"},
        {"identifier": "channels", "name": "Channels", "data_type": "array", "spec": {"item_type": "int32"}}])
    sensor = Product.objects.create(ou=acme, name="Sensor", model=model)
    bare = Product.objects.create(ou=acme, name="Bare", model=ThingModel.objects.create(
        ou=acme, model_id="bare", name="Bare"))
    assert [c.header for c in columns_for(sensor.model)] == [*FIXED, "enabled_at_boot", "channels", "Tags"]
    assert [c.header for c in columns_for(bare.model)] == [*FIXED, "Tags"]
    book = load_workbook(io.BytesIO(build_template(sensor)))
    assert [c.value for c in book["Devices"][1]] == [*FIXED, "enabled_at_boot", "channels", "Tags"]


def test_the_instructions_name_the_product_and_the_rules(product):
    book = load_workbook(io.BytesIO(build_template(product)))
    rows = {row[0]: row[1] for row in book["Instructions"].iter_rows(values_only=True) if row and row[0]}
    assert rows["Product key"] == product.product_key
    assert rows["Model"] == "inverter"
    text = "\n".join(str(row[1]) for row in book["Instructions"].iter_rows(values_only=True) if len(row) > 1)
    assert "Formulas are refused" in text
    assert "Hidden sheets are refused" in text
    assert "key=value pairs separated by ;" in text
    assert "An empty cell keeps the device's current value" in text


def test_time_zones_and_enums_get_drop_downs_from_the_hidden_lists_sheet(product, settings):
    book = load_workbook(io.BytesIO(build_template(product)))
    assert book["Lists"].sheet_state == "hidden"
    lists = book["Lists"]
    assert [row[0].value for row in lists.iter_rows(min_row=1, max_row=len(TIME_ZONE_OFFSETS))] == TIME_ZONE_OFFSETS
    assert [lists.cell(row=r, column=2).value for r in (1, 2)] == ["1", "3"]
    validations = {str(dv.sqref): dv for dv in book["Devices"].data_validations.dataValidation}
    last = 2 + settings.BATCH_MAX_ROWS
    time_zone = validations[f"C3:C{last}"]
    assert time_zone.type == "list" and time_zone.formula1 == f"Lists!$A$1:$A${len(TIME_ZONE_OFFSETS)}"
    assert time_zone.errorStyle == "warning"  # IANA names may be typed as well
    assert validations[f"G3:G{last}"].formula1 == "Lists!$B$1:$B$2"  # phase


def test_a_template_from_a_device_fills_the_sample_row(product):
    device = Device.objects.create(ou=product.ou, product=product, device_key="inv-0042", name="Roof inverter",
                                   timezone="Europe/Berlin", description="south side",
                                   attributes={"serial": "SN-42", "capacity": 12.5, "phase": 3,
                                               "commissioned": "2024-05-01"},
                                   tags={"site": "north", "floor": "2"})
    book = load_workbook(io.BytesIO(build_template(product, sample=device)))
    assert [c.value for c in book["Devices"][3]] == [
        "inv-0042", "Roof inverter", "Europe/Berlin", "south side", "SN-42", 12.5, 3, "2024-05-01",
        "site=north;floor=2"]
    rows = {row[0]: row[1] for row in book["Instructions"].iter_rows(values_only=True) if row and row[0]}
    assert rows["From device"] == "inv-0042"


def test_tags_that_would_not_survive_key_value_form_are_written_as_json(product):
    device = Device.objects.create(ou=product.ou, product=product, device_key="inv-0043", name="Semi",
                                   attributes={"serial": "S"}, tags={"note": "a;b"})
    book = load_workbook(io.BytesIO(build_template(product, sample=device)))
    assert book["Devices"]["I3"].value == '{"note": "a;b"}'


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://evil\",\"x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)",
                                  "\tlead", "=1+1"])
def test_values_from_a_device_can_never_run_as_formulas(product, text):
    device = Device.objects.create(ou=product.ou, product=product, device_key="inv-0044", name="Safe",
                                   description=text, attributes={"serial": text[:32]}, tags={"k": text})
    content = build_template(product, sample=device)
    assert "<f>" not in sheet_xml(content) and "<f " not in sheet_xml(content)
    book = load_workbook(io.BytesIO(content))
    description = book["Devices"]["D3"]
    assert description.value == text and description.data_type == "s"
    assert description.quotePrefix  # Excel keeps it text even when the cell is edited
    assert book["Devices"]["E3"].data_type == "s"
    with python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content)) as workbook:
        row = workbook.get_sheet_by_name("Devices").to_python()[2]
    assert row[3] == text  # read back exactly, not as a computed value


def test_a_template_from_a_device_uploads_back_unchanged_for_update(writer, product):
    device = Device.objects.create(ou=product.ou, product=product, device_key="inv-0045", name="=Round trip",
                                   timezone="-05:00", description="+plus", attributes={"serial": "SN-45", "phase": 1},
                                   tags={"site": "north"})
    before = Device.objects.values().get(pk=device.pk)
    upload = as_upload(build_template(product, sample=device))
    job = services.start_batch(writer, product.ou, product, BatchOperation.UPDATE, upload)
    assert (job.status, job.valid_rows, job.invalid_rows, job.problems) == (BatchStatus.PARSED, 1, 0, "")
    job = services.apply_job(writer, job)
    assert job.applied_rows == 1
    after = Device.objects.values().get(pk=device.pk)
    assert {k: v for k, v in after.items() if k != "updated_at"} == {k: v for k, v in before.items()
                                                                       if k != "updated_at"}
