"""The compress room: transforms of a stored model (int8, pruning, weight sharing, sparse training) as jobs.

- :mod:`kdcore.compress.onnx_io` — export to ONNX, ONNX Runtime int8 quantisation, sessions, logits, latency;
- :mod:`kdcore.compress.transforms` — the transform registry (``TRANSFORMS``) and their settings' checks;
- :mod:`kdcore.compress.measure` — what a deployed model costs (bytes, latency, FLOPs, agreement);
- :mod:`kdcore.compress.job` — the compression job that :func:`kdcore.train.job.run_job` dispatches to.

Imports point inward: this room imports the engine's models/store/train loop; nothing in kdcore.train imports it
at module level (run_job imports the job lazily), and it never imports kdcore.views or Streamlit.
"""
