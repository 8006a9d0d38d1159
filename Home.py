"""Console entrypoint: page setup, the sidebar and the navigation; each page lives in ``pages/``."""

import streamlit as st

from services import console

st.set_page_config(page_title="Orders & Returns pipeline", page_icon="📦", layout="wide")
console.require_login()

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
console.sidebar()
navigation.run()
