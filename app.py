"""Distillation Lab: the router. Each page is one thin file in app_pages/; every number comes from kdcore.

The folder is not called pages/: Streamlit auto-lists a pages/ folder (its old multipage mode) when the
first request after a start is a page URL, and this router (icons, wide layout) would never run.
"""


def main() -> None:
    import streamlit as st

    from kdcore.jobs.heap import return_freed_memory_to_os
    from kdcore.settings import SettingsError, settings

    return_freed_memory_to_os()  # freed tensors go back to the OS (a hosted app has ~2.7 GB)
    from kdcore.inference import flush_denormals

    flush_denormals()  # this script thread's (its pages score stored models); runner threads and jobs set their own
    st.set_page_config(page_title="Distillation Lab", page_icon="⚗️", layout="wide")
    try:
        settings()  # every KD_* variable, checked on each run: a malformed one is named here, not deep in a page
    except SettingsError as e:
        from kdcore.views.text import plain

        st.error(f"The app cannot start with this environment: {plain(e)}")
        st.stop()
    from kdcore.board import lecturer_code

    lecturer_code()  # made (when KD_LECTURER_CODE is unset) and printed to the server log once, at the first visit
    from kdcore.inference import device_note

    if (note := device_note()) is not None:  # KD_DEVICE=cuda without a GPU: jobs fall back to the CPU
        st.sidebar.warning(note)

    pages = [
        st.Page("app_pages/learn.py", title="Learn", icon=":material/school:", default=True),
        st.Page("app_pages/lesson.py", title="Guided lesson", icon=":material/co_present:"),
        st.Page("app_pages/temperature.py", title="Temperature playground", icon=":material/thermostat:"),
        st.Page("app_pages/distill_lab.py", title="Distill lab", icon=":material/science:"),
        st.Page("app_pages/own_images.py", title="Your own images", icon=":material/photo_library:"),
        st.Page("app_pages/student_learned.py", title="What the student learned", icon=":material/difference:"),
        st.Page("app_pages/compare.py", title="Compare", icon=":material/leaderboard:"),
        st.Page("app_pages/compress.py", title="Compress", icon=":material/compress:"),
        st.Page("app_pages/mhist.py", title="MHIST", icon=":material/biotech:"),
        st.Page("app_pages/class_board.py", title="Class board", icon=":material/groups:"),
    ]
    with st.sidebar:
        st.caption(
            "Knowledge distillation, taught and measured. Results come from the kdcore engine "
            "(shipped in assets/store, plus whatever you train here)."
        )
    page = st.navigation(pages)
    try:
        page.run()
    except Exception as e:  # noqa: BLE001 - the one boundary: st.stop/st.rerun are BaseExceptions and pass
        from kdcore.views.errors import page_error

        st.error(page_error(e, f"showing {page.title}"), icon=":material/error:")


# Streamlit runs this file as __main__. A job runner's worker process (multiprocessing spawn) re-imports the
# main script as __mp_main__: there it must draw nothing (st.* outside a session filled the server log with
# "missing ScriptRunContext" and cost the worker a Streamlit import).
if __name__ == "__main__":
    main()
