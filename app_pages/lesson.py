"""Guided lesson: the handout's arc in short steps — predict, see the demo, reveal the stored answer, take away."""

import altair as alt
import streamlit as st

from kdcore.views import lab, lesson, links, playground, session
from kdcore.views.text import plain

STEPS = lesson.STEPS
PAGES = {"compare": "Compare", "temperature": "Temperature playground", "distill_lab": "Distill lab",
         "learn": "Learn", "mhist": "MHIST", "student_learned": "What the student learned",
         "compress": "Compress"}
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

PRESENTER_CSS = """<style>
[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl'], header[data-testid='stHeader'] {display: none}
[data-testid='stMainBlockContainer'] {padding: 0.75rem 2rem 0.5rem !important; max-width: none}
[data-testid='stMarkdownContainer'] p, [data-testid='stMarkdownContainer'] li, label p
  {font-size: 1.2rem !important; line-height: 1.4}
[data-testid='stAlertContainer'] p {font-size: 1.1rem !important}
h2 {font-size: 1.9rem !important; padding: 0.1rem 0 !important}
[data-testid='stCaptionContainer'] p {font-size: 0.95rem !important}
[data-testid='stTable'] {max-height: 16rem; overflow: auto}
[data-testid='stTable'] td, [data-testid='stTable'] th {font-size: 1.05rem !important}
</style>"""


MIN_ROWS = 3  # a panel of one category still gets a plot area a bar can be seen in (3 rows' height)


def draw_demo(demo: lesson.Demo, presenter: bool) -> None:
    """A step's chart. Categories are read across a horizontal axis only when they are few and short (else
    they go down a vertical one, where long model names fit); panels (``demo.column``) keep only their own
    categories and the order the demo's frame holds them in (T = 1, 2, 4, 16 …, never as text); larger type
    when presenting."""
    frame = demo.frame
    # Presenting: type a projector can show (Vega's defaults are ~11 px). Set on each axis and legend, since the
    # Streamlit theme's own config wins over a chart's top-level configure_*().
    ax = {"labelFontSize": 14, "titleFontSize": 15} if presenter else {}
    lg = {"labelFontSize": 14} if presenter else {}
    y = alt.Y(f"{demo.y}:Q", title=demo.y, scale=alt.Scale(zero=demo.mark == "bar"), axis=alt.Axis(**ax))
    tips = list(frame.columns)
    if demo.mark == "line":  # epochs: whole numbers on the axis, never 1.5
        spec = alt.Chart(frame).mark_line(point=True).encode(
            x=alt.X(f"{demo.x}:Q", title=demo.x, axis=alt.Axis(tickMinStep=1, format="d", **ax)), y=y, tooltip=tips,
            color=alt.Color(f"{demo.color}:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=0, **lg)))
        st.altair_chart(spec.properties(height=260 if presenter else 280), width="stretch")
        return
    mark = (lambda c: c.mark_bar()) if demo.mark == "bar" else (lambda c: c.mark_point(filled=True, size=90))
    colour = {} if not demo.color or demo.color in (demo.x, demo.column) else {
        "color": alt.Color(f"{demo.color}:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=0, **lg))}
    if demo.column and demo.mark == "bar":  # a few short categories per panel: panels side by side, wrapped
        panels = list(dict.fromkeys(frame[demo.column]))
        per_row = min(len(panels), 3)
        width = (140 if presenter else 200) if per_row == 3 else (200 if presenter else 280)
        height = 70 if presenter else 120
        many = frame[demo.x].nunique() > 5  # ten class names in a narrow panel: upright, a size that fits
        names = {"labelAngle": -90, "labelFontSize": 12} if presenter and many else {"labelAngle": -40, **ax}
        spec = mark(alt.Chart(frame)).encode(
            x=alt.X(f"{demo.x}:N", title=None, sort=list(dict.fromkeys(frame[demo.x])),
                    axis=alt.Axis(labelOverlap=False, labelLimit=0, **names)),
            y=y, tooltip=tips, color=alt.Color(f"{demo.x}:N", legend=None),
            facet=alt.Facet(f"{demo.column}:N", sort=panels, columns=per_row, title=None,
                            header=alt.Header(labelLimit=0, **lg))).properties(width=width, height=height)
        st.altair_chart(spec, width="content")
        return
    # Categories down the side, where long names fit. Panels: one chart each, stacked, each as tall as its own
    # categories (at least MIN_ROWS), one value axis. Presenting, the panels become colours of one dot plot
    # (five stacked panels are taller than a 720-px screen).
    x = alt.X(f"{demo.y}:Q", title=demo.y, scale=alt.Scale(zero=demo.mark == "bar"), axis=alt.Axis(**ax))
    row = 20 if presenter else 22
    if demo.column and presenter:
        colour = {"color": alt.Color(f"{demo.column}:N", title=None, legend=alt.Legend(
            orient="bottom", direction="vertical", labelLimit=0, **lg))}  # one name a row: a bottom legend starts
        # after the y axis's long method names, so side by side the student names ran off the right edge (and at the
        # right they left an 18-px plot)
        groups = [(None, frame)]
    else:
        groups = [(None, frame)] if not demo.column else list(frame.groupby(demo.column, sort=False))
    charts = [mark(alt.Chart(part)).encode(
        y=alt.Y(f"{demo.x}:N", title=None, sort=list(dict.fromkeys(part[demo.x])),
                axis=alt.Axis(labelLimit=0, labelOverlap=False, **ax)),
        x=x, tooltip=tips, **colour).properties(
        height=row * max(part[demo.x].nunique(), MIN_ROWS),
        **({"title": alt.TitleParams(str(name), anchor="start", fontSize=13)} if name is not None else {}))
        for name, part in groups]
    # a lone chart is sized as a whole (Streamlit fits it), so its height also holds the value axis and legend
    spec = alt.vconcat(*charts, spacing=8).resolve_scale(x="shared") if len(charts) > 1 else charts[0].properties(
        height=row * max(frame[demo.x].nunique(), MIN_ROWS) + 75
        + (20 * frame[demo.column].nunique() if colour else 0))
    st.altair_chart(spec, width="stretch")


def go(to: int) -> None:
    st.session_state["ls_step"] = min(max(to, 0), len(STEPS) - 1)


top, top_right = st.columns([3, 2], vertical_alignment="center")
presenter = top.toggle("Presenter mode: one step per screen, large type", key="ls_presenter")
if presenter:  # one 1280×720 screen per step: no sidebar or app header, tight margins, large type
    st.html(PRESENTER_CSS)
else:
    st.title("Guided lesson: knowledge distillation")
    st.caption("The ECE 1512 project B tutorial's arc in six steps. Predict, look at the demo, then reveal what the "
               "stored results say. Every number comes from the result store, with its data and seeds.")
i = st.session_state["ls_step"]
step = STEPS[i]
if presenter:
    dataset = top_right.selectbox("Data set", lesson.LESSON_DATASETS, format_func=lesson.title, key="ls_dataset",
                                  label_visibility="collapsed")
else:
    left, right = st.columns(2)
    dataset = left.selectbox("Data set", lesson.LESSON_DATASETS, format_func=lesson.title, key="ls_dataset")
    st.session_state["ls_pick"] = i
    right.selectbox("Step", range(len(STEPS)), key="ls_pick", on_change=lambda: go(st.session_state["ls_pick"]),
                    format_func=lambda k: f"{k + 1}. {STEPS[k].title}")
st.query_params.from_dict(session.wrote(st.session_state, "ls", links.link_params(step=i, dataset=dataset)))

st.header(f"{i + 1} / {len(STEPS)} · {step.title}")
# Presenter mode: the words on the left, the demo on the right; elsewhere one column, top to bottom.
if presenter:
    words, demo_box = st.columns([1, 1], gap="medium")
    answer_box, table_box = words, demo_box
else:  # question, demo, answer, the table behind it
    words, demo_box, answer_box, table_box = (st.container() for _ in range(4))
revealed = bool(st.session_state.get(f"ls_reveal_{step.key}"))  # the toggle below, as this run found it
with words:
    if not (presenter and revealed):  # once revealed, the answer takes the intro's place on the screen
        st.markdown(step.intro.format(data=lesson.title(dataset)))
    question = step.question.format(data=lesson.title(dataset))
    guess = st.radio(f"**Predict:** {question}", step.options, index=None, key=f"ls_guess_{step.key}",
                     horizontal=presenter)
    count = playground.test_image_count(dataset) if step.uses_image else 0
    if count and st.session_state.get("ls_index", 0) >= count:  # after a data-set switch
        st.session_state["ls_index"] = count - 1
    index = st.number_input(f"Test image number (0–{count - 1})", 0, max(count - 1, 0), key="ls_index") if count else 0

with demo_box:
    if guess is None and not revealed:  # the demo answers the question: it waits for the prediction
        st.info("Make your prediction first: the demo appears once you have.")
    else:
        try:
            demo = lesson.demo(step.key, dataset, int(index))
        except Exception as e:  # noqa: BLE001 - a demo failing must not take the lesson down
            demo = lesson.Demo(missing=f"The demo could not run ({e}).")
        if demo.frame.empty:
            st.info(demo.missing)
        else:
            draw_demo(demo, presenter)
            st.caption(demo.caption)
            if demo.table is not None and not presenter:
                st.dataframe(demo.table, hide_index=True)

with answer_box:
    revealed = st.toggle("Reveal the answer", key=f"ls_reveal_{step.key}")
    answer = lesson.reveal(step.key, dataset, int(index)) if revealed else None
    if answer is not None:
        if guess is not None and answer.correct is not None:
            (st.success if guess == answer.correct else st.warning)(
                f"You predicted “{guess}”; the stored results say “{answer.correct}”.\n\n{answer.answer}")
        else:
            st.markdown(answer.answer)
        st.info(f"**Take-away:** {step.takeaway}")
if answer is not None:
    with table_box:
        if not answer.table.empty:
            if presenter:  # the numbers behind the answer, one click away (a long table would push past the screen)
                with st.expander(f"The table behind the answer ({len(answer.table)} rows)"):
                    st.table(answer.table)
            else:
                st.dataframe(answer.table, hide_index=True)
        st.caption(answer.source)
if step.try_page and not presenter:
    st.page_link(f"app_pages/{step.try_page}.py", label=f"Try it yourself: {PAGES[step.try_page]}",
                 query_params=links.link_params(dataset=dataset) if step.try_page in LINKED else None)

back, _, forward = st.columns([1, 4, 1])
back.button("← Previous", on_click=go, args=(i - 1,), disabled=i == 0, key="ls_prev", width="stretch")
forward.button("Next →", on_click=go, args=(i + 1,), disabled=i == len(STEPS) - 1, key="ls_next", width="stretch")
