"""Compress: KD beside quantisation, pruning, weight sharing and sparse training — and a student to take home."""

import altair as alt
import streamlit as st

from kdcore.config import ConfigError
from kdcore.data import DATASET_TITLES, DataError
from kdcore.views import compress as cv
from kdcore.views.errors import page_error
from kdcore.views.text import plain

st.title("Compress")
st.caption("Should you distil, quantise or prune — and what do you get if you do all three? Every point below is "
           "a stored model measured by the engine: its ONNX file's bytes and its ONNX Runtime latency.")
family, note = cv.linked_family(dict(st.query_params))
if note:
    st.caption(plain(note))

view = cv.tradeoff(st.session_state.get("cps_compress_dataset"))
if not view.datasets:
    st.info("No compression results are stored yet: run `python -m kdcore precompute --only compress`, or compress "
            "a model below.")
else:
    dataset = st.selectbox("Data", view.datasets, format_func=lambda d: DATASET_TITLES.get(d, d),
                           key="cps_compress_dataset")
    view = cv.tradeoff(dataset)
    points = view.points.assign(highlight=view.points["family"].isin([family]) if family else True)
    base = alt.Chart(points).encode(
        y=alt.Y("accuracy:Q", scale=alt.Scale(zero=False), title="test accuracy %"),
        color=alt.Color("family:N", scale=alt.Scale(domain=[*cv.FAMILIES, cv.REFERENCE]), title=None),
        shape=alt.Shape("reference:N", title=None, legend=alt.Legend(
            labelExpr="datum.label == 'true' ? 'uncompressed start' : 'compressed'")),
        opacity=alt.condition("datum.highlight", alt.value(1.0), alt.value(0.25)),
        tooltip=["model", "family", alt.Tooltip("seeds:Q", title="n (seeds)"),
                 alt.Tooltip("accuracy:Q", format=".2f"), alt.Tooltip("accuracy_std:Q", format=".2f", title="± std"),
                 alt.Tooltip("size_kb:Q", format=",.1f", title="ONNX kB"), alt.Tooltip("gzip_kb:Q", format=",.1f"),
                 alt.Tooltip("latency_us_b1:Q", format=".1f", title="µs/image (batch 1)"),
                 alt.Tooltip("speed_x:Q", format=".2f", title="× faster (same run)")])
    left, right = st.columns(2)
    left.altair_chart(base.mark_point(filled=True, size=90).encode(
        x=alt.X("size_kb:Q", scale=alt.Scale(type="log"), title="ONNX file, kB (log)")).properties(
        height=320, title="accuracy vs size"), width="stretch")
    # latency as a ratio to the model's own uncompressed start timed in the same run: absolute µs of different jobs
    # were timed at different moments (a busy machine reads 2–6× slower), so they are not comparable point to point
    right.altair_chart(base.mark_point(filled=True, size=90).encode(
        x=alt.X("speed_x:Q", scale=alt.Scale(type="log"), title="× faster than its uncompressed start (batch 1, log)")
    ).properties(height=320, title="accuracy vs speed-up"), width="stretch")
    st.caption(plain(view.caption))
    st.dataframe(view.points.drop(columns=["reference", "twin"]), hide_index=True)

st.subheader("Compress a model")
datasets = cv.start_datasets(view.datasets) or ["fashion_mnist"]  # the trade-off's first, then any with a stored model
if st.session_state.get("cps_start_dataset") not in datasets:  # opens on the trade-off's data set
    st.session_state["cps_start_dataset"] = next((d for d in (st.session_state.get("cps_compress_dataset"),)
                                                  if d in datasets), datasets[0])
start_data = st.selectbox("Data set of the model", datasets, format_func=lambda d: DATASET_TITLES.get(d, d),
                          key="cps_start_dataset")
starts = dict(cv.start_models(start_data))
with st.form("compress_form"):
    start = st.selectbox("Start from", list(starts), format_func=lambda k: starts.get(k, k), key="cps_start")
    c1, c2, c3 = st.columns(3)
    sparsity = c1.number_input("Pruning sparsity (0 = none)", 0.0, 1.0, 0.0, 0.05, key="cps_sparsity")
    structured = c1.checkbox("structured (whole hidden units / channels)", key="cps_structured")
    share = c2.checkbox("weight sharing", key="cps_share")
    bits = c2.number_input("bits (2^bits shared values)", 0, 16, 4, key="cps_bits")
    int8 = c3.checkbox("int8 (ONNX Runtime)", key="cps_int8")
    epochs = c3.number_input("fine-tune epochs", 0, 20, 1, key="cps_epochs")
    teacher = c3.checkbox("fine-tune with the teacher (KD)", key="cps_with_teacher")
    go = st.form_submit_button("Compress")
if go:
    settings = cv.Settings(start_key=start or "", sparsity=float(sparsity), structured=structured, share=share,
                           bits=int(bits), int8=int8, finetune_epochs=int(epochs), with_teacher=teacher)
    try:
        cv.check_settings(settings)  # a bad setting: its message, before anything queues
    except ConfigError as e:
        st.error(plain(e))
    else:
        with st.status("Compressing …", expanded=True) as status:
            bar = st.progress(0.0, text="queued")

            def progress(event: dict) -> None:
                done = event.get("epoch", 0) / event["epochs"] if event.get("epochs") else 0.0
                bar.progress(min(1.0, done), text=plain(event.get("message") or event.get("stage", "working")))

            try:
                r = cv.run_compression(settings, progress)
                status.update(label=f"Done: {r['name']}", state="complete", expanded=False)
                st.rerun()
            except (ConfigError, DataError) as e:
                status.update(label="Stopped", state="error")
                st.error(plain(e))
            except Exception as e:  # noqa: BLE001 - never a traceback on the page
                status.update(label="Failed", state="error")
                st.error(page_error(e, "compressing"))

st.subheader("Take a model home")
models = {**{k: plain(v) for k, v in starts.items()},
          **{row.key: plain(row.model + f" s{row.seed}") for row in view.runs.itertuples()}} if view.datasets else starts
d1, d2 = st.columns([3, 1])
pick = d1.selectbox("Model", list(models), format_func=lambda k: models.get(k, k), key="cps_download_key")
fmt = d2.radio("Format", ["onnx", "onnx-int8", "safetensors"], format_func=cv.format_label, key="cps_format")
if pick and st.button("Prepare the download", key="cps_prepare"):
    with st.spinner("Exporting (a model stored without weights is retrained through its own job first) …"):
        try:
            st.session_state["cps_file"] = cv.download(pick, fmt)
        except Exception as e:  # noqa: BLE001 - never a traceback on the page
            st.error(page_error(e, "exporting"))
if (got := st.session_state.get("cps_file")) is not None:
    if got.retrained:
        st.caption("Its weights were not kept in the store: it was retrained through its own job for this export.")
    b1, b2 = st.columns(2)
    b1.download_button(f"Download {got.file_name}", got.data, file_name=got.file_name, key="cps_dl_model")
    b2.download_button("Download its model card", got.card, file_name=got.card_name, mime="text/markdown",
                       key="cps_dl_card")
