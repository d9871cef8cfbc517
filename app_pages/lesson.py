"""Guided lesson: the handout's arc in short steps — predict, see the demo, reveal the stored answer, take away."""

import altair as alt
import streamlit as st

from kdcore.views import lab, lesson, links, playground, session
from kdcore.views.text import plain

STEPS = lesson.STEPS
PAGES = {"compare": "Compare", "temperature": "Temperature playground", "distill_lab": "Distill lab",
         "learn": "Learn", "mhist": "MHIST", "student_learned": "What the student learned"}
LINKED = ("temperature", "distill_lab", "student_learned")  # pages that read a data set from the link
# this page's settings survive a visit to another page (kdcore.views.session); a link that asks for others wins
KEPT = ("ls_dataset", "ls_presenter", "ls_index", *(f"ls_{kind}_{s.key}" for s in STEPS for kind in ("guess", "reveal")))
linked = session.keep(st.session_state, "ls", KEPT, st.query_params.to_dict())
if linked or "ls_step" not in st.session_state or "ls_dataset" not in st.session_state:  # a shared link first
    asked, notes = links.read_link(st.query_params.to_dict(), datasets=lesson.LESSON_DATASETS, steps=len(STEPS))
    st.session_state["ls_step"] = asked.get("step", st.session_state.get("ls_step", 0))
    # full Fashion-MNIST when shipped
    st.session_state["ls_dataset"] = asked.get("dataset") or st.session_state.get("ls_dataset") or lab.lead_dataset()
    for note in notes:
        st.warning(plain(note))


def go(to: int) -> None:
    st.session_state["ls_step"] = min(max(to, 0), len(STEPS) - 1)


presenter = st.toggle("Presenter mode: one step per screen, large type", key="ls_presenter")
if presenter:
    st.html("<style>[data-testid='stMarkdownContainer'] p, [data-testid='stMarkdownContainer'] li, label p "
            "{font-size: 1.55rem !important; line-height: 1.45} h2 {font-size: 2.6rem !important} "
            "[data-testid='stSidebar'] {display: none}</style>")
else:
    st.title("Guided lesson: knowledge distillation")
    st.caption("The ECE 1512 project B tutorial's arc in six steps. Predict, look at the demo, then reveal what the "
               "stored results say. Every number comes from the result store, with its data and seeds.")
i = st.session_state["ls_step"]
step = STEPS[i]
left, right = st.columns(2)
dataset = left.selectbox("Data set", lesson.LESSON_DATASETS, format_func=lesson.title, key="ls_dataset")
if not presenter:
    st.session_state["ls_pick"] = i
    right.selectbox("Step", range(len(STEPS)), key="ls_pick", on_change=lambda: go(st.session_state["ls_pick"]),
                    format_func=lambda k: f"{k + 1}. {STEPS[k].title}")
st.query_params.from_dict(session.wrote(st.session_state, "ls", links.link_params(step=i, dataset=dataset)))

st.header(f"{i + 1} / {len(STEPS)} · {step.title}")
st.markdown(step.intro.format(data=lesson.title(dataset)))
question = step.question.format(data=lesson.title(dataset))
guess = st.radio(f"**Predict:** {question}", step.options, index=None, key=f"ls_guess_{step.key}")
count = playground.test_image_count(dataset) if step.uses_image else 0
if count and st.session_state.get("ls_index", 0) >= count:  # after a data-set switch
    st.session_state["ls_index"] = count - 1
index = st.number_input(f"Test image number (0–{count - 1})", 0, max(count - 1, 0), key="ls_index") if count else 0

try:
    demo = lesson.demo(step.key, dataset, int(index))
except Exception as e:  # noqa: BLE001 - a demo failing must not take the lesson down
    demo = lesson.Demo(missing=f"The demo could not run ({e}).")
if demo.frame.empty:
    st.info(demo.missing)
else:
    chart = alt.Chart(demo.frame)
    chart = {"bar": chart.mark_bar(), "line": chart.mark_line(point=True)}.get(demo.mark, chart.mark_point(
        filled=True, size=90))
    kind = "Q" if demo.mark == "line" else "N"
    enc = {"x": alt.X(f"{demo.x}:{kind}", title=demo.x, axis=alt.Axis(labelAngle=-30)),
           "y": alt.Y(f"{demo.y}:Q", title=demo.y, scale=alt.Scale(zero=demo.mark == "bar")),
           "tooltip": list(demo.frame.columns)}
    if demo.color:
        enc["color"] = alt.Color(f"{demo.color}:N", title=None)
    if demo.column:
        enc["column"] = alt.Column(f"{demo.column}:N", title=None)
    st.altair_chart(chart.encode(**enc).properties(height=260, **({"width": 160} if demo.column else {})),
                    width="content" if demo.column else "stretch")
    st.caption(demo.caption)
    if demo.table is not None and not presenter:
        st.dataframe(demo.table, hide_index=True)

if st.toggle("Reveal the answer", key=f"ls_reveal_{step.key}"):
    answer = lesson.reveal(step.key, dataset, int(index))
    if guess is not None and answer.correct is not None:
        (st.success if guess == answer.correct else st.warning)(
            f"You predicted “{guess}”; the stored results say “{answer.correct}”.")
    st.markdown(answer.answer)
    if not answer.table.empty:
        st.dataframe(answer.table, hide_index=True)
    st.caption(answer.source)
    st.info(f"**Take-away:** {step.takeaway}")
if step.try_page and not presenter:
    st.page_link(f"app_pages/{step.try_page}.py", label=f"Try it yourself: {PAGES[step.try_page]}",
                 query_params=links.link_params(dataset=dataset) if step.try_page in LINKED else None)

back, _, forward = st.columns([1, 4, 1])
back.button("← Previous", on_click=go, args=(i - 1,), disabled=i == 0, key="ls_prev", width="stretch")
forward.button("Next →", on_click=go, args=(i + 1,), disabled=i == len(STEPS) - 1, key="ls_next", width="stretch")
