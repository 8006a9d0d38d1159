"""Admin: plan and apply the deployment, see every resource, manage email subscriptions, tear down."""

from __future__ import annotations

import streamlit as st
from botocore.exceptions import BotoCoreError, ClientError

from services import admin, console
from services.console import Settings

settings = console.frame()
console.require_admin(settings)
FAILURES = (admin.DeployError, BotoCoreError, ClientError)
ACTION_MARK = {"create": ":green[create]", "update": ":orange[update]", "delete": ":red[delete]"}


@st.cache_data(ttl=30, show_spinner="Reading every resource…")
def resource_status(settings_key: str, _settings: Settings) -> list[dict]:
    return admin.status_rows(admin.status(_settings))


def run_with_progress(label: str, total: int, work) -> list[admin.Change] | None:
    """``work(progress)`` inside an st.status box with a progress bar advanced by the deployer's callback;
    the changes, or None after an error (shown in the box)."""
    with st.status(label, expanded=True) as box:
        bar = st.progress(0.0, text=f"0 of {total} resources")
        done: list[admin.Change] = []

        def progress(change: admin.Change) -> None:
            done.append(change)
            bar.progress(
                min(len(done) / max(total, 1), 1.0), text=f"{len(done)} of {total}: {change.resource}"
            )
            mark = ACTION_MARK.get(change.action, "unchanged")
            box.markdown(f"{mark} · {change.resource}" + (f" — {change.detail}" if change.detail else ""))

        try:
            changes = work(progress)
        except FAILURES as error:
            box.update(label=f"{label} failed after {len(done)} of {total} resources", state="error")
            st.error(str(error))
            return None
        box.update(label=f"{label} done: {admin.summary(changes)}", state="complete", expanded=False)
    resource_status.clear()
    return changes


def show_result(command: str, changes: list[admin.Change]) -> None:
    st.success(f"{command}: {admin.summary(changes)}")
    with st.expander(f"What `{command}` did, resource by resource"):
        st.dataframe(admin.plan_rows(changes), hide_index=True)


st.title("Admin")
st.caption(
    f"Target: **{console.target_label(settings)}**. Everything here goes through the deployer "
    "(`python -m deploy`), so the console and the CLI do the same thing."
)

# --- deploy ---------------------------------------------------------------------------------------------

st.header("Deploy")
st.caption("`plan` reads every resource and changes nothing; `up` applies the plan, in dependency order.")
if st.button("Plan", key="plan", icon="🔍"):
    st.session_state.pop("admin_result", None)
    with st.status("Planning: reading every resource…") as box:
        try:
            st.session_state["admin_plan"] = admin.plan(settings)
            box.update(label="Plan ready", state="complete")
        except FAILURES as error:
            st.session_state.pop("admin_plan", None)
            box.update(label="Plan failed", state="error")
            st.error(str(error))

if result := st.session_state.get("admin_result"):
    show_result(*result)

planned: list[admin.Change] | None = st.session_state.get("admin_plan")
if planned is not None:
    plan_area = st.empty()
    pending = admin.to_apply(planned)
    with plan_area.container():
        if pending:
            st.info(f"Plan: {admin.summary(planned)}. `up` makes {len(pending)} change(s).")
        else:
            st.success(f"Nothing to change: all {len(planned)} resources are up to date.")
        st.dataframe(admin.plan_rows(planned), hide_index=True)
        apply = st.button(
            "Apply the plan (up)",
            key="up",
            type="primary",
            disabled=not pending,
            help="Shown after a plan; disabled when there is nothing to change.",
        )
    if apply:
        plan_area.empty()
        st.session_state.pop("admin_plan", None)
        changes = run_with_progress(
            "up", len(planned), lambda progress: admin.up(settings, progress=progress)
        )
        if changes is not None:
            st.session_state["admin_result"] = ("up", changes)
            show_result("up", changes)

# --- status ---------------------------------------------------------------------------------------------

st.header("Resources")
if st.button("Refresh", key="refresh_status", icon="🔄"):
    resource_status.clear()
try:
    rows = resource_status(repr(settings), settings)
except FAILURES as error:
    rows = []
    st.error(f"Cannot read the resources: {error}")
if rows:
    present = sum(row["exists"] for row in rows)
    (st.caption if present == len(rows) else st.warning)(f"{present} of {len(rows)} resources exist.")
    st.dataframe(rows, hide_index=True)

# --- published runs -------------------------------------------------------------------------------------

st.header("Published runs")
st.caption(
    f"The newest {settings.keep_runs} runs keep their data. **Make live** points the table at one of them "
    "(the same single catalog update as a publish); each publish and each change is in the audit log. "
    "The CLI does the same: `python -m deploy runs`, `python -m deploy publish RUN_ID`."
)
if done := st.session_state.pop("admin_made_live", None):
    st.success(done)
try:
    kept = admin.kept_runs(settings)
except FAILURES as error:
    kept = []
    st.error(f"Cannot read the kept runs: {error}")
if not kept:
    st.info("No run has written its data yet.")
else:
    st.dataframe(admin.kept_run_rows(kept), hide_index=True)
    candidates = [run.run_id for run in kept if run.can_go_live]
    if not candidates:
        st.caption("No other kept run can be made live.")
    else:
        chosen = st.selectbox("Run to make live", candidates, key="make_live_run")
        try:
            change = admin.plan_make_live(settings, chosen)
        except (admin.RollbackError, *FAILURES) as error:
            st.error(console.escape_markdown(str(error)))
        else:
            (st.warning if change.older_batch else st.info)(console.escape_markdown(change.warning()))
            confirmed = st.checkbox(f"Yes, make run {chosen} live for everyone", key="make_live_confirm")
            if st.button("Make live", key="make_live", type="primary", disabled=not confirmed):
                try:
                    made = admin.make_live(settings, chosen, admin.console_user(console.user_email()))
                except (admin.RollbackError, *FAILURES) as error:
                    st.error(console.escape_markdown(str(error)))
                else:
                    console.forget_published()
                    st.session_state.pop("make_live_confirm", None)
                    st.session_state["admin_made_live"] = (
                        f"Run {made.run_id} is live"
                        + (f", in place of {made.previous_run_id}" if made.previous_run_id else "")
                        + ". The audit log has the entry."
                    )
                    st.rerun()
with st.expander("Audit log: who made which run live"):
    try:
        entries = admin.audit_log(settings)
    except FAILURES as error:
        entries = []
        st.error(f"Cannot read the audit log: {error}")
    if entries:
        st.dataframe(admin.audit_rows(entries), hide_index=True)
    else:
        st.caption("No entries yet: the first publish writes one.")

# --- email subscriptions --------------------------------------------------------------------------------

st.header("Email notifications")
st.caption(
    f"Addresses subscribed to `{settings.success_topic}` and `{settings.failure_topic}` receive an email "
    "after every run. AWS first sends a confirmation email; nothing arrives until its link is clicked."
)
sns = console.client("sns")
try:
    topics = admin.topic_arns(settings, console.client("sts"))
except FAILURES as error:
    topics = {}
    st.error(f"Cannot read the topics: {error}")

with st.form("subscribe", clear_on_submit=True):
    address = st.text_input("Email address", key="subscribe_email", placeholder="ops@example.com")
    subscribe = st.form_submit_button("Subscribe to success and failure emails")
if subscribe and topics:
    if not admin.valid_email(address or ""):
        st.error(f"'{address}' is not an email address: nothing subscribed.")
    else:
        try:
            admin.subscribe_email(sns, topics, address)
            st.success(f"Subscribed {address.strip()} to {', '.join(topics.values())}.")
        except FAILURES as error:
            st.error(f"Could not subscribe {address.strip()}: {error}")

if topics:
    try:
        subscriptions = admin.list_subscriptions(sns, topics)
    except FAILURES as error:
        subscriptions = []
        st.error(f"Cannot list the subscriptions: {error}")
    waiting = sorted({s.endpoint for s in subscriptions if s.pending})
    if waiting:
        st.warning(
            f"Waiting for confirmation: {', '.join(waiting)}. These addresses get no notification until "
            "the link in AWS's confirmation email is clicked (it expires after 3 days; subscribe again then)."
        )
    if subscriptions:
        st.dataframe(admin.subscription_rows(subscriptions), hide_index=True)
    else:
        st.info("No subscriptions yet.")

# --- down -----------------------------------------------------------------------------------------------

st.header("Tear down")
st.caption(
    "`down` deletes every resource in reverse dependency order. The data buckets and the Glue database "
    "are kept unless you tick the box below."
)
delete_data = st.checkbox("Delete data buckets too", value=False, key="down_delete_data")
st.markdown(admin.down_prompt(settings, delete_data))
answer = st.text_input(
    "Confirmation", key="down_confirmation", placeholder=admin.down_confirmation_word(settings)
)
if st.button("Delete (down)", key="down", type="primary", icon="🗑️"):
    if not admin.down_confirmed(settings, answer):
        st.error(
            f"Not confirmed: type '{admin.down_confirmation_word(settings)}' exactly. Nothing was deleted."
        )
    else:
        st.session_state.pop("admin_plan", None)
        changes = run_with_progress(
            "down",
            len(rows) or len(admin.plan(settings)),
            lambda progress: admin.down(settings, delete_data=delete_data, progress=progress),
        )
        if changes is not None:
            st.session_state["admin_result"] = ("down", changes)
            show_result("down", changes)
