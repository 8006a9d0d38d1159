"""Upload page under AppTest against the local AWS: refusals, a real upload, no double upload, the run."""

from __future__ import annotations

import pytest

from services import aws, uploads
from tests.e2e.console.conftest import page

pytestmark = pytest.mark.spark


def errors(app) -> list[str]:
    return [e.value for e in app.error]


def test_refuses_a_returns_file_in_the_orders_slot(console_env, seed_run, sample_data):
    app = page("upload.py").run()
    app.file_uploader(key="file-orders").upload(
        "returncsv.csv", (sample_data / "seed/returncsv.csv").read_bytes(), "text/csv"
    )
    app.run()
    assert not app.exception
    assert any("is this a returns file?" in e for e in errors(app)), errors(app)
    assert not [b for b in app.button if b.key == "upload-orders"]


def test_refuses_an_excel_workbook_and_an_empty_file(console_env, seed_run):
    app = page("upload.py").run()
    app.file_uploader(key="file-returns").upload("returns.xlsx", b"PK\x03\x04\x14\x00xl/workbook.xml")
    app.file_uploader(key="file-orders").upload("orders.csv", b"")
    app.run()
    assert any("Excel workbook, export it as CSV" in e for e in errors(app)), errors(app)
    assert any("orders file is empty" in e for e in errors(app)), errors(app)


def test_uploads_once_and_shows_the_run(console_env, seed_run, sample_data, local_aws):
    settings = local_aws.settings
    s3 = aws.client(settings, "s3")
    orders = (sample_data / "seed/ordercsv.csv").read_bytes()
    app = page("upload.py").run()
    app.file_uploader(key="file-orders").upload("../../ordercsv.csv", orders, "text/csv")
    app.run()
    assert not app.error, errors(app)
    assert "20" in [m.value for m in app.metric]  # rows of the seed orders
    app.button(key="upload-orders").click().run()
    assert not app.exception, app.exception

    key = uploads.object_key("orders", "ordercsv.csv")
    assert s3.get_object(Bucket=settings.orders_bucket, Key=key)["Body"].read() == orders
    assert any(key in s.value for s in app.success)
    assert [b for b in app.button if b.key == "upload-orders"] == []  # no second upload from this page
    links = [e for e in app.get("page_link")]
    assert links, "no link to the run monitor"

    versions = s3.list_object_versions(Bucket=settings.orders_bucket, Prefix=key)["Versions"]
    app.run()  # a rerun (double click, refresh) does not upload again
    again = page("upload.py").run()  # another session with the same bytes: nothing is sent
    again.file_uploader(key="file-orders").upload("ordercsv.csv", orders, "text/csv")
    again.run()
    again.button(key="upload-orders").click().run()
    assert any("Already uploaded" in s.value for s in again.success)
    assert s3.list_object_versions(Bucket=settings.orders_bucket, Prefix=key)["Versions"] == versions
    assert local_aws.wait_idle(120)
