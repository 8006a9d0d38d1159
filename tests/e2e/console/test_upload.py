"""Upload page under AppTest against the local AWS: refusals, a real upload, no double upload, the run.

AppTest cannot run the slot's JavaScript (services/s3_upload.js), so the tests play the browser's part: they
set the slot's state as the script does (name, size, base64 head, row count) and PUT the parts to the
presigned URLs the page made. The browser test (tests/browser) runs the real script in chromium.
"""

from __future__ import annotations

import base64
import gzip
import urllib.error
import urllib.request
import uuid

import pytest

from services import demo_data, uploads
from stack import aws
from tests.e2e.console.conftest import page, plain
from tests.support import batches

pytestmark = pytest.mark.spark


@pytest.fixture(autouse=True)
def nothing_left_waiting(local_aws, sample_data):
    """These tests upload one side at a time: afterwards the other side arrives, so that no file is left
    to pair with a later test's upload."""
    yield
    settings = local_aws.settings
    s3, sfn = aws.client(settings, "s3"), aws.client(settings, "stepfunctions")
    assert local_aws.wait_idle(120)
    seed = sample_data / "seed"
    counterparts = {
        "orders": (settings.orders_bucket, (seed / "ordercsv.csv").read_bytes()),
        "returns": (settings.returns_bucket, (seed / "returncsv.csv").read_bytes()),
    }
    batches.complete_parked(s3, sfn, batches.state_machine_arn(sfn, settings.state_machine), counterparts)
    assert local_aws.wait_idle(120)


def pick(app, kind: str, name: str, data: bytes, text: bytes | None = None, unreadable=None, **extra) -> dict:
    """What the slot's script reports once a file is chosen (``text``: a gzip file's decompressed bytes,
    which the script counts the rows of)."""
    text = data if text is None else text
    picked = {
        "name": name,
        "size": len(data),
        "last_modified": 0,
        "head": base64.b64encode(data[: uploads.PROFILE_HEAD_BYTES]).decode(),
        "rows": max(text.rstrip(b"\n").count(b"\n"), 0) if text.strip() else 0,
        "unreadable": unreadable,
        "token": f"{name}:{uuid.uuid4().hex}",
    }
    app.session_state[f"upload-{kind}"] = {"picked": picked, **extra}
    return picked


def errors(app) -> list[str]:
    return [e.value for e in app.error]


def test_refuses_a_returns_file_in_the_orders_slot(console_env, seed_run, sample_data):
    app = page("upload.py").run()
    pick(app, "orders", "returncsv.csv", (sample_data / "seed/returncsv.csv").read_bytes())
    app.run()
    assert not app.exception
    assert any("is this a returns file?" in e for e in errors(app)), errors(app)
    assert not [b for b in app.button if b.key == "start-orders"]


def test_refuses_an_excel_workbook_and_an_empty_file(console_env, seed_run):
    app = page("upload.py").run()
    pick(app, "returns", "returns.xlsx", b"PK\x03\x04\x14\x00xl/workbook.xml")
    pick(app, "orders", "orders.csv", b"")
    app.run()
    assert any("Excel workbook, export it as CSV" in e for e in errors(app)), errors(app)
    assert any("orders file is empty" in e for e in errors(app)), errors(app)


def put_parts(plan: uploads.DirectUpload, data: bytes) -> None:
    for number, url in enumerate(plan.urls):
        body = data[number * plan.part_size : (number + 1) * plan.part_size]
        request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "text/csv"})
        with urllib.request.urlopen(request) as response:
            assert response.status == 200


def test_uploads_once_through_presigned_parts_and_shows_the_run(
    console_env, seed_run, sample_data, local_aws
):
    settings = local_aws.settings
    s3 = aws.client(settings, "s3")
    orders = (sample_data / "seed/ordercsv.csv").read_bytes()
    app = page("upload.py").run()
    picked = pick(app, "orders", "../../ordercsv.csv", orders)
    app.run()
    assert not app.error, errors(app)
    assert "20" in [m.value for m in app.metric]  # rows of the seed orders

    app.button(key="start-orders").click().run()
    assert not app.exception, app.exception
    plan = app.session_state["upload_plans"][picked["token"]]
    assert plan.key == uploads.object_key("orders", "ordercsv.csv")  # no path tricks from the name
    assert [b for b in app.button if b.key == "start-orders"] == []  # a second click cannot start another
    app.run()
    assert app.session_state["upload_plans"][picked["token"]] == plan

    put_parts(plan, orders)  # the browser's part
    app.session_state["upload-orders"] = {"picked": picked, "uploaded": {"upload_id": plan.upload_id}}
    app.run()
    assert not app.exception, app.exception
    assert s3.get_object(Bucket=settings.orders_bucket, Key=plan.key)["Body"].read() == orders
    assert any(plan.key in s.value for s in app.success), [s.value for s in app.success]
    assert app.get("page_link"), "no link to the run monitor"
    assert picked["token"] not in app.session_state["upload_plans"]
    assert local_aws.wait_idle(120)


def test_a_csv_gz_export_is_checked_decompressed_and_stored_as_csv_gz(
    console_env, seed_run, sample_data, local_aws
):
    settings = local_aws.settings
    s3 = aws.client(settings, "s3")
    text = (sample_data / "seed/returncsv.csv").read_bytes()
    packed = gzip.compress(text)
    app = page("upload.py").run()
    picked = pick(app, "returns", "returncsv.csv.gz", packed, text=text)
    app.run()
    assert not app.error, errors(app)
    assert str(text.count(b"\n") - 1) in [m.value for m in app.metric]  # rows of the decompressed file
    assert any("**compression:** gzip" in m.value for m in app.markdown), [m.value for m in app.markdown]

    app.button(key="start-returns").click().run()
    plan = app.session_state["upload_plans"][picked["token"]]
    assert plan.key == uploads.object_key("returns", "returncsv.csv.gz", compression="gzip")
    assert plan.key.endswith("/returns-returncsv.csv.gz")
    put_parts(plan, packed)
    app.session_state["upload-returns"] = {"picked": picked, "uploaded": {"upload_id": plan.upload_id}}
    app.run()
    assert not app.exception and not app.error, (app.exception, errors(app))
    stored = s3.get_object(Bucket=settings.returns_bucket, Key=plan.key)
    assert stored["Body"].read() == packed
    assert (stored["ContentType"], stored.get("ContentEncoding")) == ("application/gzip", None)
    assert local_aws.wait_idle(120)


def test_refuses_a_gzip_export_the_browser_could_not_read_to_its_end(console_env, seed_run, sample_data):
    packed = gzip.compress((sample_data / "seed/ordercsv.csv").read_bytes())
    app = page("upload.py").run()
    pick(app, "orders", "orders.csv.gz", packed, unreadable="Compressed input was truncated.")
    pick(app, "returns", "returns.csv.gz", gzip.compress(b"Order ID\nO1\n")[:-6])
    app.run()
    shown = [plain(e) for e in errors(app)]
    assert any("could not be read to its end (Compressed input was truncated.)" in e for e in shown), shown
    assert any("returns file is a truncated gzip file" in e for e in shown), shown
    assert not [b for b in app.button if b.key in ("start-orders", "start-returns")]


def test_a_failed_browser_upload_is_aborted(console_env, seed_run, sample_data, local_aws):
    s3 = aws.client(local_aws.settings, "s3")
    app = page("upload.py").run()
    picked = pick(app, "returns", "returncsv.csv", (sample_data / "seed/returncsv.csv").read_bytes())
    app.run()
    app.button(key="start-returns").click().run()
    plan = app.session_state["upload_plans"][picked["token"]]
    app.session_state["upload-returns"] = {
        "picked": picked,
        "failed": {"upload_id": plan.upload_id, "error": "the network request to S3 failed"},
    }
    app.run()
    assert any("The upload failed: the network request to S3 failed" in e for e in errors(app)), errors(app)
    uploads_in_flight = s3.list_multipart_uploads(Bucket=plan.bucket).get("Uploads", [])
    assert plan.upload_id not in {u["UploadId"] for u in uploads_in_flight}


def in_flight(s3, bucket: str) -> set[str]:
    return {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}


def test_picking_another_file_aborts_the_previous_upload(console_env, sample_data, local_aws):
    s3 = aws.client(local_aws.settings, "s3")
    orders = (sample_data / "seed/ordercsv.csv").read_bytes()
    app = page("upload.py").run()
    first = pick(app, "orders", "first.csv", orders)
    app.run()
    app.button(key="start-orders").click().run()
    plan = app.session_state["upload_plans"][first["token"]]
    assert plan.upload_id in in_flight(s3, plan.bucket)

    second = pick(app, "orders", "second.csv", orders)  # the user picks another file before it completes
    app.run()
    assert not app.exception, app.exception
    assert plan.upload_id not in in_flight(s3, plan.bucket)  # aborted, not left for the lifecycle rule
    assert first["token"] not in app.session_state["upload_plans"]
    assert any("Cancelled the unfinished upload" in c.value for c in app.caption)
    assert [b for b in app.button if b.key == "start-orders"], "the new file can be uploaded"
    assert second["token"] not in app.session_state["upload_plans"]


def test_a_file_over_the_size_limit_is_refused(console_env, sample_data, local_aws, monkeypatch):
    monkeypatch.setenv("ECOMMERCE_MAX_UPLOAD_BYTES", "100")
    s3 = aws.client(local_aws.settings, "s3")
    before = in_flight(s3, local_aws.settings.orders_bucket)
    app = page("upload.py").run()
    pick(app, "orders", "ordercsv.csv", (sample_data / "seed/ordercsv.csv").read_bytes())
    app.run()
    assert not app.exception, app.exception
    assert any("uploads are limited to 100 B" in e for e in errors(app)), errors(app)
    assert not [b for b in app.button if b.key == "start-orders"]
    assert in_flight(s3, local_aws.settings.orders_bucket) == before


def test_a_part_url_takes_only_its_parts_size(console_env, sample_data, local_aws):
    """The local AWS checks presigned signatures, and each part URL signs its Content-Length, as on AWS."""
    s3 = aws.client(local_aws.settings, "s3")
    orders = (sample_data / "seed/ordercsv.csv").read_bytes()
    app = page("upload.py").run()
    picked = pick(app, "orders", "ordercsv.csv", orders)
    app.run()
    app.button(key="start-orders").click().run()
    plan = app.session_state["upload_plans"][picked["token"]]
    request = urllib.request.Request(
        plan.urls[0], data=orders + b"more", method="PUT", headers={"Content-Type": "text/csv"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403 and b"SignatureDoesNotMatch" in refused.value.read()
    assert not s3.list_parts(Bucket=plan.bucket, Key=plan.key, UploadId=plan.upload_id).get("Parts")
    uploads.abort_upload(s3, plan)


def test_values_from_the_file_are_escaped_before_markdown(console_env):
    """A value like ``![](https://evil/p.png)`` in a refusal must not become an image the browser loads."""
    app = page("upload.py").run()
    image = "![](https://evil.example/p.png)"
    pick(app, "orders", "orders.csv", f"Order ID,Order Date\n1,{image}\n2,{image}\n".encode())
    app.run()

    (error,) = errors(app)
    assert "not dates in a supported format" in error
    assert image not in error and "](" not in error.replace("\\](", "")
    assert "\\!\\[\\]\\(https\\://evil\\.example/p\\.png\\)" in error


def test_offers_the_demo_files_and_accepts_them(console_env, monkeypatch):
    """The demo download buttons serve services/demo_data's bytes, and the page's check takes both files."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    served: dict[str, tuple[str | None, object]] = {}  # deferred file id → (file name, the callable)
    add_deferred = MediaFileManager.add_deferred

    def recording(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        file_id = add_deferred(self, data_callable, mimetype, coordinates, file_name, **kwargs)
        served[file_id] = (file_name, data_callable)
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", recording)
    app = page("upload.py").run()
    assert not app.exception and not app.error, app.exception or errors(app)

    assert "No export at hand? Download demo files" in [e.label for e in app.expander]
    buttons = {b.key: b for b in app.download_button}
    export = demo_data.demo_export()
    for key, name, data in [
        ("demo-orders", "demo-orders.csv", export.orders),
        ("demo-returns", "demo-returns.csv", export.returns),
    ]:
        file_name, make = served[buttons[key].proto.deferred_file_id]
        assert (file_name, make()) == (name, data)  # what a click downloads

    pick(app, "orders", "demo-orders.csv", export.orders)
    pick(app, "returns", "demo-returns.csv", export.returns)
    app.run()
    assert not app.exception and not app.error, app.exception or errors(app)
    rows = [m.value for m in app.metric if m.label == "Rows"]
    assert rows == [f"{export.lines:,}", f"{export.returned_orders:,}"]
    assert {"start-orders", "start-returns"} <= {b.key for b in app.button}
