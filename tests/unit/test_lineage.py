"""Lineage and the audit log's shapes (pipeline/glue/run_lineage.py): what the table and report record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import run_lineage
from run_lineage import AuditEntry, InputFile

from services import explorer

HEAD = {
    "VersionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
    "ETag": '"9b2cf535f27731c974343645a3985328"',
    "ContentLength": 2_048_000,
    "LastModified": datetime(2026, 11, 29, 10, 36, 57, tzinfo=timezone(timedelta(hours=1))),
}


def test_an_s3_object_is_recorded_with_version_etag_size_and_upload_time_in_utc():
    item = run_lineage.input_from_head("orders", "s3://ecommerce-orders-raw/uploads/o.csv", HEAD)
    assert item == InputFile(
        "orders",
        "s3://ecommerce-orders-raw/uploads/o.csv",
        version_id="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        etag="9b2cf535f27731c974343645a3985328",
        size=2_048_000,
        uploaded_at="2026-11-29T09:36:57+00:00",
    )
    assert item.describe() == (
        "orders: s3://ecommerce-orders-raw/uploads/o.csv, version 3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY, "
        "2.0 MB, uploaded 2026-11-29 09:36:57 UTC"
    )


def test_an_unversioned_bucket_records_no_version():
    item = run_lineage.input_from_head("returns", "s3://b/r.csv", {**HEAD, "VersionId": "null"})
    assert item.version_id is None and "version" not in item.describe()


def test_table_parameters_are_strings_and_read_back_the_same_inputs():
    inputs = [
        run_lineage.input_from_head("orders", "s3://o/a.csv", HEAD),
        InputFile("returns", "s3://r/b.csv", etag="abc", size=10),
    ]
    parameters = run_lineage.table_parameters(inputs)
    assert all(isinstance(v, str) for v in parameters.values())
    assert parameters["orders_version_id"] == HEAD["VersionId"] and parameters["returns_size"] == "10"
    assert "returns_version_id" not in parameters and "returns_uploaded_at" not in parameters
    assert run_lineage.inputs_from_parameters(parameters) == inputs
    assert run_lineage.inputs_from_report({"inputs": run_lineage.report_inputs(inputs)}) == inputs


def test_a_table_from_before_lineage_names_no_inputs():
    assert run_lineage.inputs_from_parameters({"run_id": "r1", "rows": "3"}) == []
    assert run_lineage.inputs_from_report({"run_id": "r1"}) == []


def test_the_published_run_shows_its_inputs():
    class Glue:
        class exceptions:  # noqa: N801 - the shape of a boto3 client's exceptions
            EntityNotFoundException = KeyError

        def get_table(self, DatabaseName, Name):  # noqa: N803 - boto3's argument names
            parameters = {
                "run_id": "r1",
                **run_lineage.table_parameters([InputFile("orders", "s3://o/a.csv")]),
            }
            return {"Table": {"Parameters": parameters, "StorageDescriptor": {"Location": "s3://p/"}}}

    from stack.settings import Settings

    run = explorer.published_run(Settings(), Glue())
    assert run.lineage() == ["orders: s3://o/a.csv"]


def test_audit_entries_sort_by_time_and_round_trip():
    first = run_lineage.audit_entry("publish", "pipeline execution x", "r1", None, "2026-11-29T09:00:00.000Z")
    second = AuditEntry("2026-11-29T10:00:00.001Z", "make-live", "ann@example.com", "r0", "r1")
    assert first.key("audit/").startswith("audit/") and first.key("audit/").endswith("-publish-r1.json")
    assert second.key("audit/") == "audit/20261129T100000001Z-make-live-r0.json"
    assert AuditEntry.from_json(second.to_json()) == second
    later = AuditEntry(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.999Z"), "publish", "w", "r2", "r0")
    assert sorted([later.key(""), second.key("")]) == [second.key(""), later.key("")]


def test_an_unknown_audit_action_is_refused():
    with pytest.raises(ValueError, match="unknown audit action"):
        run_lineage.audit_entry("delete", "me", "r1", None)


@pytest.mark.parametrize(("size", "text"), [(812, "812 B"), (2_048_000, "2.0 MB"), (5 * 1024**3, "5.0 GB")])
def test_sizes_read_as_people_read_them(size, text):
    assert run_lineage.human_size(size) == text
