"""explorer page (work in progress)."""

import streamlit as st

st.title("explorer")
