"""Compare: teacher vs scratch student vs KD students across data sets, seeds as mean ± std."""

import altair as alt
import streamlit as st

from kdcore.latency import device_here
from kdcore.views import session
from kdcore.views.results import COURSE_STUDENT, compare_view
from kdcore.views.text import plain

st.title("Compare")
st.caption("Every stored result: the shipped ones (assets/store) and those trained here. Seeds are grouped as "
           "mean ± std.")

try:
    everything = compare_view()
except Exception as e:  # noqa: BLE001 - never a traceback on the page
    st.error(f"The result store could not be read: {plain(e)}. Set KD_STORE_DIR to a readable folder.")
    st.stop()
if not everything.datasets:
    st.info("No results yet. Run `python -m kdcore precompute` to compute the course's results, or train a "
            "student in the **Distill lab**.")
    st.stop()

session.keep(st.session_state, "cmp", ("cmp_datasets", "cmp_metric", "cmp_student"))  # kept across pages
if not set(st.session_state.get("cmp_datasets", [])) <= set(everything.datasets):
    st.session_state.pop("cmp_datasets", None)  # a kept choice the store no longer has
c1, c2, c3 = st.columns([3, 1, 1])
chosen = c1.multiselect("Data", everything.datasets, default=everything.default_datasets, key="cmp_datasets")
metric = c2.selectbox("Metric", ["accuracy", "f1", "auc"], key="cmp_metric",
                      format_func={"accuracy": "test accuracy", "f1": "F1", "auc": "AUC"}.get)
student = c3.selectbox("Student (T and α charts)", everything.students, key="cmp_student")
if set(everything.datasets) - set(everything.default_datasets):
    st.caption("Results on generated data (the synthetic MHIST stand-in) are off unless you choose them above, so "
               "they never share an axis with real data; the MNIST-5k subset is on, labelled as the subset it is.")
view = compare_view(chosen, metric, student)
title = view.metric_title

st.dataframe(view.table, hide_index=True)
st.caption(f"Each row: one setting (everything but the seed equal), its seeds listed. Latency: per image, measured on "
           f"{device_here()} for each network; FLOPs and parameters are the machine-free costs.")
if view.has_standin:
    st.caption("⚠ Rows whose *data* says “stand-in” were measured on a stand-in (the MNIST-5k subset or the "
               "synthetic MHIST), not on the full data set.")
st.download_button("Download all runs (CSV)", view.csv, file_name="distillation-lab-results.csv", mime="text/csv",
                   key="cmp_csv")

st.subheader(f"{title} vs FLOPs — the cost/quality trade-off")
points = alt.Chart(view.points).mark_point(filled=True, size=90).encode(
    x=alt.X("flops_mean:Q", scale=alt.Scale(type="log"), title="FLOPs per image (log)"),
    y=alt.Y("y:Q", scale=alt.Scale(zero=False), title=title),
    color=alt.Color("role:N", title=None, legend=alt.Legend(labelLimit=0)),  # data labels are long: never cut
    shape=alt.Shape("data:N", title=None, legend=alt.Legend(labelLimit=0)),
    tooltip=["data", "model", alt.Tooltip("seeds:Q", title="n (seeds)"), alt.Tooltip("y:Q", format=".2f", title=title),
             alt.Tooltip("y_std:Q", format=".2f", title="± std"), alt.Tooltip("params_mean:Q", format=",")])
front = alt.Chart(view.pareto).mark_line(strokeDash=[5, 3], color="#888", point=alt.OverlayMarkDef(
    filled=False, size=260, color="#888")).encode(x="flops_mean:Q", y="y:Q", detail="data:N")
st.altair_chart((front + points).properties(height=320), width="stretch")
st.caption("Ringed (and dashed): the Pareto front per data set — no other setting is both cheaper and better.")

who = "the course student of each data set" if student == COURSE_STUDENT else student
st.subheader(f"{title} vs temperature (Hinton KD, {who})")
if view.sweep.empty:
    st.info(f"No Hinton-KD results for {who} on the chosen data yet (the course sweeps T ∈ {{1, 2, 4, 16, 32, 64}}).")
else:
    n = view.sweep["seeds"]
    n_text = f"{n.min()}" if n.min() == n.max() else f"{n.min()}–{n.max()}"
    tips = ["facet", "alpha", "T", alt.Tooltip("mean:Q", format=".2f", title=title),
            alt.Tooltip("std:Q", format=".2f", title="± std"), alt.Tooltip("seeds:Q", title="n (seeds)")]
    x = alt.X("T:Q", scale=alt.Scale(type="log"), title="T (log)")
    colour = alt.Color("alpha:O", title="α", scale=alt.Scale(scheme="dark2"))
    kd = alt.Chart().transform_filter(alt.datum.role == "KD student")
    bars = kd.mark_errorbar().encode(x=x, y=alt.Y("lo:Q", title=title), y2="hi:Q", color=colour, detail="line:N")
    line = kd.mark_line(point=True).encode(x=x, y=alt.Y("mean:Q", scale=alt.Scale(zero=False), title=title),
                                           color=colour, detail="line:N", tooltip=tips)
    rules = alt.Chart().transform_filter(alt.datum.role != "KD student").mark_rule(strokeDash=[3, 3]).encode(
        y="mean:Q", color=alt.value("#666"), tooltip=["role", "model", alt.Tooltip("mean:Q", format=".2f", title=title),
                                                       alt.Tooltip("seeds:Q", title="n (seeds)")])
    names = alt.Chart().transform_filter(alt.datum.role != "KD student").mark_text(
        align="right", dy=-6, fontSize=10, color="#666").encode(y="mean:Q", x=alt.value(296), text="role:N")
    sweep = alt.layer(bars, line, rules, names, data=view.sweep_panels).properties(height=220, width=300).facet(
        facet=alt.Facet("facet:N", title=None, header=alt.Header(labelLimit=420)), columns=2,
    ).resolve_scale(y="independent")
    st.altair_chart(sweep)
    st.caption(f"Points: mean over seeds, bars: ± 1 std (n = {n_text} seeds per point; hover for each). "
               "Each panel holds one student only, on its own scale; dashed rules: the teacher it learned from and "
               "its scratch student.")

st.subheader(f"α × T ({title}, mean over seeds, {who})")
if view.grid.empty:
    st.info(f"No Hinton-KD results for {who} on the chosen data yet.")
else:
    # One chart per panel, each sized by its own cells: Vega-Lite cannot compile a row facet of step-sized
    # panels with independent scales (it asks for a "child_height" signal that does not exist), which left
    # the element 0×0; one chart each also keeps every panel's T and α axes to the values it holds.
    for facet, cells_of in view.grid.groupby("facet", sort=False):
        base = alt.Chart(cells_of).encode(x=alt.X("T:O", title="T", axis=alt.Axis(labelAngle=0)),
                                          y=alt.Y("alpha:O", title="α (KD weight)", sort="descending"))
        cells = base.mark_rect().encode(
            color=alt.Color("mean:Q", scale=alt.Scale(scheme="viridis"), title=title, legend=alt.Legend(format=".1f")),
            tooltip=["facet", "alpha", "T", alt.Tooltip("mean:Q", format=".2f", title=title),
                     alt.Tooltip("std:Q", format=".2f", title="± std"), alt.Tooltip("seeds:Q", title="n (seeds)")])
        labels = base.mark_text(fontSize=11).encode(text=alt.Text("mean:Q", format=".1f"), color=alt.condition(
            alt.datum.shade > 0.6, alt.value("black"), alt.value("white")))  # readable on viridis's light end
        n_t, n_alpha = cells_of["T"].nunique(), cells_of["alpha"].nunique()
        st.altair_chart((cells + labels).properties(
            width=52 * n_t, height=40 * n_alpha, autosize=alt.AutoSizeParams(type="pad"),  # the cells' size;
            title=alt.TitleParams(facet, anchor="start", fontSize=12, limit=0)), width="content")  # axes go around
    st.caption("Each data set's panel has its own colour scale, so small differences within it stay visible.")
