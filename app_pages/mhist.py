"""MHIST: data status (and how to get it), the course pipeline, F1 / AUC, ROC curve and confusion matrix."""

import time

import altair as alt
import streamlit as st

from kdcore.data import DATASET_TITLES, data_pair
from kdcore.views import lab
from kdcore.views.groups import run_label
from kdcore.views.mhist_scoring import scoring_lesson
from kdcore.views.mhist_view import (
    mhist_view,
    pipeline_jobs,
    result_curves,
    subclass_examples,
    subclass_note,
    subclass_teacher,
    unpack_zips,
)
from kdcore.views.text import plain


@st.cache_data(show_spinner="Running the subclass teacher over its test tiles …", max_entries=8)
def _subclass_examples(teacher_key: str, _teacher: dict):  # noqa: ANN202 - memoised per stored teacher
    return subclass_examples(_teacher)


st.title("MHIST: colorectal polyps")
st.caption("Minimalist histopathology (Wei et al. 2021, arXiv:2101.12355): hyperplastic polyp (HP, benign) vs "
           "sessile serrated adenoma (SSA, precancerous); 224×224 images, imbalanced, so F1 and AUC matter.")

folder = st.text_input("MHIST folder (optional; else KD_MHIST_DIR)", key="mh_folder",
                       placeholder="/path/to/mhist with annotations.csv and images")
try:
    view = mhist_view(folder or None)
except Exception as e:  # noqa: BLE001 - never a traceback on the page
    st.error(f"The MHIST page could not read the result store: {e}. Set KD_STORE_DIR to a readable folder.")
    st.stop()
status = view.status
if status.found:
    st.success(plain(status.message))
elif status.pending:  # the images are in zips: unpacked into the app's cache only on this click, sizes first
    st.warning("This folder's images are still zipped. Unpacking writes only into the app's own cache, never "
               "into your folder:")
    st.text("\n".join(status.pending))
    if st.button("Unpack into the app's cache", key="mh_unpack"):
        try:
            with st.spinner("Unpacking …"):
                st.toast(plain(unpack_zips(folder or None)))
            st.rerun()
        except ValueError as e:  # MhistError: a refused zip, or a cache with no room; named with the fix
            st.error(plain(e))
else:
    st.warning(plain(status.message))
    st.markdown(f"**How to get MHIST.** {status.how_to}")

st.subheader("Run the course pipeline")
options = (["mhist"] if status.found else []) + ["mhist_synthetic"]
with st.form("mh_form"):
    dataset = st.selectbox("Data", options, format_func=DATASET_TITLES.get, key="mh_dataset")
    titles = dict(lab.mhist_methods())
    method = st.selectbox("KD method for the student", list(titles), format_func=titles.get, key="mh_method",
                          help=" ".join(lab.MHIST_METHOD_NOTES.values()))
    if method in lab.MHIST_METHOD_NOTES:  # what this method costs or means on the two-class pair (its Method's note)
        st.caption(lab.MHIST_METHOD_NOTES[method])
    go = st.form_submit_button("Run teacher, baselines and KD student")
if go:
    done: list[str] = []
    try:
        with st.status("Running the MHIST pipeline …", expanded=True) as run_status:
            if method in lab.MHIST_METHOD_NOTES:  # what this method trains beyond teacher → student
                st.caption(lab.MHIST_METHOD_NOTES[method])
            keys = []
            # the typed folder goes into every job (its key): the run reads it, never KD_MHIST_DIR instead
            for cfg in pipeline_jobs(dataset, method, status.data_dir):
                st.write(run_label(cfg.to_dict()))
                t0 = time.monotonic()
                r = lab.train_or_fetch(cfg)
                keys.append(r.get("key"))
                done.append(f"{run_label(cfg.to_dict())}: " + ("from the store" if r.get("cached")
                                                               else f"trained in {time.monotonic() - t0:.0f} s"))
            run_status.update(label="Done", state="complete")
        # kept across the rerun that reloads the table: the summary stays, and "Curves for" opens on this run
        st.session_state["mh_last_run"] = {"summary": done, "keys": keys}
        st.session_state["mh_focus"] = True
        st.rerun()
    except Exception as e:  # noqa: BLE001
        st.error(f"The MHIST pipeline stopped: {plain(e)}" + (f" (finished: {plain(' · '.join(done))})" if done else ""))
if (last := st.session_state.get("mh_last_run")) is not None:
    st.success("Done: " + plain(" · ".join(last["summary"])))

st.subheader("Results")
if view.table.empty:
    st.info("No MHIST or stand-in results are stored yet. Run `python -m kdcore precompute`"
            + " or the pipeline above.")
    st.stop()
st.dataframe(view.table.round(3), hide_index=True)
st.caption(f"F1 is the F1 of {data_pair('mhist').positive_class} (the positive, precancerous class). ⚠ Rows whose "
           "data says “stand-in” come from "
           "the synthetic stand-in — procedurally drawn tiles, not MHIST. *Backbone init* says where a network "
           "started: with no ImageNet ResNet-50 weights offline, the teacher starts from random numbers, learns "
           "little from 96 tiles, and a student distilled from it inherits that — transfer learning is what makes "
           "MHIST-sized data learnable. *Data folder* is the folder a run read when one was entered above (blank: "
           "KD_MHIST_DIR, or the stand-in).")
last_keys = (st.session_state.get("mh_last_run") or {}).get("keys", [])
if st.session_state.pop("mh_focus", False) or st.session_state.get("mh_result") not in view.results:
    st.session_state["mh_result"] = view.most_informative(prefer=last_keys)  # not a model answering HP everywhere
label = st.selectbox("Curves for", list(view.results), key="mh_result")
roc, cm = result_curves(view.results[label])
left, right = st.columns(2)
if roc.empty:
    left.info("This result has no ROC points stored.")
else:
    curve = alt.Chart(roc).mark_line(interpolate="step-after").encode(
        x=alt.X("fpr:Q", title="false-positive rate"), y=alt.Y("tpr:Q", title="true-positive rate (SSA)"))
    chance = alt.Chart().mark_rule(strokeDash=[4, 4], color="#999").encode(
        x=alt.datum(0), y=alt.datum(0), x2=alt.datum(1), y2=alt.datum(1))
    left.altair_chart((curve + chance).properties(height=320, title="ROC curve"), width="stretch")
heat = alt.Chart(cm).mark_rect().encode(
    x="predicted:N", y="true:N", color=alt.Color("share:Q", scale=alt.Scale(scheme="blues")),
    tooltip=["true", "predicted", "count"])
text = alt.Chart(cm).mark_text(fontSize=16).encode(x="predicted:N", y="true:N", text="count:Q")
right.altair_chart((heat + text).properties(height=320, title="Confusion matrix"), width="stretch")

st.subheader("Why accuracy is not enough: F1 and AUC")
try:  # the chosen result beside a predictor that always answers the majority class, from its own test counts
    lesson = scoring_lesson(view.results[label])
    st.dataframe(lesson.table, hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="%.1f") for c in lesson.table.columns if c.endswith("%")})
    st.markdown(lesson.explanation)
    if lesson.one_class:
        st.warning(lesson.one_class)
except ValueError as e:
    st.info(f"No accuracy-vs-F1 comparison for this result: {plain(e)}")

sub_data = st.session_state.get("mh_dataset") or ("mhist" if status.found else "mhist_synthetic")
try:
    teacher = subclass_teacher(sub_data, data_dir=status.data_dir)
    examples = _subclass_examples(teacher["key"], teacher) if teacher is not None else None
except Exception as e:  # noqa: BLE001
    st.error(f"The subclass examples could not be made: {plain(e)}")
    examples = None
if examples is not None:
    st.subheader("Subclasses the teacher invented")
    st.markdown("The subclass teacher has two outputs per class. Each test tile goes to the subclass with the larger "
                "output within its true class; shown: the tiles it puts there most confidently, and each share.")
    st.caption(examples.caption())
    st.caption(subclass_note(examples))
    for c, name in enumerate(examples.classes):
        st.markdown(f"**{name}**")
        for k, col in enumerate(st.columns(examples.subclasses)):
            col.image(examples.tile(c, k, columns=2), caption=examples.label(c, k), width="stretch")
    st.caption(examples.summary())
