"""The notification emails (pipeline/lambdas/emails.py): what the reader gets, and what SNS accepts."""

from __future__ import annotations

import pytest

from pipeline.lambdas import emails, render_email, runs
from pipeline.lambdas.config import LambdaConfig

ARN = "arn:aws:states:us-east-1:123456789012:execution:ETL-StepFunction-Controller:batch-0123abcd"
CONSOLE = "https://etl.example.com"
ORDERS = {
    "bucket": "ecommerce-orders-raw",
    "key": "uploads/2026/11/29/orders-Superstore.csv",
    "etag": "e1",
    "last_modified": "2026-11-29T09:36:57Z",
    "size": 2287450,
    "version_id": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
}
RETURNS = {
    "bucket": "ecommerce-returns-raw",
    "key": "uploads/2026/11/29/returns-Superstore.csv",
    "etag": "e2",
    "last_modified": "2026-11-29T09:36:50Z",
    "size": 22100,
    "version_id": "Xv1",
}
GLUE = {"job_name": "ecommerce_join_data", "job_run_id": "jr_abc", "run_id": "20261129T093657Z-5a61c052"}
QUALITY = {
    "rows_in": 51290,
    "rows_out": 51287,
    "returned_lines": 3226,
    "unmatched_returns": 0,
    "quarantined_lines": 3,
    "published": True,
    "warnings": [],
    "report_uri": "s3://ecommerce-processed/joined-data/run_id=20261129T093657Z-5a61c052/_quality/report.json",
}


def success(quality=QUALITY, **extra) -> dict:
    state = {
        "files": {"orders": ORDERS, "returns": RETURNS},
        "glue": GLUE,
        "glue_status": {"duration_seconds": 42, "quality": quality},
    }
    return {
        "kind": "success",
        "execution_arn": ARN,
        "execution_name": "batch-0123abcd",
        "state": state,
        **extra,
    }


def failure(
    failed_state="GlueJob", error="GlueJobFailed", cause="returns file has no order id column", **state
):
    state = {"files": {"orders": ORDERS, "returns": RETURNS}, **state}
    state["failure"] = {"failed_state": failed_state, "error": error, "cause": cause}
    return {"kind": "failure", "execution_arn": ARN, "execution_name": "batch-0123abcd", "state": state}


def missing() -> dict:
    files = {
        "orders": ORDERS,
        "returns": None,
        "waiting_for": "returns",
        "lone_side": "orders",
        "waiting_since": "2026-11-29T09:36:57Z",
        "waiting_until": "2026-11-30T09:36:57Z",
    }
    return {
        "kind": "export_missing",
        "execution_arn": ARN,
        "execution_name": "awaiting-x",
        "state": {"files": files},
    }


def sns_accepts(subject: str) -> bool:
    """SNS's rules for a Subject: ASCII, printable, one line, less than 100 characters."""
    return subject.isascii() and subject.isprintable() and 0 < len(subject) < 100 and subject[0].isalnum()


# ---------------------------------------------------------------------------------------------- subject


def test_success_subject_says_outcome_batch_and_counts() -> None:
    email = emails.render(success(), CONSOLE)

    assert email.subject == "ETL succeeded: 20261129T093657Z-5a61c052 - 51,290 in, 51,287 out, 3 quarantined"
    assert sns_accepts(email.subject)


def test_subjects_stay_within_the_sns_limit_with_long_keys_and_run_ids() -> None:
    long_run = {**GLUE, "run_id": "20261129T093657Z-" + "r" * 200}
    long_key = {**ORDERS, "key": "uploads/" + "Bestellungen März 2026 – Übersicht " * 8 + ".csv"}
    long_failure = failure(failed_state="S" * 80, error="E" * 200, cause="x\n" * 1000)
    long_failure["state"]["glue"] = long_run
    lone = missing()
    lone["state"]["files"]["orders"] = long_key
    cases = [
        success(state={**success()["state"], "glue": long_run}),
        long_failure,
        lone,
        {"kind": "failure", "execution_name": "n" * 80, "state": {}},
        success(quality={**QUALITY, "rows_in": 10**15, "rows_out": 10**15, "quarantined_lines": 10**15}),
    ]
    for event in cases:
        subject = emails.render(event, CONSOLE).subject
        assert sns_accepts(subject), subject
        assert len(subject) == emails.SUBJECT_MAX or event is cases[-1], subject
    # Long batch names keep their start and end; the outcome always comes first.
    assert emails.render(cases[0]).subject.startswith("ETL succeeded: 20261129T093657Z-rrr")
    assert emails.render(long_failure).subject.startswith("ETL FAILED at SSSS")


def test_subject_text_is_ascii_on_one_line() -> None:
    assert emails.subject_text("Ünïcode\nrun\t1 ✓") == "Unicode run 1 ?"
    assert emails.subject_text("x" * 200) == "x" * 96 + "..."


def test_export_missing_subject_names_what_is_missing_and_the_lone_file() -> None:
    subject = emails.render(missing()).subject
    assert subject == "ETL returns export missing: orders-Superstore.csv - waiting since 2026-11-29T09:36:57Z"


def test_failure_subject_names_state_batch_and_error() -> None:
    email = emails.render(failure(glue=GLUE))
    assert email.subject == "ETL FAILED at GlueJob: 20261129T093657Z-5a61c052 - GlueJobFailed"


def test_without_a_run_id_the_batch_comes_from_the_files_as_the_trigger_derives_it() -> None:
    email = emails.render(failure(failed_state="TriggerGlueJob", error="GlueStartError"))
    orders, returns = runs.as_object(ORDERS), runs.as_object(RETURNS)
    expected = runs.run_id(runs.batch_time(orders, returns), "batch-0123abcd")
    assert expected in email.subject


# ------------------------------------------------------------------------------------------------- body


def test_success_body_lists_files_with_versions_counts_and_the_link() -> None:
    message = emails.render(success(), CONSOLE).message

    assert (
        message.splitlines()[0]
        == "ETL run 20261129T093657Z-5a61c052 succeeded: the table now shows this run."
    )
    assert f"Open the run: {CONSOLE}/monitor?execution={ARN}" in message.splitlines()
    assert (
        "  orders:  s3://ecommerce-orders-raw/uploads/2026/11/29/orders-Superstore.csv  "
        "(version 3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY, 2,287,450 bytes)"
    ) in message.splitlines()
    assert "(version Xv1, 22,100 bytes)" in message
    assert "  Rows in:           51,290" in message.splitlines()
    assert "  Returned lines:     3,226" in message.splitlines()
    assert "  Quarantined lines:      3" in message.splitlines()
    assert "Warnings" not in message  # none: no section at all
    assert "took 42 s" in message and QUALITY["report_uri"] in message
    assert "Execution: batch-0123abcd" in message.splitlines()
    assert "\n\n\n" not in message


def test_warnings_are_a_list() -> None:
    quality = {**QUALITY, "warnings": ["3 lines quarantined (0.01%)", "12 returns match no order"]}
    email = emails.render(success(quality=quality))

    assert "Warnings (2):\n  - 3 lines quarantined (0.01%)\n  - 12 returns match no order\n" in email.message
    assert email.subject.startswith("ETL succeeded with 2 warnings: ")


def test_a_run_without_report_or_not_published_says_so() -> None:
    no_report = emails.render(success(quality=None))
    assert "  - The Glue job wrote no data-quality report." in no_report.message
    assert "Rows in:" in no_report.message and "n/a" in no_report.message
    placeholders = {k: "n/a" for k in QUALITY} | {
        "warnings": ["The Glue job reported no data-quality report."]
    }
    assert "  Rows in:           n/a" in emails.render(success(quality=placeholders)).message
    older = emails.render(success(quality={**QUALITY, "published": False}))
    assert older.subject.startswith("ETL succeeded, not published: ")
    assert "was not published: the table shows a newer batch" in older.message


def test_without_a_console_url_there_is_no_link_line() -> None:
    for event in (success(), failure(), missing()):
        message = emails.render(event, None).message
        assert "Open the run" not in message and "/monitor?" not in message
        assert "Open the run" not in emails.render(event, "").message
        assert (
            f"Open the run: {CONSOLE}/monitor?execution={ARN}" in emails.render(event, CONSOLE + "/").message
        )


def test_failure_body_names_state_error_cause_and_next_step() -> None:
    event = failure(glue_stop={"stopped": ["jr_abc"], "errors": []})
    message = emails.render(event, CONSOLE).message
    lines = message.splitlines()

    assert lines[0].startswith("ETL run ") and lines[0].endswith(" FAILED at GlueJob.")
    assert "Failed state: GlueJob" in lines and "Error: GlueJobFailed" in lines
    assert "Cause: returns file has no order id column" in lines
    assert any(line.startswith("What to do next: Read the cause: fix the file") for line in lines)
    assert (
        "  returns: s3://ecommerce-returns-raw/uploads/2026/11/29/returns-Superstore.csv  "
        "(version Xv1, 22,100 bytes)"
    ) in lines
    assert "Stopped Glue run(s): jr_abc" in lines
    assert f"Open the run: {CONSOLE}/monitor?execution={ARN}" in lines


@pytest.mark.parametrize(
    ("failed_state", "error", "advice"),
    [
        ("CheckForFiles", "FilesMissing", "Upload the missing export"),
        ("CheckForFiles", "FileReplaced", "the newer upload has its own run"),
        ("GlueJob", "GlueJobTimeout", "rerun from the run monitor"),
        ("NotifySuccess", "SNS.NotFoundException", "check the SNS topic"),
        ("TriggerGlueJob", "States.TaskFailed", "Check the logs of the step that failed (TriggerGlueJob)"),
    ],
)
def test_next_step_depends_on_the_failure(failed_state: str, error: str, advice: str) -> None:
    assert advice in emails.render(failure(failed_state, error)).message


def test_a_failure_before_the_files_were_found_names_the_input_files() -> None:
    event = {
        "kind": "failure",
        "execution_arn": ARN,
        "execution_name": "batch-0123abcd",
        "execution_input": {"orders": {**ORDERS, "version_id": None}, "returns": None},
        "state": {
            "failure": {"failed_state": "CheckForFiles", "error": "States.TaskFailed", "cause": "boom"}
        },
    }
    message = emails.render(event).message
    assert (
        "  orders:  s3://ecommerce-orders-raw/uploads/2026/11/29/orders-Superstore.csv  (unversioned"
        in message
    )
    assert "  returns: (none)" in message
    assert emails.render({"kind": "failure", "state": {}}).subject.startswith(
        "ETL FAILED at an unknown state"
    )


def test_a_long_cause_is_cut() -> None:
    message = emails.render(failure(cause="x" * 10_000)).message
    assert "x" * emails.CAUSE_MAX + " … (cut; the run monitor shows it all)" in message
    assert "x" * (emails.CAUSE_MAX + 1) not in message


def test_export_missing_body_is_not_a_failure() -> None:
    message = emails.render(missing(), CONSOLE).message
    assert message.startswith(
        "The returns export is missing: the orders file arrived at 2026-11-29T09:36:57Z"
    )
    assert "What to do next: upload the returns export" in message
    assert "  returns: (none)" in message and "(version 3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY" in message
    assert "fail" not in message.lower()


def test_counts_have_thousands_separators() -> None:
    assert [emails.count(v) for v in (0, 999, 1000, 51290, 1234567, 2.5, None, "n/a")] == [
        "0", "999", "1,000", "51,290", "1,234,567", "2.5", "n/a", "n/a",
    ]  # fmt: skip


def test_the_handler_takes_the_console_url_from_the_environment() -> None:
    cfg = LambdaConfig.from_env({"CONSOLE_URL": CONSOLE})
    assert render_email.process(success(), cfg) == emails.render(success(), CONSOLE).to_dict()
    no_link = render_email.process(success(), LambdaConfig.from_env({}))
    assert "Open the run" not in no_link["message"]
    with pytest.raises(ValueError, match="unknown email kind"):
        render_email.process({"kind": "other"}, cfg)


def test_the_console_url_setting_comes_from_the_environment_and_must_be_http() -> None:
    from stack.settings import Settings

    assert Settings.from_env({"ECOMMERCE_CONSOLE_URL": CONSOLE}).console_url == CONSOLE
    assert Settings.from_env({}).console_url == ""  # no link unless someone says where the console is
    with pytest.raises(ValueError, match="console_url must be an http"):
        Settings.from_env({"ECOMMERCE_CONSOLE_URL": "javascript:alert(1)"})
