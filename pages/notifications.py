"""Notifications: the inbox of every message the local AWS published; on AWS, who receives the emails."""

from __future__ import annotations

import streamlit as st
from botocore.exceptions import BotoCoreError, ClientError

from services import admin, console, notifications

settings = console.frame()
FILTERS = {"All": None, "Success": "success", "Failure": "failure"}
KIND_MARK = {"success": "✅", "failure": "❌", "other": "✉️"}

st.title("Notifications")

if settings.target == "aws":
    console.require_admin(settings)  # the subscribers' email addresses are personal data
    st.info(
        "On AWS there is no inbox: SNS emails every message to the addresses subscribed to "
        f"`{settings.success_topic}` and `{settings.failure_topic}`. Manage them on the Admin page."
    )
    try:
        topics = admin.topic_arns(settings, console.client("sts"))
        subscriptions = admin.list_subscriptions(console.client("sns"), topics)
    except (BotoCoreError, ClientError) as error:
        st.error(f"Cannot list the subscriptions: {error}")
        st.stop()
    waiting = sorted({s.endpoint for s in subscriptions if s.pending})
    if waiting:
        st.warning(f"Waiting for confirmation (no email until the link is clicked): {', '.join(waiting)}.")
    if subscriptions:
        st.dataframe(admin.subscription_rows(subscriptions), hide_index=True)
    else:
        st.warning("Nobody is subscribed: run notifications go nowhere.")
    st.stop()

st.caption(
    "Every message the local AWS published to SNS, newest first (email subscribers also get it by SMTP). "
    f"Read from `{notifications.inbox_path(settings)}`."
)
left, right = st.columns([3, 1], vertical_alignment="bottom")
chosen = left.radio("Show", list(FILTERS), horizontal=True, key="notification_filter")
right.button("Refresh", key="refresh_inbox", icon="🔄")  # a click reruns the page, which rereads the file

inbox = notifications.read_inbox(settings)
if inbox.damaged_lines:
    st.warning(f"{inbox.damaged_lines} line(s) of {inbox.path} are not notification records; skipped.")
if not inbox.notifications:
    st.info(
        "No notifications yet: the pipeline sends one at the end of every run."
        if inbox.exists
        else f"No inbox at {inbox.path} yet: nothing has been published since the local AWS started here."
    )
    st.stop()

shown = notifications.of_kind(inbox.notifications, FILTERS[chosen])
st.caption(f"{len(shown)} of {len(inbox.notifications)} notification(s).")
for item in shown:
    when = item.time.strftime("%Y-%m-%d %H:%M:%S %Z") if item.time else "time unknown"
    subject = console.escape_markdown(item.subject) if item.subject else "(no subject)"
    with st.expander(f"{KIND_MARK[item.kind]} {subject} · {item.topic_name} · {when}"):
        st.markdown(f"**Topic** `{item.topic}`  \n**Sent** {when}  \n**Message id** `{item.message_id}`")
        if item.emails:
            st.markdown("**Emailed to** " + ", ".join(console.escape_markdown(e) for e in item.emails))
        parsed = item.message_json
        if isinstance(parsed, dict | list):
            st.json(parsed)
        else:
            st.text(item.message)
        arn = notifications.execution_arn(item, settings)
        if arn:
            st.page_link(
                "pages/monitor.py",
                label="Open the run in the monitor",
                icon="📡",
                query_params={"execution": arn},
            )
