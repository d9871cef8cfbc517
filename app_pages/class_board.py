"""Class board: each person's KD runs, labelled with their name, live for the whole class."""

import altair as alt
import streamlit as st

from kdcore.board import current_class, read_board, start_class
from kdcore.config import ConfigError
from kdcore.data import DATASET_TITLES
from kdcore.views.board import board_frame, board_summary, run_for_board, summary_table
from kdcore.views.groups import run_label
from kdcore.views.text import plain

st.title("Class board")
st.caption("Type your name, try a temperature T, a weight α and a student size: your run appears here for everyone "
           "in the class. Your name labels the run only; equal settings share one result.")

if "board_code_next" in st.session_state:  # a fresh class the lecturer just started (set before the widget exists)
    st.session_state["board_code"] = st.session_state.pop("board_code_next")
st.session_state.setdefault("board_code", current_class())
c1, c2 = st.columns(2)
name = c1.text_input("Your name", key="board_name", max_chars=40)
code = c2.text_input("Class code", key="board_code",
                     help="Your lecturer gives it; everyone with the same code sees the same board.")

with st.form("board_try"):
    f1, f2, f3, f4 = st.columns(4)
    dataset = f1.selectbox("Data", ["mnist", "fashion_mnist"], key="board_dataset",
                           format_func=lambda d: DATASET_TITLES.get(d, d))
    temperature = f2.select_slider("T", [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0], value=4.0, key="board_T")
    alpha = f3.slider("α (weight of the distillation term)", 0.0, 1.0, 0.5, 0.1, key="board_alpha")
    hidden = f4.text_input("Student hidden sizes", "784,784", key="board_hidden")
    go = st.form_submit_button("Train and post to the board", type="primary")

if go:
    bar = st.progress(0.0, text="starting")

    def progress(e: dict) -> None:
        if e.get("epochs"):
            bar.progress(min(1.0, (e.get("epoch") or 0) / e["epochs"]), text=f"epoch {e.get('epoch')}/{e['epochs']}")
        elif e.get("message"):
            bar.progress(0.0, text=str(e["message"]))

    try:
        r = run_for_board(code, name, dataset, temperature, alpha, hidden, progress)
        bar.empty()
        st.success(f"Posted: {plain(run_label(r['config']))} — test accuracy {100 * r['metrics']['accuracy']:.2f}%")
    except (ConfigError, ValueError) as e:
        bar.empty()
        st.error(plain(e))


@st.fragment(run_every=10)
def board(code: str) -> None:
    try:
        frame = board_frame(code)
    except ConfigError as e:
        st.error(plain(e))
        return
    for note in read_board(code)[1]:  # a damaged line of the board file is skipped, the rest shown
        st.caption(plain(note))
    s = board_summary(frame)
    if not s["runs"]:
        st.info(f"No runs on class **{plain(code)}** yet: be the first.")
        return
    m1, m2 = st.columns(2)
    m1.metric("Runs", s["runs"])
    m2.metric("People", s["people"])
    st.markdown("**Best so far and spread, per data set and student** — the best goes to the first to reach it "
                "(posting the same setting later shares the result, not the credit); ties are all named.")
    st.dataframe(summary_table(s), hide_index=True, width="stretch",
                 column_config={"best %": st.column_config.NumberColumn(format="%.2f")})
    for g in s["groups"]:  # the names as text too (a table is drawn on a canvas): escaped, never markdown
        best = g["best"]
        st.caption(f"Best: {plain(' · '.join(h['who'] for h in best['holders']))} — {best['accuracy']:.2f} % "
                   f"({plain(g['data'])}, {plain(g['student'])})")
    if frame["standin"].any():
        st.warning("⚠ Some runs are on stand-in data (the rows whose data says “stand-in”: e.g. the MNIST-5k subset "
                   "when MNIST cannot be downloaded): their accuracies are not comparable with the full data set's.")
    # what varied, unconfounded: T across, α as colour, one panel per student size (and per data set)
    points = alt.Chart(frame).mark_circle(size=90, opacity=0.85).encode(
        x=alt.X("T:Q", scale=alt.Scale(type="log", base=2), axis=alt.Axis(values=[1, 2, 4, 8, 16, 32, 64])),
        y=alt.Y("test accuracy %:Q", scale=alt.Scale(zero=False)),
        color=alt.Color("alpha:O", title="α", scale=alt.Scale(scheme="viridis")),
        tooltip=["who", "data", "student", "T", "alpha", "test accuracy %"],
    ).properties(width=260, height=220).facet(column=alt.Column("student:N", title="student"),
                                              row=alt.Row("data:N", title=None)).resolve_scale(y="independent")
    st.altair_chart(points)
    st.dataframe(frame.drop(columns=["key", "standin"]), hide_index=True, width="stretch")


board(code)

with st.expander("Lecturer: start a fresh class"):
    st.caption("A new code: the board starts empty, new visitors join it, and every earlier class and result stays. "
               "Needs the lecturer's code (KD_LECTURER_CODE, or the one printed in the server log at start).")
    secret = st.text_input("Lecturer's code", type="password", key="board_lecturer")
    if st.button("Start a fresh class", key="board_new_class"):
        try:
            st.session_state["board_code_next"] = start_class(secret)
            st.rerun()
        except ConfigError as e:
            st.error(plain(e))
