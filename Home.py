"""Console entrypoint. The pages (upload, monitor, history, explorer, admin) arrive with issue #4."""

import streamlit as st

from services.settings import Settings

st.set_page_config(page_title="Orders & Returns pipeline", layout="wide")
settings = Settings.from_env()
st.title("Orders & Returns pipeline")
st.info("The console pages are not built yet; the pipeline core is in `pipeline/`.")
st.json(
    {"target": settings.target, "region": settings.region, "table": f"{settings.database}.{settings.table}"}
)
