"""The Admin page under AppTest against the deployed local AWS (never tears it down: other tests use it)."""

from __future__ import annotations

import json
import uuid

import pytest

from deploy import deployer
from services import admin, demo_data
from stack import aws
from tests.e2e.console.conftest import page, plain
from tests.e2e.test_pipeline import Pipeline

pytestmark = pytest.mark.spark

# The 33 resources of the pipeline (seven Lambdas and their roles among them), plus one email-subscriptions
# resource per topic because the test deployment subscribes team@example.com (tests/e2e/conftest.py).
RESOURCES = 33 + 2
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "c"}


def dataframe_with(app, column: str):
    """The first table on the page that has ``column``."""
    frames = [frame.value for frame in app.dataframe if column in frame.value.columns]
    assert frames, f"no table with a {column!r} column"
    return frames[0]


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


@pytest.fixture
def unsubscribe_after(console_env):
    """Removes the subscriptions a test adds, so the shared local AWS mails nobody new afterwards."""
    sns = aws.client(console_env, "sns")
    topics = admin.topic_arns(console_env, aws.client(console_env, "sts"))
    before = {s.arn for s in admin.list_subscriptions(sns, topics)}
    yield sns, topics
    for subscription in admin.list_subscriptions(sns, topics):
        if subscription.arn not in before and subscription.arn.startswith("arn:"):
            sns.unsubscribe(SubscriptionArn=subscription.arn)


def test_plan_after_up_has_nothing_to_change(console_env):
    app = page("admin.py").run()
    assert not app.exception
    assert not [b for b in app.button if b.key == "up"], "up is offered only after a plan"

    app.button(key="plan").click().run()
    assert not app.exception
    assert f"Nothing to change: all {RESOURCES} resources are up to date." in texts(app.success)
    plan = dataframe_with(app, "action")
    assert list(plan.columns) == ["resource", "action", "details"]
    assert len(plan) == RESOURCES
    assert set(plan["action"]) == {"none"}
    assert app.button(key="up").disabled


def test_up_repairs_drift_with_progress_then_plan_is_clean(console_env):
    """A real drift (the scripts bucket loses its public access block), planned and repaired by the page."""
    s3 = aws.client(console_env, "s3")
    bucket = console_env.scripts_bucket
    s3.delete_public_access_block(Bucket=bucket)
    try:
        app = page("admin.py").run()
        app.button(key="plan").click().run()
        assert not app.exception
        plan = dataframe_with(app, "action")
        drift = plan[plan["action"] != "none"]
        assert list(drift["resource"]) == [f"s3 bucket {bucket}"]
        assert list(drift["action"]) == ["update"] and "block public access" in drift["details"].iloc[0]
        assert f"Plan: 1 update, {RESOURCES - 1} unchanged." in texts(app.info)

        app.button(key="up").click().run()
        assert not app.exception
        (box,) = [s for s in app.status if s.label.startswith("up ")]
        assert box.label == f"up done: 1 update, {RESOURCES - 1} unchanged" and box.state == "complete"
        lines = [m.value for m in box.markdown]  # one line per resource, written by the progress callback
        assert (
            len(lines) == RESOURCES
            and lines[3] == f":orange[update] · s3 bucket {bucket} — block public access"
        )
        (bar,) = box.get("progress")
        assert (
            bar.proto.value == 100
            and bar.proto.text == f"{RESOURCES} of {RESOURCES}: {plan['resource'].iloc[-1]}"
        )
        assert f"up: 1 update, {RESOURCES - 1} unchanged" in texts(app.success)
        assert not [b for b in app.button if b.key == "up"], "the plan is spent once applied"
        assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicAcls"]

        app.button(key="plan").click().run()
        assert f"Nothing to change: all {RESOURCES} resources are up to date." in texts(app.success)
    finally:  # leave the shared deployment as it was even when the page failed
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=deployer.PUBLIC_ACCESS_BLOCK)


def test_status_lists_every_resource_and_all_exist(console_env):
    app = page("admin.py").run()
    assert not app.exception
    status = dataframe_with(app, "exists")
    assert len(status) == RESOURCES
    assert status["exists"].all(), status[~status["exists"]]
    assert {"s3 bucket ecommerce-orders-raw", "glue job ecommerce_join_data"} <= set(status["resource"])
    assert f"{RESOURCES} of {RESOURCES} resources exist." in texts(app.caption)


def test_subscribing_an_address_lists_it_on_both_topics(console_env, unsubscribe_after):
    app = page("admin.py").run()
    app.text_input(key="subscribe_email").input("ops@example.com")
    app.button[[b.label for b in app.button].index("Subscribe to success and failure emails")].click().run()
    assert not app.exception
    assert "Subscribed ops@example.com" in texts(app.success)
    subscriptions = dataframe_with(app, "endpoint")
    ops = subscriptions[subscriptions["endpoint"] == "ops@example.com"]
    assert sorted(ops["topic"]) == ["etl-failure-topic", "etl-success-topic"]
    # moto confirms email subscriptions at once: a real ARN, no confirmation warning.
    assert set(ops["state"]) == {"confirmed"}
    assert all(arn.startswith("arn:aws:sns:") for arn in ops["arn"])
    assert "Waiting for confirmation" not in texts(app.warning)


def test_a_subscription_waiting_for_confirmation_is_flagged(console_env, unsubscribe_after):
    """AWS keeps an email subscription pending until its link is clicked; moto never does, so the moto
    backend (in this process) is told the subscription is pending, as AWS would report it."""
    from moto.sns.models import sns_backends

    sns, topics = unsubscribe_after
    arn = sns.subscribe(TopicArn=topics["failure"], Protocol="email", Endpoint="pending@example.com")[
        "SubscriptionArn"
    ]
    account, region = arn.split(":")[4], arn.split(":")[3]
    sns_backends[account][region].subscriptions[arn].attributes["PendingConfirmation"] = "true"

    app = page("admin.py").run()
    assert not app.exception
    assert "Waiting for confirmation: pending@example.com." in texts(app.warning)
    subscriptions = dataframe_with(app, "endpoint")
    assert list(subscriptions[subscriptions["endpoint"] == "pending@example.com"]["state"]) == [
        "pending confirmation"
    ]


def test_an_invalid_address_is_refused(console_env, unsubscribe_after):
    app = page("admin.py").run()
    app.text_input(key="subscribe_email").input("ops-at-example.com")
    app.button[[b.label for b in app.button].index("Subscribe to success and failure emails")].click().run()
    assert not app.exception
    assert "'ops-at-example.com' is not an email address: nothing subscribed." in texts(app.error)
    assert "ops-at-example.com" not in set(dataframe_with(app, "endpoint")["endpoint"])


@pytest.mark.parametrize("answer", ["", "ETL-StepFunction-Controller", "Local", "aws"])
def test_down_without_the_exact_confirmation_deletes_nothing(console_env, answer):
    app = page("admin.py").run()
    assert app.checkbox(key="down_delete_data").value is False
    assert "Type 'local' to go on." in texts(app.markdown)
    app.text_input(key="down_confirmation").input(answer)
    app.button(key="down").click().run()
    assert not app.exception
    assert "Not confirmed: type 'local' exactly. Nothing was deleted." in texts(app.error)
    assert not app.status or all(s.label != "down" for s in app.status)
    report = admin.status(console_env)
    assert len(report) == RESOURCES and all(row["exists"] for row in report)


def test_with_auth_a_user_not_on_the_admin_list_is_refused(console_env, monkeypatch):
    monkeypatch.setenv("ECOMMERCE_ADMIN_EMAILS", "boss@example.com")
    app = page("admin.py")
    app.secrets["auth"] = AUTH
    app.user = {"email": "dev@example.com", "is_logged_in": True}
    app.run()
    assert not app.exception
    assert "This page is for admins. dev@example\\.com is not on the admin allow-list" in texts(app.error)
    assert not [b for b in app.button if b.key in ("plan", "down")]


def test_with_auth_an_admin_gets_in(console_env, monkeypatch):
    monkeypatch.setenv("ECOMMERCE_ADMIN_EMAILS", "dev@example.com,Boss@Example.com")
    app = page("admin.py")
    app.secrets["auth"] = AUTH
    app.user = {"email": "boss@example.com", "is_logged_in": True, "email_verified": True}
    app.run()
    assert not app.exception
    assert "This page is for admins" not in texts(app.error)
    assert app.button(key="plan")


def test_make_live_puts_an_earlier_run_back_for_everyone_and_is_audited(
    console_env, seed_run, local_aws, wrangler
):
    seed_run_id = json.loads(seed_run["output"])["glue"]["run_id"]
    pipeline = Pipeline(local_aws)
    folder = f"admin-{uuid.uuid4().hex[:8]}"
    demo = {"seed": 3, "lines": 120}
    _batch, execution = pipeline.upload(
        (f"{folder}/orders.csv", demo_data.orders_csv(**demo)),
        (f"{folder}/returns.csv", demo_data.returns_csv(**demo)),
        first="orders",
    )
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    newer = pipeline.table()["Parameters"]["run_id"]
    assert newer != seed_run_id and pipeline.counts()["n"] == 120

    app = page("admin.py").run()
    assert not app.exception
    kept = dataframe_with(app, "input files")
    assert list(kept[kept["live"] != ""]["run"]) == [newer]
    assert seed_run_id in list(kept["run"])
    app.selectbox(key="make_live_run").select(seed_run_id).run()
    assert "OLDER batch" in plain(texts(app.warning))
    assert app.button(key="make_live").disabled  # not before the confirmation
    app.checkbox(key="make_live_confirm").check().run()
    app.button(key="make_live").click().run()

    assert not app.exception
    assert f"Run {seed_run_id} is live, in place of {newer}" in plain(texts(app.success))
    assert pipeline.table()["Parameters"]["run_id"] == seed_run_id
    assert pipeline.counts() == {"n": 20, "r": 10}  # what the Explorer's Athena queries now read
    audit = dataframe_with(app, "previous run")
    latest = audit.iloc[0]
    assert (latest["action"], latest["run"], latest["previous run"]) == ("make-live", seed_run_id, newer)
    assert latest["who"].endswith("(console, not signed in)")
