"""Distill lab: choose a student, a method, T and α; train it (or fetch it from the store) and compare."""

import time

import altair as alt
import streamlit as st

from kdcore import course
from kdcore.config import ConfigError
from kdcore.data import DATASET_TITLES, DataError
from kdcore.latency import device_here
from kdcore.views import lab, links, session
from kdcore.views.errors import page_error
from kdcore.views.groups import run_label
from kdcore.views.text import plain

st.title("Distill lab")
st.caption("Train a student with the method of your choice and see it beside the course teacher and a student "
           "trained from scratch on the same data. A job already in the store returns at once.")
caps = lab.tiny_caps()
if caps:
    st.info(f"Tiny mode (KD_APP_TINY): every job is capped at {caps.train_limit} training / {caps.test_limit} test "
            f"images and {caps.epochs} epoch(s); numbers are for testing the app, not for teaching.")

methods = dict(lab.methods())


def use_method_settings() -> None:
    """Picking a method fills in the settings its shipped result was measured with."""
    for name, value in lab.form_defaults(st.session_state["lab_method"]).items():
        st.session_state[f"lab_{name}"] = value


datasets = lab.lab_datasets()  # the built-in ones, then the folders of your own images registered so far
# this page's settings survive a visit to another page (kdcore.views.session); a link that asks for others wins
linked = session.keep(st.session_state, "lab", [f"lab_{name}" for name in ("method", *lab.FORM_DEFAULTS, "dataset",
                                                                          "seed")], st.query_params.to_dict())
if linked or "lab_method" not in st.session_state:  # a shared link's method, data set and T come first
    asked, notes = links.read_link(st.query_params.to_dict(), datasets=datasets, t_range=(1.0, 64.0),
                                   methods=list(methods))
    kept = "lab_method" in st.session_state and asked.get("method", st.session_state["lab_method"]) == \
        st.session_state["lab_method"]
    st.session_state["lab_method"] = asked.get("method", st.session_state.get("lab_method", "hinton"))
    if not kept:  # a new method: its settings (a kept one keeps the user's)
        use_method_settings()
    # full Fashion-MNIST when shipped
    st.session_state["lab_dataset"] = asked.get("dataset") or st.session_state.get("lab_dataset") or lab.lead_dataset()
    st.session_state["lab_T"] = round(2 * asked.get("T", st.session_state.get("lab_T", lab.FORM_DEFAULTS["T"]))) / 2
    for note in notes:
        st.warning(plain(note))
if st.session_state.get("lab_dataset") not in datasets:  # a folder data set no longer registered
    st.session_state["lab_dataset"] = lab.lead_dataset()
method = st.selectbox("Method", list(methods), format_func=methods.get, key="lab_method", on_change=use_method_settings,
                      help="Picking a method fills in the settings its shipped results use (born-again: T = 1, "
                           "α = 1; attention transfer: the small CNN, α = 0; TAKD: a 32-unit student). Change them "
                           "freely; a setting already in the store is answered at once.")
if note := lab.method_note(method, st.session_state["lab_dataset"]):  # set above (a link, kept, or the lead one)
    st.caption(note)  # what the method costs or means on this data set (a colour folder, two classes)
s1, s2 = st.columns(2)  # these two decide which settings below apply
student = s1.radio("Student", ["student_mlp", "student_cnn"], horizontal=True, key="lab_student",
                   format_func={"student_mlp": "MLP (course)", "student_cnn": "small CNN"}.get,
                   help="For the MNIST-style data sets. A folder of colour or large images trains the transfer-"
                        "learning pair's own student (MobileNetV2) whatever is chosen here.")
if lab.uses_alpha(method):
    s2.slider("α — weight of the KD term (CE gets 1−α)", 0.0, 1.0, step=0.05, key="lab_alpha")
alpha = float(st.session_state.get("lab_alpha", lab.FORM_DEFAULTS["alpha"]))
fields = lab.form_fields(method, student, alpha)  # only what changes this job is shown
with st.form("lab_form"):
    c1, c2, c3 = st.columns(3)
    dataset = c1.selectbox("Data set", datasets, format_func=DATASET_TITLES.get, key="lab_dataset")
    if "hidden" in fields:
        c1.text_input("MLP hidden sizes", key="lab_hidden", help="comma-separated, e.g. 784,784 or 64")
    else:
        c1.number_input("CNN width (channels of conv1)", 2, 64, key="lab_width")
    if "T" in fields:
        c2.slider("Temperature T", 1.0, 64.0, step=0.5, key="lab_T")
    elif lab.uses_alpha(method):  # attention transfer at α = 0
        c2.caption("T does nothing here: with α = 0 attention transfer has no soft-target term.")
    epochs = c3.number_input("Epochs", 1, 50, key="lab_epochs")
    seed = c3.number_input("Seed", 0, 99, 0, key="lab_seed")
    l1 = c3.select_slider("L1 penalty λ (sparse regularisation)", lab.L1_CHOICES, key="lab_l1",
                          format_func=lambda v: "none" if not v else f"{v:g}",
                          help="λ·Σ|w| over the student's weights added to its loss (its scratch twin gets the same): "
                               "most weights end near 0, which the Compress page turns into a smaller file.")
    submitted = st.form_submit_button("Train", type="primary")
# a field not shown keeps its value (kdcore.views.session): it does not change this job
hidden, width = str(st.session_state.get("lab_hidden", "784,784")), int(st.session_state.get("lab_width", 8))
T = float(st.session_state.get("lab_T", lab.FORM_DEFAULTS["T"]))

st.query_params.from_dict(session.wrote(st.session_state, "lab", links.link_params(method=method, dataset=dataset, T=T)))

pending = None  # (config, plan) to run now
if submitted:
    try:
        config = course.lab_job(dataset, method, hidden, student, width, T, alpha, int(epochs), int(seed), float(l1))
    except ConfigError as e:
        st.error(f"Check the form: {plain(e)}")
        config = None
    if config is not None:
        st.session_state.pop("lab_pending", None)
        try:  # the run's first seconds: the data set loads (once per server) and each stage is looked up
            with st.spinner(f"Loading {plain(DATASET_TITLES.get(dataset, dataset))} and looking up each stage in the "
                            "store …"):
                plan = lab.lab_plan(config)
        except (ConfigError, DataError) as e:
            st.error(plain(e))
            plan = None
        if plan is not None and plan.warning():
            st.session_state["lab_pending"] = (config, plan)  # asked first: Start or not
        elif plan is not None:
            pending = (config, plan)
if pending is None and (waiting := st.session_state.get("lab_pending")) is not None:
    ask = st.empty()  # emptied once started: a stale "Start anyway" clicked during the run would stop it
    with ask.container():
        st.warning(waiting[1].warning())
        st.caption("Plan: " + waiting[1].describe())
        go, drop = st.columns([1, 3])
        start = go.button(f"Start anyway (about {lab.duration_words(waiting[1].total_s)})", key="lab_confirm",
                          type="primary")
        dropped = drop.button("Don't run it", key="lab_drop")
    if start:
        pending = st.session_state.pop("lab_pending")
        ask.empty()
    elif dropped:
        st.session_state.pop("lab_pending")
        st.rerun()

if (stopped := st.session_state.pop("lab_running", None)) is not None:  # the last run did not reach its end
    how = "Cancelled" if st.session_state.get("lab_cancel") else "Stopped (the page changed while it ran)"
    st.warning(f"{how} at {stopped}. The stopped job was cancelled and nothing of it was stored; stages that had "
               "finished stay in the store, so running it again starts where this one stopped.")

if pending is not None:
    config, plan = pending
    st.session_state.pop("lab_outcome", None)  # a new run: the old result is not this one's
    tracker = lab.LabProgress(plan)  # the whole plan: stage k of n, one bar that only grows, ETA for all of it
    st.session_state["lab_running"] = tracker.label
    with st.status(f"Running {config.short_name()} …", expanded=True) as status:
        st.caption("Plan: " + plan.describe())
        bar = st.progress(0.0, text="starting")
        # a click reruns the script: its next element update stops this run, which cancels the running job
        st.button("Cancel", key="lab_cancel", help="Stops the running job within a few seconds; nothing of it is "
                  "stored. Stages already finished stay in the store.")
        loss_box, acc_box = (c.empty() for c in st.columns(2))
        beat = [0.0]

        def show() -> None:
            st.session_state["lab_running"] = tracker.label
            status.update(label=tracker.label, expanded=True)  # stays open while anything runs
            bar.progress(min(1.0, tracker.fraction), text=tracker.label)

        def heartbeat() -> None:  # between events (a long epoch): touch the page, so a Cancel click is seen
            if time.monotonic() - beat[0] >= 0.5:
                beat[0] = time.monotonic()
                show()

        def progress(event: dict) -> None:
            show()
            if "row" in event and ":" not in str(event.get("stage")):
                frame = tracker.chart_frame()
                for box, kind in ((loss_box, "train loss"), (acc_box, "test accuracy %")):
                    box.altair_chart(alt.Chart(frame[frame["kind"] == kind]).mark_line(point=True).encode(
                        x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")), y=alt.Y("value:Q", title=kind,
                        scale=alt.Scale(zero=False)), color=alt.Color("stage:N", title=None)), height=180, width="stretch")

        try:
            st.session_state["lab_outcome"] = lab.run_lab(config, progress, tracker, heartbeat)
            status.update(label="Done: " + " · ".join(s.describe() for s in tracker.log), state="complete",
                          expanded=False)
        except (ConfigError, DataError) as e:
            status.update(label=f"Stopped at {tracker.label}", state="error")
            st.error(plain(e))
        except Exception as e:  # noqa: BLE001 - never a traceback on the page
            status.update(label=f"Failed at {tracker.label}", state="error")
            st.error(page_error(e, "training"))
        st.session_state.pop("lab_running", None)  # reached only when the run was not stopped by a rerun

outcome = st.session_state.get("lab_outcome")
if outcome is not None:
    r = outcome.result
    st.subheader(f"{run_label(r['config'])} · seed {r['config']['seed']}" + ("  (from the store)" if outcome.cached else ""))
    st.caption("Run log: " + " · ".join(stage.describe() for stage in outcome.stages))
    t = outcome.table.set_index("model")
    m1, m2, m3, m4, m5 = st.columns(5)
    ref = t["accuracy %"].get("scratch student")
    m1.metric("Test accuracy", f"{t.loc['this run', 'accuracy %']:.2f}%",  # a short delta: a fifth of the row
              None if ref is None else f"{t.loc['this run', 'accuracy %'] - ref:+.2f} vs scratch",
              help="The delta: points over the scratch student of the same seed.")
    m2.metric("F1 (macro)", f"{t.loc['this run', 'F1 %']:.2f}%")
    m3.metric("FLOPs", f"{r['complexity']['flops']:,}", help=r["complexity"].get("flops_convention"))
    m4.metric("Parameters", f"{r['complexity']['params']:,}")
    m5.metric("Latency / image (here)", f"{t.loc['this run', 'latency ms (here)']:.3f} ms",
              help=f"Measured on {device_here()} for every network in the table (not the training machine's).")
    st.dataframe(outcome.table, hide_index=True)
    st.markdown("**Over the stored seeds:** " + " · ".join(f"{k}: {v}" for k, v in outcome.seeds.items())
                + (f"  \n**KD gain over the scratch twin:** {outcome.gain}" if outcome.gain else ""))
    if outcome.sparsity:
        st.caption(outcome.sparsity)
    st.caption(f"Data: {plain(r['data_source'])}" + ("  ⚠ stand-in data: not the full data set. Why KD gains little on "
               "small data is step 4 of the Guided lesson." if r.get("is_standin") else ""))
    if r.get("members"):
        st.info(f"The BAN ensemble trains nothing itself: it averages the class probabilities of born-again "
                f"generations 1–{len(r['members'])} (rows above), so it costs all of them at test time. "
                "Their training curves are their own jobs: pick “Born-again networks” to see generation 1's.")
    left, right = st.columns(2)
    for kind in lab.CURVE_KINDS.values() if not outcome.history.empty else ():  # KD student vs scratch, in %
        curve = alt.Chart(outcome.history[outcome.history["kind"] == kind]).mark_line(point=True).encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=kind, scale=alt.Scale(zero=False)),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom", columns=1, labelLimit=0)),
            tooltip=["series", "epoch", alt.Tooltip("value:Q", title=kind, format=".2f")])
        # the chart's height holds the plot and the legend's rows (one per named series, which took a 200-px
        # chart's whole height in the browser test)
        n_series = outcome.history["series"].nunique()
        left.altair_chart(curve.properties(height=220 + 48 * n_series), width="stretch")
    every = alt.Axis(labelOverlap=False, labelLimit=0)  # every class named (Vega hid every other row's name)
    cells = alt.Chart(outcome.confusion).encode(
        x=alt.X("predicted:N", sort=r["classes"], axis=alt.Axis(labelOverlap=False, labelLimit=0, labelAngle=-40)),
        y=alt.Y("true:N", sort=r["classes"], axis=every), tooltip=["true", "predicted", "count"])
    cm = cells.mark_rect().encode(color=alt.Color("share:Q", scale=alt.Scale(scheme="blues"), title="share of row")) + \
        cells.mark_text(fontSize=10).encode(text="count:Q", color=alt.condition(  # the counts, readable on dark cells
            alt.datum.share > 0.5, alt.value("white"), alt.value("#333")))
    right.altair_chart(cm.properties(height=400, title="Confusion matrix (test set, counts)"), width="stretch")
