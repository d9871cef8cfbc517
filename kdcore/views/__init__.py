"""What the pages show, shaped from the engine's public functions: frames for charts, captions, forms.

The pages (``app_pages/``) are thin: they read widgets, call one function here, and draw. This package
depends on the engine (``kdcore.config``, ``kdcore.methods``, ``kdcore.jobs``, ``kdcore.store`` …);
nothing in the engine imports it. No Streamlit import here either: pages own every ``st.`` call.
"""
