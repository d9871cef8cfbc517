"""Learn: the tutorial in our words, each course method with its citation, equation, real code and a live demo."""

import altair as alt
import streamlit as st

from kdcore import learn, playground

st.title("Learn: knowledge distillation")
st.caption("Based on the ECE 1512 project B tutorial (A. Sajedi, 2022), retold; every demo runs a real stored model.")

for heading, body in learn.INTRO:
    with st.expander(heading, expanded=heading == learn.INTRO[0][0]):
        st.markdown(body)

st.header("The methods")
catalog = {m.key: m for m in learn.method_catalog()}
if not catalog:
    st.warning("The method registry (kdcore.losses) could not be loaded; equations are shown without code.")


def show_code(key: str) -> None:
    """Streamlit hello's show_code trick: the real loss class beside its equation."""
    info = catalog.get(key)
    if info is None:
        st.caption("Not in this build's method registry yet.")
        return
    with st.expander(f"The code that trains it: `{info.code_name or key}`"):
        st.code(info.code or "(source not available)", language="python")


for method in learn.COURSE_METHODS:
    st.subheader(method.title)
    st.caption(f"{method.citation} [{method.link}]({method.link})")
    st.markdown(method.idea)
    for eq in method.equations:
        st.latex(eq)
    if method.demo == "temperature":
        try:
            probs, label = playground.temperature_demo("mnist", index=0)
        except Exception as e:  # noqa: BLE001 - a demo failing must not take the page down
            probs, label = None, None
            st.info(f"The live demo could not run ({e}).")
        if probs is not None and not probs.empty:
            st.markdown(f"**Live:** the stored MNIST teacher's softmax on test image 0 (a **{label}**) at the course's "
                        "temperatures — the small probabilities grow as T rises.")
            chart = alt.Chart(probs).mark_bar().encode(
                x=alt.X("class:N", title="class"), y=alt.Y("prob:Q", title="probability"),
                column=alt.Column("T:N", sort=[f"T = {t:g}" for t in playground.COURSE_TEMPS], title=None),
                tooltip=["T", "class", alt.Tooltip("prob:Q", format=".4f")]).properties(width=95, height=140)
            st.altair_chart(chart)
        elif probs is not None:
            st.info("Live demo: no trained MNIST teacher is stored yet (train one in the Distill lab, or run "
                    "`python -m kdcore precompute`).")
    if method.demo == "attention":
        try:
            maps = learn.attention_demo("mnist", index=0)
        except Exception as e:  # noqa: BLE001
            maps = {}
            st.info(f"The live demo could not run ({e}).")
        if maps:
            st.markdown("**Live:** the stored teacher's attention maps Σ_c|A_c|² on a test digit — where each "
                        "layer looks. Attention transfer makes the student's maps match these.")
            cols = st.columns(len(maps))
            for col, (name, img) in zip(cols, maps.items(), strict=True):
                col.image(img, caption=name, width=140, clamp=True)
    if method.demo == "subclass":
        try:
            examples = learn.subclass_demo("mnist")
        except Exception as e:  # noqa: BLE001 - a demo failing must not take the page down
            examples = None
            st.info(f"The subclass examples could not be read ({e}).")
        if examples is None:
            st.info(learn.SUBCLASS_MISSING)
        else:
            st.markdown(learn.SUBCLASS_INTRO)
            st.caption(examples.caption())
            n_classes = len(examples.classes)
            name = st.selectbox("Class", examples.classes, index=min(7, n_classes - 1), key="learn_subclass_class")
            c = examples.classes.index(name)
            for k, col in enumerate(st.columns(examples.subclasses)):
                col.image(examples.tile(c, k), caption=examples.label(c, k), width=200)
            st.caption(examples.summary())
            with st.expander("Every class"):
                for ci in range(n_classes):
                    for k, col in enumerate(st.columns(examples.subclasses)):
                        col.image(examples.tile(ci, k, columns=6), caption=examples.label(ci, k), width="stretch")
    if method.key:
        show_code(method.key)

extra = [m for k, m in catalog.items() if k not in {c.key for c in learn.COURSE_METHODS}]
if extra:
    st.header("More methods in this build")
    st.caption("Read from the engine's method registry: a new method appears here by itself.")
    for info in extra:
        st.subheader(info.title)
        if info.citation:
            st.caption(info.citation)
        st.markdown(info.summary)
        for eq in info.equations:
            st.latex(eq)
        show_code(info.key)
