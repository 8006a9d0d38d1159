"""Console entrypoint: page setup and the navigation; each page in ``pages/`` draws its own frame."""

import streamlit as st
from botocore.exceptions import BotoCoreError, ClientError

from services import console

st.set_page_config(page_title="Orders & Returns pipeline", page_icon="📦", layout="wide")

PAGES = {
    "": [st.Page("pages/home.py", title="Home", icon="🏠", default=True)],
    "Operate": [
        st.Page("pages/upload.py", title="Upload", icon="⬆️"),
        st.Page("pages/monitor.py", title="Run monitor", icon="📡"),
        st.Page("pages/history.py", title="Execution history", icon="🕘"),
    ],
    "Data": [st.Page("pages/explorer.py", title="Explorer", icon="🔎")],
    "Admin": [
        st.Page("pages/admin.py", title="Admin", icon="🛠️"),
        st.Page("pages/notifications.py", title="Notifications", icon="✉️"),
    ],
}
navigation = st.navigation(PAGES)
try:
    navigation.run()
except console.UNREACHABLE as exc:  # the endpoint went away after the connection check: its message
    console.lost_connection(console.settings(), exc)
except (BotoCoreError, ClientError) as exc:  # one clear message instead of a traceback on every page
    st.error(f"An AWS call failed: {exc}", icon="🚫")
    st.caption("The sidebar's connection check says whether the target is reachable.")
