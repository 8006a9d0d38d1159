"""services/uploads.py: file checks, safe keys, the presigned multipart upload the browser fills, the run."""

from __future__ import annotations

import dataclasses
import gzip
import urllib.parse
import urllib.request
from datetime import UTC, datetime

import pytest
from moto.server import ThreadedMotoServer

from pipeline.lambdas import runs
from services import uploads
from stack import aws
from stack.settings import Settings
from tests import exports

SETTINGS = Settings(target="local", endpoint_url=None)
ORDERS = b"Order ID,Customer ID,Order Date,Sales\nO1,C1,2024-01-02,10.5\nO2,C2,2024-01-03,-3\n"
RETURNS = b"Order ID,Return Reason\nO1,Damaged\n"
DAY = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def check(kind: str, data: bytes, rows: int = 2, name: str = "export.csv") -> uploads.CheckedFile:
    return uploads.check_head(kind, name, len(data), data, rows, SETTINGS)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("orders.csv", "orders.csv"),
        ("../../etc/passwd", "passwd.csv"),
        ("..\\..\\windows\\orders 2024.CSV", "orders-2024.csv"),
        ("/abs/path/Retours été.csv", "Retours-ete.csv"),
        ("...", "upload.csv"),
        ("", "upload.csv"),
        ("a/b/.hidden.csv", "hidden.csv"),
    ],
)
def test_safe_file_name_strips_folders_and_odd_characters(name, expected):
    assert uploads.safe_file_name(name) == expected


def test_object_key_is_per_day_and_kind():
    assert uploads.object_key("orders", "../x/Orders.csv", DAY) == "uploads/2026/11/25/orders-Orders.csv"


@pytest.mark.parametrize(
    ("name", "compression", "expected"),
    [
        ("orders.csv.gz", "gzip", "orders.csv.gz"),
        ("Orders 2024.CSV.GZ", "gzip", "Orders-2024.csv.gz"),
        ("orders.csv", "gzip", "orders.csv.gz"),  # the bytes decide: gzip inside, .csv.gz outside
        ("export.gz", "gzip", "export.csv.gz"),
        ("orders.csv.gz", None, "orders.csv"),  # named .gz, but plain text
        ("../../.gz", "gzip", "upload.csv.gz"),
    ],
)
def test_the_safe_name_of_a_gzip_file_ends_in_csv_gz(name, compression, expected):
    assert uploads.safe_file_name(name, compression) == expected
    assert uploads.object_key("returns", name, DAY, compression) == f"uploads/2026/11/25/returns-{expected}"


def test_a_gzip_export_is_checked_decompressed():
    checked = uploads.check_head("orders", "a/orders.csv.gz", 99, gzip.compress(ORDERS), 2, SETTINGS)
    assert (checked.name, checked.content_type, checked.rows) == ("orders.csv.gz", "application/gzip", 2)
    assert checked.summary()["compression"] == "gzip"
    assert checked.profile.names == check("orders", ORDERS).profile.names
    assert check("orders", ORDERS).content_type == "text/csv"


def test_a_gzip_export_the_browser_could_not_read_to_its_end_is_refused():
    packed = gzip.compress(ORDERS)
    with pytest.raises(uploads.UploadRefused) as err:
        uploads.check_head(
            "orders",
            "o.csv.gz",
            len(packed),
            packed,
            0,
            SETTINGS,
            unreadable="Compressed input was truncated.",
        )
    assert str(err.value) == (
        "o.csv.gz could not be read to its end (Compressed input was truncated.); a .csv.gz file may be "
        "truncated or corrupt: compress the export again and upload it again"
    )
    with pytest.raises(uploads.UploadRefused, match="^o.csv.gz: orders file is a truncated gzip file"):
        uploads.check_head("orders", "o.csv.gz", len(packed) - 4, packed[:-4], 2, SETTINGS)


def test_check_reports_the_profile():
    checked = check("orders", ORDERS)
    assert (checked.rows, checked.size, checked.profile.delimiter) == (2, len(ORDERS), ",")
    assert checked.summary()["date formats"].startswith("order_date: ")


def test_check_uses_the_head_only():
    big = ORDERS + b"O3,C3,not a date,1\n" * 10  # bad lines after the head: Glue's check, not the console's
    head = ORDERS
    checked = uploads.check_head("orders", "big.csv", len(big), head, 12, SETTINGS)
    assert checked.rows == 12 and not checked.profile.complete


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("orders", b"", "empty"),
        ("orders", b"PK\x03\x04\x14\x00xl/workbook.xml", "Excel workbook"),
        ("orders", RETURNS, "returns file"),
        ("returns", ORDERS, "looks like an orders file"),
        ("returns", b"Customer,Reason\nC1,x\n", "no order id column"),
    ],
)
def test_bad_files_are_refused_with_a_reason(kind, data, message):
    with pytest.raises(uploads.UploadRefused, match=message):
        check(kind, data)


def test_a_header_without_rows_is_refused():
    with pytest.raises(uploads.UploadRefused, match="no data rows"):
        check("orders", b"Order ID,Order Date\n", rows=0)


def job_verdict(path) -> str:
    """What the Glue job's own profiling says about a file: "ok" or its refusal."""
    import ecommerce_join_data

    try:
        ecommerce_join_data.profile_file(str(path), "orders", SETTINGS.max_quarantine_fraction)
    except ecommerce_join_data.ProfileError as exc:  # csv_profile as Glue imports it (--extra-py-files)
        return str(exc)
    return "ok"


def console_verdict(data: bytes, rows: int) -> str:
    try:
        head = data[: uploads.PROFILE_HEAD_BYTES]
        uploads.check_head("orders", "export.csv", len(data), head, rows, SETTINGS)
    except uploads.UploadRefused as exc:
        return str(exc).removeprefix("export.csv: ")
    return "ok"


def test_the_console_accepts_and_refuses_the_files_the_job_does(sample_data, tmp_path):
    """One profiler: the upload check's verdict on each real export kind is the job's, word for word."""
    header, rows = exports.us_rows(sample_data)
    bad_sales = [list(r) for r in rows[:200]]
    for row in bad_sales[::10]:
        row[header.index("Sales")] = "see invoice"
    files = {kind: build(sample_data) for kind, build in exports.KINDS.items()}
    files |= {
        "unparsed sales": exports.write_csv(header, bad_sales).encode(),
        "ambiguous dates": b"Order ID,Order Date\nO1,1/2/2024 0:00\nO2,3/4/2024 0:00\n",
        "odd sep= hint": b"sep=#\nOrder ID#Order Date\nO1#2024-01-02\n",
        "broken UTF-16": b"\xff\xfe" + "Order ID,Order Date\n".encode("utf-16-le") + b"\x00\xd8A\x00",
        "UTF-16 without BOM": "Order ID,Order Date\nO1,2024-01-02\n".encode("utf-16-le"),
    }
    verdicts = {}
    for kind, data in files.items():
        path = tmp_path / f"{kind}.csv"
        path.write_bytes(data)
        verdicts[kind] = (console_verdict(data, len(rows)), job_verdict(path))
    assert {k: c == j for k, (c, j) in verdicts.items()} == dict.fromkeys(files, True), verdicts
    assert {k for k, (c, _) in verdicts.items() if c == "ok"} == set(exports.KINDS)
    assert (
        "sales: 20 of 200 values (10.0%) are not numbers (e.g. 'see invoice')"
        in verdicts["unparsed sales"][0]
    )


def test_the_console_and_the_job_give_gzip_exports_the_same_verdict(sample_data, tmp_path):
    """A .csv.gz export of each kind: accepted by both when whole; a cut or damaged one refused by both."""
    header, rows = exports.us_rows(sample_data)
    packed = {kind: gzip.compress(build(sample_data)) for kind, build in exports.KINDS.items()}
    clean = gzip.compress((sample_data / "superstore-us/orders.csv").read_bytes())
    damaged = bytearray(clean)
    damaged[len(damaged) // 2] ^= 0xFF
    files = packed | {"clean": clean, "truncated": clean[:-100], "damaged": bytes(damaged)}
    verdicts = {}
    for kind, data in files.items():
        path = tmp_path / f"{kind}.csv.gz"
        path.write_bytes(data)
        verdicts[kind] = (console_verdict(data, len(rows)), job_verdict(path))
    assert {k: c == j for k, (c, j) in verdicts.items()} == dict.fromkeys(files, True), verdicts
    assert {k for k, (c, _) in verdicts.items() if c == "ok"} == {*exports.KINDS, "clean"}
    assert verdicts["truncated"][0].startswith("orders file is a truncated gzip file")
    assert verdicts["damaged"][0].startswith("orders file is a corrupt gzip file")


def test_a_big_gzip_export_is_checked_on_a_bounded_decompressed_head(sample_data):
    data = (sample_data / "superstore-global/orders.csv").read_bytes()
    packed = gzip.compress(data)
    assert len(packed) > uploads.PROFILE_HEAD_BYTES  # the browser sends a cut head
    checked = uploads.check_head(
        "orders", "g.csv.gz", len(packed), packed[: uploads.PROFILE_HEAD_BYTES], 51290, SETTINGS
    )
    assert checked.profile.compression == "gzip" and not checked.profile.complete
    # No more than PROFILE_HEAD_BYTES of text was profiled (the rest is the job's to read).
    assert checked.profile.sample_rows < data[: uploads.PROFILE_HEAD_BYTES].count(b"\n")


def test_the_sep_hint_line_is_not_counted_as_a_row(sample_data):
    data = exports.sep_hint(sample_data)
    rows_counted_by_the_browser = data.count(b"\n") - 1
    checked = uploads.check_head(
        "orders", "x.csv", len(data), data[: uploads.PROFILE_HEAD_BYTES], 9995, SETTINGS
    )
    assert rows_counted_by_the_browser == 9995 and checked.rows == 9994
    assert checked.summary()["delimiter"] == "';'"
    assert checked.summary()["repairs"] == (
        "sales: formatted numbers cleaned; discount: formatted numbers cleaned; "
        "profit: formatted numbers cleaned; Excel sep= line skipped"
    )


def test_the_default_upload_limit_is_5_gib():
    assert Settings().max_upload_bytes == 5 * 2**30


def test_a_file_over_the_limit_is_refused_by_the_check():
    small = dataclasses.replace(SETTINGS, max_upload_bytes=len(ORDERS) - 1)
    with pytest.raises(uploads.UploadRefused, match=r"is 80 B .*uploads are limited to 79 B .*ECOMMERCE_MAX"):
        uploads.check_head("orders", "big.csv", len(ORDERS), ORDERS, 2, small)
    assert uploads.check_head("orders", "ok.csv", len(ORDERS), ORDERS, 2, SETTINGS).size == len(ORDERS)


def test_part_size_stays_within_s3s_part_count():
    assert uploads.part_size_for(10) == uploads.PART_BYTES
    assert uploads.part_size_for(200 * 2**30) * uploads.MAX_PARTS >= 200 * 2**30


def test_candidate_executions_follow_the_on_upload_names():
    orders = runs.S3Object.create("o", "k1", '"e1"', DAY, 10)
    returns = runs.S3Object.create("r", "k2", '"e2"', DAY, 10)
    assert runs.upload_candidates(orders, returns) == [
        runs.execution_name(orders, returns),
        runs.execution_name(orders, None),
        runs.execution_name(None, returns),
    ]
    assert runs.upload_candidates(None, returns) == [runs.execution_name(None, returns)]


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_url, fake_aws_env):
    settings = Settings(target="local", endpoint_url=moto_url)
    client = aws.client(settings, "s3")
    for bucket in (settings.orders_bucket, settings.returns_bucket):
        if bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
            client.create_bucket(Bucket=bucket)
    return client, settings


def in_flight(client, bucket: str) -> set[str]:
    return {u["UploadId"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}


def declared(kind: str, size: int, name: str = "declared.csv") -> uploads.CheckedFile:
    """A checked file whose size is whatever the browser declared (the page keeps it in session state)."""
    return dataclasses.replace(check(kind, ORDERS if kind == "orders" else RETURNS, name=name), size=size)


def put_parts(upload: uploads.DirectUpload, data: bytes, parts: int | None = None) -> None:
    """What services/s3_upload.js does: PUT each slice of the file to its presigned URL."""
    slices = [data[n * upload.part_size : (n + 1) * upload.part_size] for n in range(len(upload.urls))]
    put_bodies(upload, slices[:parts])


def put_bodies(upload: uploads.DirectUpload, bodies: list[bytes]) -> None:
    for url, body in zip(upload.urls, bodies, strict=False):
        request = urllib.request.Request(
            url, data=body, method="PUT", headers={"Content-Type": "application/octet-stream"}
        )  # urllib's default form content type would make the server parse the part as a form
        with urllib.request.urlopen(request) as response:
            assert response.status == 200


def test_presigned_multipart_upload_end_to_end(s3):
    client, settings = s3
    line = b"O1,C1,2024-01-02,10.5\n"
    data = b"Order ID,Customer ID,Order Date,Sales\n" + line * (2 * uploads.PART_BYTES // len(line) + 10)
    checked = uploads.check_head(
        "orders", "../big.csv", len(data), data[: uploads.PROFILE_HEAD_BYTES], 1, settings
    )
    upload = uploads.start_upload(client, settings, checked, now=DAY)
    assert (upload.key, len(upload.urls)) == ("uploads/2026/11/25/orders-big.csv", 3)
    assert all("Signature" in url or "X-Amz-Signature" in url for url in upload.urls)  # presigned, no secrets

    put_parts(upload, data)
    result = uploads.finish_upload(client, upload)
    assert result.etag.endswith('-3"')  # a multipart ETag: three parts
    assert client.get_object(Bucket=result.bucket, Key=result.key)["Body"].read() == data


def test_a_gzip_export_is_stored_as_a_csv_gz_object_without_content_encoding(s3):
    client, settings = s3
    data = gzip.compress(ORDERS)
    checked = uploads.check_head("orders", "Orders.csv.gz", len(data), data, 2, settings)
    upload = uploads.start_upload(client, settings, checked, now=DAY)
    assert upload.key == "uploads/2026/11/25/orders-Orders.csv.gz"

    put_parts(upload, data)
    result = uploads.finish_upload(client, upload)
    stored = client.get_object(Bucket=result.bucket, Key=result.key)
    # The object is the gzip file itself: no Content-Encoding, so no client decompresses it on the way.
    assert (stored["ContentType"], stored.get("ContentEncoding")) == ("application/gzip", None)
    assert stored["Body"].read() == data and stored["ContentLength"] == len(data)


def test_an_incomplete_upload_is_aborted_and_stores_nothing(s3):
    client, settings = s3
    line = b"O1,C1,2024-01-02,10.5\n"
    data = ORDERS + line * (uploads.PART_BYTES // len(line) + 5)  # two parts
    checked = uploads.check_head("orders", "partial.csv", len(data), data[:4096], 1, settings)
    upload = uploads.start_upload(client, settings, checked, now=DAY)
    put_parts(upload, data, parts=1)
    with pytest.raises(uploads.UploadRefused, match="incomplete .1 of 2 parts"):
        uploads.finish_upload(client, upload)
    assert "Contents" not in client.list_objects_v2(Bucket=upload.bucket, Prefix=upload.key)
    assert not client.list_multipart_uploads(Bucket=upload.bucket).get("Uploads")


@pytest.mark.parametrize(
    ("limit", "size"),
    [(10 * 2**20, 20 * 2**20), (None, 2**40)],  # a small setting; the 5 GiB default against a 1 TiB claim
)
def test_no_part_urls_for_a_file_over_the_limit(s3, limit, size):
    client, settings = s3
    if limit is not None:
        settings = dataclasses.replace(settings, max_upload_bytes=limit)
    before = in_flight(client, settings.orders_bucket)
    with pytest.raises(uploads.UploadRefused, match="uploads are limited to"):
        uploads.start_upload(client, settings, declared("orders", size), now=DAY)
    assert in_flight(client, settings.orders_bucket) == before  # no multipart upload was even created


def test_part_urls_are_only_what_the_size_needs_and_sign_each_parts_length(s3):
    client, settings = s3
    size = 2 * uploads.PART_BYTES + 5
    upload = uploads.start_upload(client, settings, declared("orders", size), now=DAY)
    queries = [urllib.parse.parse_qs(urllib.parse.urlsplit(url).query) for url in upload.urls]
    # S3 checks a signed Content-Length: a part's URL takes a body of exactly that part's size.
    assert [q["X-Amz-SignedHeaders"] for q in queries] == [["content-length;host"]] * 3
    assert upload.max_bytes == settings.max_upload_bytes
    assert uploads.part_sizes(size, upload.part_size) == [uploads.PART_BYTES, uploads.PART_BYTES, 5]
    uploads.abort_upload(client, upload)


def test_completion_counts_the_bytes_s3_holds_and_aborts_over_the_limit(s3):
    client, settings = s3
    settings = dataclasses.replace(settings, max_upload_bytes=10 * 2**20)
    size = 9 * 2**20  # two parts: 8 MiB and 1 MiB
    upload = uploads.start_upload(client, settings, declared("orders", size, "liar.csv"), now=DAY)
    # The browser sends more than it declared (plain moto does not check the signed Content-Length).
    put_bodies(upload, [b"x" * uploads.PART_BYTES, b"y" * (3 * 2**20)])
    with pytest.raises(uploads.UploadRefused, match=r"holds 11\.0 MB .*more than the limit of 10\.0 MB"):
        uploads.finish_upload(client, upload)
    assert upload.upload_id not in in_flight(client, upload.bucket)  # aborted: its parts are freed
    assert "Contents" not in client.list_objects_v2(Bucket=upload.bucket, Prefix=upload.key)


def test_parts_of_other_sizes_than_planned_are_refused(s3):
    client, settings = s3
    upload = uploads.start_upload(client, settings, declared("orders", uploads.PART_BYTES + 10), now=DAY)
    put_bodies(upload, [b"x" * 10, b"y" * uploads.PART_BYTES])  # the right total, cut differently
    with pytest.raises(uploads.UploadRefused, match="not the checked file"):
        uploads.finish_upload(client, upload)
    assert upload.upload_id not in in_flight(client, upload.bucket)


def test_picking_another_file_aborts_the_slots_earlier_uploads(s3):
    client, settings = s3
    plans = {
        "first": uploads.start_upload(client, settings, declared("orders", 100, "first.csv"), now=DAY),
        "second": uploads.start_upload(client, settings, declared("orders", 100, "second.csv"), now=DAY),
        "theirs": uploads.start_upload(client, settings, declared("returns", 100, "theirs.csv"), now=DAY),
    }
    first, second, theirs = plans["first"], plans["second"], plans["theirs"]

    assert uploads.abandon_plans(client, plans, "orders", keep="second") == [first]
    assert set(plans) == {"second", "theirs"}
    assert first.upload_id not in in_flight(client, first.bucket)
    assert second.upload_id in in_flight(client, second.bucket)
    assert theirs.upload_id in in_flight(client, theirs.bucket)  # the other slot's upload is not touched

    # A new plan replaces every earlier one of the slot.
    assert uploads.abandon_plans(client, plans, "orders") == [second]
    assert set(plans) == {"theirs"} and second.upload_id not in in_flight(client, second.bucket)
    uploads.abort_upload(client, theirs)


def test_aborting_twice_is_harmless(s3):
    client, settings = s3
    upload = uploads.start_upload(client, settings, declared("orders", 100), now=DAY)
    uploads.abort_upload(client, upload)
    uploads.abort_upload(client, upload)  # already aborted (or completed meanwhile): nothing left to free
    assert upload.upload_id not in in_flight(client, upload.bucket)


def test_a_part_replaced_before_completion_makes_s3_refuse_and_the_upload_is_aborted(s3):
    client, settings = s3
    upload = uploads.start_upload(client, settings, declared("orders", 10), now=DAY)
    put_bodies(upload, [b"x" * 10])

    def replace_part(**_):  # the browser PUTs other bytes of the same size after the console listed them
        put_bodies(upload, [b"y" * 10])

    client.meta.events.register_first("before-call.s3.CompleteMultipartUpload", replace_part)
    try:
        with pytest.raises(uploads.UploadRefused, match="S3 refused to complete .*aborted"):
            uploads.finish_upload(client, upload)
    finally:
        client.meta.events.unregister("before-call.s3.CompleteMultipartUpload", replace_part)
    assert upload.upload_id not in in_flight(client, upload.bucket)
    assert "Contents" not in client.list_objects_v2(Bucket=upload.bucket, Prefix=upload.key)
