"""What leaves the portal in the user's language: the migration SMS (written by a worker, in the
requester's language), and the batch template, its upload's refusals and errmsg.txt lines."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from assets.batch import services as batch_services
from assets.batch.template import build_template
from assets.models import BatchJob, BatchStatus, Device
from tests.assets.api.helpers import api_client_for
from tests.assets.batch.conftest import as_upload, edit_workbook
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}


# --- the migration SMS -------------------------------------------------------------------------------

def _request_migration(client, device, target, django_capture_on_commit_callbacks, **headers):
    with django_capture_on_commit_callbacks(execute=True):  # the code task runs after the commit
        response = client.post("/api/migrations/", {"deviceAssetIds": [device.asset_id],
                                                    "targetOuId": target.ou_id}, format="json", **headers)
    assert response.status_code == 202, response.content


@pytest.mark.usefixtures("eager_tasks")
def test_the_sms_is_in_chinese_for_a_request_made_in_chinese(writer, device, globex, sms_outbox,
                                                             django_capture_on_commit_callbacks):
    _request_migration(api_client_for(writer), device, globex, django_capture_on_commit_callbacks, **CHINESE)
    message = sms_outbox[-1]["message"]
    assert message.startswith("【EnOS 设备门户】有请求将 1 个设备从组织 ")
    assert f"迁移到您的组织 {globex.ou_id}。验证码：" in message and "分钟内有效，请勿泄露。" in message
    assert "Verification code" not in message


@pytest.mark.usefixtures("eager_tasks")
def test_the_sms_stays_english_without_a_language(writer, device, globex, sms_outbox,
                                                  django_capture_on_commit_callbacks):
    _request_migration(api_client_for(writer), device, globex, django_capture_on_commit_callbacks)
    message = sms_outbox[-1]["message"]
    assert message.startswith("EnOS Device Portal: a request to move 1 device from OU ")
    assert "Verification code: " in message


# --- the batch template ------------------------------------------------------------------------------

def _download(client, product) -> bytes:
    response = client.get(reverse("assets:batch-template") + f"?product={product.product_key}", **CHINESE)
    assert response.status_code == 200
    return response.content


def _sheets(content: bytes):
    book = load_workbook(io.BytesIO(content))
    return book["Devices"], book["Instructions"]


def test_the_template_downloaded_in_chinese_has_chinese_headers_and_instructions(writer, product):
    devices, guide = _sheets(_download(client_for(writer), product))
    header = [cell.value for cell in devices[1]]
    assert header == ["deviceKey", "设备名称", "时区", "描述", "serial", "capacity", "phase", "commissioned", "标签"]
    notes = [cell.value for cell in devices[2]]
    assert all(note.startswith("类型：") for note in notes)
    assert notes[1] == "类型：文本 · 批量导入时必填 · 最多 64 个字符，不能包含控制字符、< 或 >"
    assert "批量导入时必填" in notes[4] and "Serial number" in notes[4]
    lines = [cell.value for row in guide.iter_rows() for cell in row if cell.value]
    assert lines[0] == "模板填写说明" and "产品 Key" in lines and product.product_key in lines
    assert any(str(line).startswith("• 批量导入会创建设备") for line in lines)
    assert any("第 7 行，C 列（时区）：“+25:00”不是有效的时区" in str(line) for line in lines)


def _fill(content: bytes, rows: list[list]) -> bytes:
    def change(book) -> None:
        for number, row in enumerate(rows, start=3):
            for column, value in enumerate(row, start=1):
                book["Devices"].cell(number, column, value)

    return edit_workbook(content, change)


def _upload(client, product, content: bytes, **headers) -> BatchJob:
    response = client.post(reverse("assets:batch-upload"), {"operation": "import", "product": product.product_key,
                                                            "file": as_upload(content)}, **headers)
    assert response.status_code == 302, response.content.decode()
    return BatchJob.objects.latest("pk")


GOOD = ["zh-0001", "逆变器 1", "+08:00", "", "SN-9", 10, 1, "", "site=north"]
BAD_PHASE = ["zh-0002", "逆变器 2", "", "", "SN-10", 10, 7, "", ""]


def test_a_chinese_template_uploads_and_its_problems_are_in_chinese(writer, product):
    client = client_for(writer)
    job = _upload(client, product, _fill(_download(client, product), [GOOD, BAD_PHASE]), **CHINESE)
    assert job.status == BatchStatus.PARSED and (job.valid_rows, job.invalid_rows) == (1, 1)
    assert job.problems == "第 4 行，G 列（phase）：“7”不是允许的取值之一：1 (single), 3 (three)\n"
    errmsg = client.get(reverse("assets:batch-errmsg", args=[job.pk]), **CHINESE)
    assert errmsg.content.decode("utf-8") == job.problems
    page = client.post(reverse("assets:batch-apply", args=[job.pk]), follow=True, **CHINESE).content.decode()
    assert "已导入 1 个设备。" in page
    device = Device.objects.get(device_key="zh-0001")
    assert device.name == "逆变器 1" and device.tags == {"site": "north"} and device.attributes["phase"] == 1


def test_a_chinese_template_uploaded_in_english_is_read_and_answered_in_english(writer, product):
    client = client_for(writer)
    job = _upload(client, product, _fill(_download(client, product), [GOOD, BAD_PHASE]))
    assert job.status == BatchStatus.PARSED and (job.valid_rows, job.invalid_rows) == (1, 1)
    assert job.problems.startswith('Row 4, column G (phase): "7" is not one of the allowed values')


def test_a_refused_upload_says_why_in_chinese(writer, product):
    response = client_for(writer).post(reverse("assets:batch-upload"), {
        "operation": "import", "product": product.product_key, "file": as_upload(b"not a spreadsheet")}, **CHINESE)
    assert response.status_code == 400
    assert "这不是 .xlsx 文件" in response.content.decode()


def test_a_worker_writes_the_uploaders_language(writer, product, settings):
    """Large files are parsed by Celery, where no request says the language: the job keeps it."""
    settings.BATCH_SYNC_ROWS = 0
    with translation.override("zh-hans"):
        content = _fill(build_template(product), [BAD_PHASE])  # written in Chinese
        job = batch_services.start_batch(writer, product.ou, product, "import", as_upload(content))
    assert job.status == BatchStatus.PARSING  # left to the worker
    with translation.override("en"):  # a worker's own language
        parsed = batch_services.parse_job(job.pk)
    assert parsed.problems.startswith("第 3 行，G 列（phase）：“7”不是允许的取值之一")
