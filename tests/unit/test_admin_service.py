"""services.admin: the down confirmation rule, email validation and subscriptions (on in-process moto)."""

from __future__ import annotations

import io

import boto3
import pytest
from moto import mock_aws

from deploy import __main__ as cli
from deploy import deployer
from services import admin
from stack.settings import Settings


@pytest.mark.parametrize(
    ("target", "answer", "confirmed"),
    [
        ("local", "local", True),
        ("local", "  local \n", True),
        ("local", "Local", False),
        ("local", "aws", False),
        ("local", "", False),
        ("local", None, False),
        ("local", "ETL-StepFunction-Controller", False),
        ("aws", "aws", True),
        ("aws", "local", False),
    ],
)
def test_down_is_confirmed_only_by_the_target_name(target, answer, confirmed):
    assert admin.down_confirmed(Settings(target=target), answer) is confirmed


@pytest.mark.parametrize("answer", ["aws", "", "LOCAL", "local!", "ETL-StepFunction-Controller"])
def test_the_cli_refuses_what_the_console_refuses(answer, fake_aws_env):
    """``python -m deploy down`` says no before any AWS call to the answers the console refuses."""
    assert not admin.down_confirmed(Settings(target="local"), answer)
    out = io.StringIO()
    assert cli.main(["down", "--target", "local"], out=out, ask=lambda prompt: answer) == 1
    assert "not confirmed, nothing deleted" in out.getvalue()


@pytest.mark.parametrize("answer", ["local", " local "])
def test_the_cli_goes_on_with_what_the_console_accepts(answer, fake_aws_env, monkeypatch):
    assert admin.down_confirmed(Settings(target="local"), answer)
    calls = []
    monkeypatch.setattr(
        deployer, "down", lambda settings, delete_data, progress: calls.append(delete_data) or []
    )
    assert cli.main(["down", "--target", "local"], out=io.StringIO(), ask=lambda prompt: answer) == 0
    assert calls == [False]


def test_the_prompt_names_what_goes():
    assert "except the data" in admin.down_prompt(Settings(), delete_data=False)
    assert "data included" in admin.down_prompt(Settings(), delete_data=True)
    assert "Type 'local'" in admin.down_prompt(Settings(), delete_data=False)


@pytest.mark.parametrize("address", ["ops@example.com", "first.last+etl@sub.example.co.uk", " a@b.io "])
def test_valid_emails(address):
    assert admin.valid_email(address)


@pytest.mark.parametrize("address", ["", "ops", "ops@", "@example.com", "ops@example", "a b@example.com"])
def test_invalid_emails(address):
    assert not admin.valid_email(address)


def test_pending_confirmation_on_aws_and_in_attributes():
    assert admin.is_pending("PendingConfirmation")
    assert admin.is_pending("pending confirmation")  # what Subscribe answers without ReturnSubscriptionArn
    assert admin.is_pending("arn:aws:sns:us-east-1:1:t:abc", {"PendingConfirmation": "true"})
    assert not admin.is_pending("arn:aws:sns:us-east-1:1:t:abc", {"PendingConfirmation": "false"})
    assert not admin.is_pending("arn:aws:sns:us-east-1:1:t:abc")


def test_subscribe_and_list_on_both_topics(fake_aws_env):
    settings = Settings(target="aws")  # in-process moto answers the AWS endpoint
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        for name in (settings.success_topic, settings.failure_topic):
            sns.create_topic(Name=name)
        topics = admin.topic_arns(settings, boto3.client("sts", region_name="us-east-1"))
        assert topics["success"].endswith(":etl-success-topic")

        with pytest.raises(ValueError, match="not an email address"):
            admin.subscribe_email(sns, topics, "ops@")
        assert admin.list_subscriptions(sns, topics) == []

        admin.subscribe_email(sns, topics, " ops@example.com ")
        admin.subscribe_email(sns, topics, "ops@example.com")  # twice: still one per topic
        found = admin.list_subscriptions(sns, topics)
        assert [(s.topic, s.endpoint, s.protocol) for s in found] == [
            ("etl-failure-topic", "ops@example.com", "email"),
            ("etl-success-topic", "ops@example.com", "email"),
        ]
        assert not any(s.pending for s in found)  # moto confirms at once


def test_listing_a_topic_that_is_not_deployed_finds_nothing(fake_aws_env):
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        topics = admin.topic_arns(Settings(target="aws"), boto3.client("sts", region_name="us-east-1"))
        assert admin.list_subscriptions(sns, topics) == []
