"""Your own images: a folder (its path) or a zip of one becomes a data set the lab, Compare and What the student
learned offer."""

import streamlit as st

from kdcore.views import own_images as oi
from kdcore.views import session
from kdcore.views.text import plain

st.title("Your own images")
st.caption("Any folder of labelled images becomes a data set: one sub-folder per class, named after the class "
           "(<folder>/<class>/<image>; PNG, JPEG, WebP or BMP; optionally train/ and test/ inside, else the images "
           "are split per class). Small grey images get the course CNN → MLP at 28×28, larger or colour ones the "
           "transfer-learning pair. Every image is checked first, and nothing is ever written into your folder.")

positive = st.text_input("Positive class (two-class folders only: the class F1 and AUC score; blank: the rarer one)",
                         key="oi_positive")
left, right = st.columns(2)
with left:
    st.subheader("A folder on this machine")
    path = st.text_input("Folder", key="oi_path", placeholder="/path/to/images (one sub-folder per class)")
    by_path = st.button("Use this folder", key="oi_use_path", type="primary")
with right:
    st.subheader("…or a zip of one")
    upload = st.file_uploader(f"Zip of the folder (at most {oi.MAX_UPLOAD_MB} MB)", type=["zip"], key="oi_zip",
                              max_upload_size=oi.MAX_UPLOAD_MB)
    by_zip = st.button("Unpack and use this zip", key="oi_use_zip")
    st.caption(oi.ZIP_NOTE)

if by_path or by_zip:
    st.session_state.pop("oi_added", None)
    try:
        with st.spinner("Checking every image …"):
            if by_zip and upload is None:
                raise oi.FolderError("no zip chosen; choose a .zip of the folder above first")
            added = (oi.add_zip(upload.name, upload.getvalue(), positive) if by_zip
                     else oi.add_folder(path, positive))
        st.session_state["oi_added"] = added.words() + (f" Note: {added.notice}." if added.notice else "")
        session.ask(st.session_state, "lab", "lab_dataset", added.name)  # the lab opens on it
    except oi.REFUSALS as e:  # the engine's refusal: the problem and the fix, as the CLI says it
        st.error(f"These images cannot be used: {plain(e)}")
if (said := st.session_state.get("oi_added")) is not None:
    st.success(plain(said))
    st.page_link("app_pages/distill_lab.py", label="Distil it in the Distill lab", icon=":material/science:")

st.subheader("Your image data sets")
table = oi.folder_table()
if table.empty:
    st.info("None yet: give a folder or a zip above. (From the command line: `python -m kdcore distill --data-dir "
            "<folder>`.)")
else:
    st.dataframe(table, hide_index=True)
    st.caption("Each is offered in the Distill lab's data set picker; their results appear in Compare and What the "
               "student learned. Editing a folder makes it a new data set (its content is in every result's key).")
