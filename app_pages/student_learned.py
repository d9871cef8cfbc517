"""What the student learned: test images the KD student gets right and its scratch twin wrong, and the reverse."""

import altair as alt
import streamlit as st

from kdcore.data import DATASET_TITLES
from kdcore.views import learned, links, session
from kdcore.views.text import plain

st.title("What the student learned")
st.caption("A distilled student and its scratch twin (same architecture, data, epochs and seed; labels only) answer "
           "the same test images. Where do they differ? Beside each image: the teacher's softened probabilities, the "
           "soft targets the KD student learned from.")

pairs = learned.learned_pairs()
if not pairs:
    st.info(learned.MISSING)
    st.stop()
datasets = list(dict.fromkeys(kd["dataset"] for kd, _ in pairs))
linked = session.keep(st.session_state, "sl", ("sl_dataset", "sl_pair"), st.query_params.to_dict())  # across pages
if st.session_state.get("sl_dataset") not in datasets:
    st.session_state.pop("sl_dataset", None)
if linked or "sl_dataset" not in st.session_state:  # a shared link's data set first
    asked, notes = links.read_link(st.query_params.to_dict(), datasets=datasets)
    st.session_state["sl_dataset"] = asked.get("dataset", st.session_state.get("sl_dataset", datasets[0]))
    for note in notes:
        st.warning(plain(note))
left, right = st.columns([1, 2])
dataset = left.selectbox("Data set", datasets, format_func=lambda d: DATASET_TITLES.get(d, d), key="sl_dataset")
options = [i for i, (kd, _) in enumerate(pairs) if kd["dataset"] == dataset]
if st.session_state.get("sl_pair") not in options:
    st.session_state.pop("sl_pair", None)  # a kept pick of another data set
pick = right.selectbox("KD student", options, format_func=lambda i: learned.pair_label(pairs[i]), key="sl_pair")
st.query_params.from_dict(session.wrote(st.session_state, "sl", links.link_params(dataset=dataset)))

view = learned.student_learned(*pairs[pick])
if not view.available:
    st.info(view.notice)
    st.stop()
st.caption(f"KD student: {plain(view.kd)} · scratch twin: {plain(view.scratch)} · teacher: {plain(view.teacher)} · "
           f"seed {view.seed} · {view.n_test:,} test images · Data: {plain(view.data)}. One seed: a single run, not a "
           "mean over seeds.")
cols = st.columns(4)
for col, outcome in zip(cols, learned.OUTCOMES, strict=True):
    col.metric(outcome, f"{view.counts[outcome]:,}")
net = view.counts[learned.ONLY_KD_RIGHT] - view.counts[learned.SCRATCH_ONLY]
st.markdown(f"Net: the KD student gets **{net:+d}** more test images right than its twin "
            f"({100 * net / view.n_test:+.2f} points); the two columns in the middle are where they disagree.")

per_class = view.per_class.melt(id_vars="class", value_vars=[learned.ONLY_KD_RIGHT, learned.SCRATCH_ONLY],
                                var_name="outcome", value_name="test images")
st.altair_chart(alt.Chart(per_class).mark_bar().encode(
    x=alt.X("class:N", sort=list(view.per_class["class"]), title=None), xOffset="outcome:N",
    y=alt.Y("test images:Q"), color=alt.Color("outcome:N", title=None),
    tooltip=["class", "outcome", "test images"]).properties(height=220, title="Per class: where the two disagree"),
    width="stretch")
with st.expander("Counts per class"):
    st.dataframe(view.per_class, hide_index=True)
if view.notice:
    st.info(view.notice)

for tab, kind in zip(st.tabs([f"{k} ({view.counts[k]:,})" for k in (learned.ONLY_KD_RIGHT, learned.SCRATCH_ONLY)]),
                     (learned.ONLY_KD_RIGHT, learned.SCRATCH_ONLY), strict=True):
    with tab:
        if not view.examples[kind]:
            st.caption("None.")
        for ex in view.examples[kind]:
            pic, bars = st.columns([1, 3])
            pic.image(ex.image, width=96, clamp=True, caption=f"test image {ex.index}")
            pic.markdown(f"true **{plain(ex.true)}** · KD **{plain(ex.kd)}** · scratch **{plain(ex.scratch)}**")  # classes:
            # a folder of your own images names them
            if ex.teacher is not None:
                # The long name goes in the chart's title: as a y-axis title on a short chart it took the whole
                # height and left a plot area of 0 px (Vega shrinks the plot to fit a title that long).
                bars.altair_chart(alt.Chart(ex.teacher).mark_bar().encode(
                    x=alt.X("class:N", sort=list(ex.teacher["class"]), title=None,
                            axis=alt.Axis(labelAngle=-30, labelOverlap=False, labelLimit=0)),
                    y=alt.Y("prob:Q", title="p", axis=alt.Axis(tickCount=3)),
                    tooltip=["class", alt.Tooltip("prob:Q", format=".3f")]).properties(
                    height=170, title=alt.TitleParams(f"teacher p at T = {view.temperature:g}", fontSize=12,
                                                      anchor="start")), width="stretch")
