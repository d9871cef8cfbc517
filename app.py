"""Distillation Lab: the router. Each page is one thin file in pages/; every number comes from kdcore."""

import streamlit as st

from kdcore.jobs.heap import return_freed_memory_to_os
from kdcore.settings import SettingsError, settings

return_freed_memory_to_os()  # freed tensors go back to the OS (a hosted app has ~2.7 GB)
st.set_page_config(page_title="Distillation Lab", page_icon="⚗️", layout="wide")
try:
    settings()  # every KD_* variable, checked on each run: a malformed one is named here, not deep in a page
except SettingsError as e:
    st.error(f"The app cannot start with this environment: {e}")
    st.stop()

pages = [
    st.Page("pages/learn.py", title="Learn", icon=":material/school:", default=True),
    st.Page("pages/temperature.py", title="Temperature playground", icon=":material/thermostat:"),
    st.Page("pages/distill_lab.py", title="Distill lab", icon=":material/science:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/leaderboard:"),
    st.Page("pages/mhist.py", title="MHIST", icon=":material/biotech:"),
    st.Page("pages/class_board.py", title="Class board", icon=":material/groups:"),
]

with st.sidebar:
    st.caption(
        "Knowledge distillation, taught and measured. Results come from the kdcore engine "
        "(shipped in assets/store, plus whatever you train here)."
    )

st.navigation(pages).run()
