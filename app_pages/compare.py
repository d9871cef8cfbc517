"""Compare: teacher vs scratch student vs KD students across data sets, seeds as mean ± std."""

import altair as alt
import streamlit as st

from kdcore.data import DATASET_TITLES
from kdcore.views.results import compare_view

st.title("Compare")
st.caption("Every stored result: the shipped ones (assets/store) and those trained here. Seeds are grouped as "
           "mean ± std.")

try:
    everything = compare_view()
except Exception as e:  # noqa: BLE001 - never a traceback on the page
    st.error(f"The result store could not be read: {e}. Set KD_STORE_DIR to a readable folder.")
    st.stop()
if everything.runs.empty:
    st.info("No results yet. Run `python -m kdcore precompute` to compute the course's results, or train a "
            "student in the **Distill lab**.")
    st.stop()

c1, c2 = st.columns([3, 1])
chosen = c1.multiselect("Data sets", everything.datasets, default=everything.datasets, key="cmp_datasets",
                        format_func=lambda d: DATASET_TITLES.get(d, d))
metric = c2.selectbox("Metric", ["accuracy", "f1", "auc"], key="cmp_metric",
                      format_func={"accuracy": "test accuracy", "f1": "F1", "auc": "AUC"}.get)
view = compare_view(chosen or None, metric)
m = f"{metric}_mean"

st.dataframe(view.table, hide_index=True)
if view.has_standin:
    st.caption("⚠ Rows whose *data* says “stand-in” were measured on a stand-in (the MNIST-5k subset or the "
               "synthetic MHIST), not on the full data set.")
st.download_button("Download all runs (CSV)", view.csv, file_name="distillation-lab-results.csv", mime="text/csv",
                   key="cmp_csv")

st.subheader(f"{metric} vs FLOPs — the cost/quality trade-off")
points = alt.Chart(view.summary).mark_point(filled=True, size=90).encode(
    x=alt.X("flops_mean:Q", scale=alt.Scale(type="log"), title="FLOPs per image (log)"),
    y=alt.Y(f"{m}:Q", scale=alt.Scale(zero=False), title=metric), color=alt.Color("role:N", title=None),
    shape=alt.Shape("data:N", title=None),
    tooltip=["data", "model", "seeds", alt.Tooltip(f"{m}:Q", format=".4f"), alt.Tooltip("params_mean:Q", format=",")])
front = alt.Chart(view.pareto).mark_line(strokeDash=[5, 3], color="#888", point=alt.OverlayMarkDef(
    filled=False, size=260, color="#888")).encode(x="flops_mean:Q", y=f"{m}:Q", detail="data:N")
st.altair_chart((front + points).properties(height=320), width="stretch")
st.caption("Ringed (and dashed): the Pareto front per data set — no other setting is both cheaper and better.")

left, right = st.columns(2)
with left:
    st.subheader(f"{metric} vs temperature (Hinton KD)")
    if view.sweep.empty:
        st.info("No Hinton-KD results with several temperatures yet (the course sweeps T ∈ {1, 2, 4, 16, 32, 64}).")
    else:
        base = alt.Chart(view.sweep).encode(
            x=alt.X("T:Q", scale=alt.Scale(type="log"), title="T (log)"), color=alt.Color("data:N", title=None),
            detail="alpha:N")
        band = base.mark_errorbar().encode(y=alt.Y(f"{m}:Q", title=metric), yError=f"{metric}_std:Q")
        tips = ["data", "model", "seeds", alt.Tooltip(f"{m}:Q", format=".4f")]
        line = base.mark_line(point=True).encode(y=alt.Y(f"{m}:Q", scale=alt.Scale(zero=False)), tooltip=tips)
        scratch = alt.Chart(view.baselines).mark_rule(strokeDash=[3, 3]).encode(
            y=f"{m}:Q", color="data:N", tooltip=["data", "role", alt.Tooltip(f"{m}:Q", format=".4f")])
        st.altair_chart((band + line + scratch).properties(height=300), width="stretch")
        st.caption("Dashed rules: the teacher and the scratch student of each data set.")
with right:
    st.subheader(f"α × T ({metric}, mean over seeds)")
    if view.grid.empty:
        st.info("No Hinton-KD results yet.")
    else:
        heat = alt.Chart(view.grid).mark_rect().encode(
            x=alt.X("T:O", title="T"), y=alt.Y("alpha:O", title="α (KD weight)", sort="descending"),
            color=alt.Color(f"{metric}:Q", scale=alt.Scale(scheme="viridis")), row=alt.Row("data:N", title=None),
            tooltip=["data", "alpha", "T", alt.Tooltip(f"{metric}:Q", format=".4f"), "seeds"])
        st.altair_chart(heat.properties(height=160, width=300))
