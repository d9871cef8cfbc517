"""Suite-wide isolation: no network, no writes outside pytest's temp folders."""

from __future__ import annotations

import os
import tempfile

# Set before any kdcore import decides "online?" (the answer is cached per process). The suite
# must pass on a machine with no internet, and must never download anything when it has one.
os.environ["KD_OFFLINE"] = "1"
_session_tmp = tempfile.mkdtemp(prefix="kd-tests-")
os.environ.setdefault("KD_STORE_DIR", os.path.join(_session_tmp, "store"))
os.environ.setdefault("KD_DATA_DIR", os.path.join(_session_tmp, "data"))
# In-process tests run jobs in runner threads (no second torch per test); the browser test starts
# the app with the deployed default (worker processes).
os.environ.setdefault("KD_RUNNER_MODE", "thread")
