"""Temperature playground: a real teacher's (and student's) probabilities at T = 1 and at your T."""

import altair as alt
import streamlit as st

from kdcore.data import DATASET_TITLES
from kdcore.views import links, playground, session
from kdcore.views.text import plain

try:  # the canvas component only imports inside a real Streamlit server (not under AppTest)
    from streamlit_drawable_canvas import st_canvas
except Exception:  # noqa: BLE001
    st_canvas = None

st.title("Temperature playground")
st.caption("Dividing logits by T before the softmax flattens them; the small probabilities that appear are the "
           "teacher's *dark knowledge*. Everything below is computed live from stored models.")

datasets = playground.playground_datasets()
if not datasets:
    st.info("No trained teacher is stored yet. Train one in the **Distill lab**, or run "
            "`python -m kdcore precompute` to fill the shipped results.")
    st.stop()

NAMES = alt.Axis(labelAngle=-35, labelOverlap=False, labelLimit=0)  # every class named (Fashion's names are long)
TEMPS = [0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
# this page's settings survive a visit to another page (kdcore.views.session); a link that asks for others wins
linked = session.keep(st.session_state, "pg", ("pg_dataset", "pg_source", "pg_T", "pg_index", "pg_log", "pg_hide_diag"),
                      st.query_params.to_dict())
if st.session_state.get("pg_dataset") not in datasets:
    st.session_state.pop("pg_dataset", None)
if linked or "pg_dataset" not in st.session_state:  # a link's data set and T come first
    asked, notes = links.read_link(st.query_params.to_dict(), datasets=datasets, temperatures=TEMPS)
    st.session_state.update(pg_dataset=asked.get("dataset", st.session_state.get("pg_dataset", datasets[0])),
                            pg_T=asked.get("T", st.session_state.get("pg_T", 4)))
    for note in notes:
        st.warning(plain(note))

left, right = st.columns([1, 2], gap="large")
with left:
    dataset = st.selectbox("Data set", datasets, format_func=lambda d: DATASET_TITLES.get(d, d), key="pg_dataset")
    sources = ["Test image", "Draw", "Upload"] if dataset in playground.MNIST_LIKE else ["Test image"]
    source = st.radio("Image", sources, horizontal=True, key="pg_source")
    T = st.select_slider("Temperature T", options=TEMPS, key="pg_T")
    image = None
    index = 0
    if source == "Test image":
        count = playground.test_image_count(dataset)  # 1,000 on the MNIST-5k subset, else the first 2,000
        if linked or "pg_index" not in st.session_state:
            asked, notes = links.read_link(st.query_params.to_dict(), image_count=count)
            st.session_state["pg_index"] = asked.get("image", st.session_state.get("pg_index", 0))
            for note in notes:
                st.warning(plain(note))
        st.session_state["pg_index"] = min(int(st.session_state["pg_index"]), count - 1)  # after a data-set switch
        index = st.number_input(f"Test image number (0–{count - 1})", 0, count - 1, key="pg_index")
    elif source == "Draw":
        if st_canvas is None:
            st.info("Drawing needs the browser canvas component; upload a picture instead.")
        else:
            canvas = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", height=224,
                               width=224, drawing_mode="freedraw", key="pg_canvas", return_image_data=True)
            drawn = canvas.image_data if canvas is not None else None
            if drawn is not None and drawn[..., :3].max() > 0:
                image = drawn
            else:
                st.caption("Draw one digit, white on black, filling most of the box.")
    else:
        upload = st.file_uploader("A picture of one digit or garment", type=["png", "jpg", "jpeg", "bmp", "gif", "webp"],
                                  key="pg_upload", max_upload_size=playground.MAX_UPLOAD_BYTES // 1024**2)
        image = upload.getvalue() if upload is not None else None
    waiting = source != "Test image" and image is None  # nothing drawn or uploaded yet: no test image stands in
    st.query_params.from_dict(session.wrote(st.session_state, "pg", links.link_params(
        dataset=dataset, T=T, image=index if source == "Test image" else None)))

try:
    view = playground.playground_view(dataset, float(T), index=int(index), image=image)
except playground.ImageError as e:
    st.error(plain(e))
    st.stop()
except Exception as e:  # noqa: BLE001 - never a traceback on the page
    st.error(f"The playground could not score this image: {plain(e)}. Pick another data set or test image, or retrain "
             "the teacher in the Distill lab.")
    st.stop()

with left:
    for note in playground.skipped_models(dataset):  # a damaged stored model: skipped, the page still works
        st.caption(plain(note))
    if not waiting:
        st.image(view.image, width=160, clamp=True,
                 caption=f"true label: {view.true_label}" if view.true_label else "your image, as the models see it")
    st.markdown(f"**Teacher:** {view.teacher}  \n**Student:** {view.student or '— none stored'}")
    if view.is_standin:
        st.caption(f"Data: {view.data}")

with right:
    order = view.classes
    log = st.toggle("Log scale (the tiny probabilities are the dark knowledge)", key="pg_log")
    if waiting:
        st.info("Draw a digit (or upload a picture) to see the models' probabilities for it.")
    for model in view.probs["model"].unique() if not waiting else ():
        d = view.probs[view.probs["model"] == model]
        st.markdown(f"**{model}** predicts **{view.prediction[model]}** · entropy at T = {T:g}: "
                    f"{view.entropy_at_t[model]:.2f} bits")
        scale = alt.Scale(type="log", domain=[1e-6, 1], clamp=True) if log else alt.Scale(domain=[0, 1])
        bars = alt.Chart(d).mark_bar().encode(
            x=alt.X("class:N", sort=order, title=None, axis=NAMES), xOffset="T:N",
            y=alt.Y("prob:Q", title="probability" + (" (log)" if log else ""), scale=scale),
            color=alt.Color("T:N", title=None, scale=alt.Scale(range=["#9aa9b0", "#2f6f8f"])),
            tooltip=["T", "class", alt.Tooltip("prob:Q", format=".2e" if log else ".4f")]).properties(height=170)
        st.altair_chart(bars, width="stretch")
    line = alt.Chart(view.entropy if not waiting else view.entropy.iloc[:0]).mark_line().encode(
        x=alt.X("T:Q", scale=alt.Scale(type="log"), title="temperature T (log scale)"),
        y=alt.Y("entropy_bits:Q", title="entropy (bits)"),  # a longer title ran past this short chart's height
        color=alt.Color("model:N", title=None))
    rule = alt.Chart().mark_rule(strokeDash=[4, 3], color="#c05a2b").encode(x=alt.datum(float(T)))
    st.altair_chart((line + rule).properties(height=200, title=alt.TitleParams(
        "entropy of the soft targets vs T", anchor="start", fontSize=12)), width="stretch")

st.subheader(f"Dark-knowledge map at T = {T:g}")
hide = st.toggle("Hide the diagonal (show only what the teacher thinks alike)", value=True, key="pg_hide_diag")
heat = alt.Chart(view.dark).mark_rect().encode(
    x=alt.X("class:N", sort=order, title="teacher's softened probability for class", axis=NAMES),
    y=alt.Y("true:N", sort=order, title="true class", axis=alt.Axis(labelOverlap=False, labelLimit=0)),
    color=alt.Color("prob_offdiag:Q" if hide else "prob:Q", title="mean p", scale=alt.Scale(scheme="blues")),
    tooltip=["true", "class", alt.Tooltip("prob:Q", format=".4f")]).properties(height=360)
st.altair_chart(heat, width="stretch")
st.caption(f"Row c: the mean of the teacher's softmax(z / T) over the images of true class c among the first "
           f"{view.n_test} test images (all classes together, not {view.n_test} per class; {view.data}).")
