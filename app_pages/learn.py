"""Learn: the tutorial in our words, each course method with its citation, equation, real code and a live demo."""

import typing

import altair as alt
import streamlit as st

from kdcore.views import compress, learn, playground, session
from kdcore.views.text import plain

st.title("Learn: knowledge distillation")
st.caption("Based on the ECE 1512 project B tutorial (A. Sajedi, 2022), retold; every demo runs a real stored model.")

for heading, body in learn.INTRO:
    with st.expander(heading, expanded=heading == learn.INTRO[0][0]):
        st.markdown(body)
        if heading == learn.INTRO[0][0]:  # each family's live result, on the Compress page
            for family, words in compress.family_results():
                st.page_link("app_pages/compress.py", label=f"{family.capitalize()}: {plain(words)}",
                             query_params={"family": family.replace(" ", "-")}, icon=":material/compress:")

# the live demos' picks survive a visit to another page (kdcore.views.session)
session.keep(st.session_state, "learn", ("learn_at_index", "learn_subclass_demo",
                                         *(f"learn_subclass_class_{d}" for d in learn.SUBCLASS_DEMOS)))
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


def stored_demo(read: typing.Callable[[], typing.Any], what: str) -> typing.Any:
    """A demo's data from the store, or None with a note: a demo failing must not take the page down."""
    try:
        return read()
    except Exception as e:  # noqa: BLE001
        st.info(f"{what} could not be read ({plain(e)}).")
        return None


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
            st.info(f"The live demo could not run ({plain(e)}).")
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
    if method.demo == "hint":
        hint = stored_demo(learn.fitnet_hint_history, "The hint curve")
        if hint is not None and hint.empty:
            st.info(learn.HINT_MISSING)
        elif hint is not None:
            st.markdown("**From the stored results:** the hint regression of the FitNets CNN student, epoch by "
                        f"epoch ({', '.join(sorted(set(hint['layers'])))}).")
            chart = alt.Chart(hint).mark_line(point=True).encode(
                x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
                y=alt.Y("hint:Q", title="hint loss"),  # the formula in the title: as the y title it left no plot
                color=alt.Color("data:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=0)),  # never cut
                tooltip=["data", "epoch", alt.Tooltip("hint:Q", format=".4f"), alt.Tooltip("logged:Q", format=".3f")],
            ).properties(height=240, title=alt.TitleParams("hint loss ½‖r(v_g) − u_h‖² / D per epoch",
                                                           anchor="start", fontSize=12))
            st.altair_chart(chart)
            st.caption(learn.HINT_CAPTION)
    if method.demo == "attention":
        try:
            cmp = learn.attention_comparison("mnist", index=int(st.session_state.get("learn_at_index", 0)))
        except Exception as e:  # noqa: BLE001 - a demo failing must not take the page down
            cmp = None
            st.info(f"The live demo could not run ({plain(e)}).")
        if cmp is not None and not cmp.available:
            st.info(cmp.notice)
        elif cmp is not None:
            st.markdown("**Live:** where each network looks — the attention maps Σ_c|A_c|² (brighter = more) of the "
                        "stored teacher, of the small CNN student trained with attention transfer, and of the same "
                        "student trained on labels only, on the same test digit. AT pulls the student's maps "
                        "towards the teacher's.")
            st.number_input("Test image", min_value=0, max_value=1999, step=1, key="learn_at_index")
            st.caption(f"{cmp.data} · test image {cmp.index} (a **{cmp.label}**). Distance: ‖Q_S − Q_T‖₂ of the "
                       "normalised maps (0 = the same map, √2 = nothing in common); the mean is over the first "
                       f"{cmp.n_mean} test images.")
            if cmp.notice:
                st.info(cmp.notice)
            widths = [1.4, 1] + [1] * len(cmp.layers)
            for row, layer_maps in cmp.maps.items():
                cols = st.columns(widths)
                dist = cmp.distance[cmp.distance["model"] == row]
                cols[0].markdown(f"**{row}**  \n{cmp.models[row]}" + "".join(
                    f"  \n{d.layer}: {d.distance_image:.3f} here, {d.distance_mean:.3f} mean" for d in dist.itertuples()))
                if row == learn.AT_ROWS[0]:
                    cols[1].image(cmp.image, caption="the test image", width=110, clamp=True)
                for col, (layer, img) in zip(cols[2:], layer_maps.items(), strict=True):
                    col.image(img, caption=f"{row} · {layer}", width=140, clamp=True)
            if cmp.summary:
                st.markdown(cmp.summary)
    if method.demo == "subclass":
        demo = st.radio("Subclass teacher", list(learn.SUBCLASS_DEMOS), format_func=learn.SUBCLASS_DEMOS.get,
                        horizontal=True, key="learn_subclass_demo")
        examples = stored_demo(lambda d=demo: learn.subclass_demo(d), "The subclass examples")
        if examples is None:
            st.info(learn.SUBCLASS_MISSING)
        else:
            st.markdown(learn.SUBCLASS_BINARY_INTRO if examples.fine_counts is not None else learn.SUBCLASS_INTRO)
            st.caption(examples.caption())
            if purity := learn.subclass_purity_line(examples):
                st.markdown(f"**{purity}**")
            n_classes = len(examples.classes)
            name = st.selectbox("Class", examples.classes, index=min(7, n_classes - 1), key=f"learn_subclass_class_{demo}")
            c = examples.classes.index(name)
            for k, col in enumerate(st.columns(examples.subclasses)):
                col.image(examples.tile(c, k, columns=2 if examples.subclasses > 3 else 3), caption=examples.label(c, k),
                          width="stretch" if examples.subclasses > 3 else 200)
            st.caption(examples.summary())
            with st.expander("Every class"):
                for ci in range(n_classes):
                    for k, col in enumerate(st.columns(examples.subclasses)):
                        col.image(examples.tile(ci, k, columns=6), caption=examples.label(ci, k), width="stretch")
            students = stored_demo(lambda d=demo: learn.subclass_students(d), "The subclass students")
            if students is not None and not students.empty:
                st.markdown("**The course MLP on the same task** (test accuracy %, mean ± std over the seeds listed):")
                st.dataframe(students, hide_index=True, column_config={
                    "accuracy": st.column_config.NumberColumn(format="%.2f"),
                    "std": st.column_config.NumberColumn("±", format="%.2f")})
    if method.demo == "born_again":
        ban = stored_demo(learn.born_again_generations, "The born-again results")
        if ban is not None and ban.empty:
            st.info(learn.BAN_MISSING)
        elif ban is not None:
            st.markdown("**From the stored results:** does a generation pass its teacher?")
            chart = alt.Chart(ban).mark_line(point=True).encode(
                x=alt.X("step:N", sort=list(learn.BAN_ORDER), title=None, axis=alt.Axis(labelAngle=-30, labelOverlap=False)),
                y=alt.Y("accuracy:Q", title="test accuracy %", scale=alt.Scale(zero=False)),
                color=alt.Color("seed:N", legend=alt.Legend(orient="bottom")),
                column=alt.Column("data:N", title=None, header=alt.Header(  # "(stand-in …)" on a line of its own
                    labelLimit=0, labelExpr="split(replace(datum.label, ' (', '|('), '|')")),
                tooltip=["data", "seed", "step", alt.Tooltip("accuracy:Q", format=".2f"),
                         alt.Tooltip("vs_teacher:Q", format="+.2f", title="vs teacher (points)")],
            ).properties(width=240, height=220)  # three panels and the axis fit the 1280-px page's column
            st.altair_chart(chart)
            st.markdown(learn.born_again_summary(ban))
            st.caption(learn.BAN_CAPTION)
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
