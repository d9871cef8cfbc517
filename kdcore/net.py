"""Decide "are we online?" fast and once per process.

Offline, timm retries a hub download for ~47 s and torchvision fails only after DNS gives up; a
classroom demo cannot wait for that. Every download in kdcore asks here first.
"""

from __future__ import annotations

import os
import socket
import threading

_lock = threading.Lock()
_answers: dict[str, bool] = {}


def network_available(host: str, port: int = 443, timeout_s: float = 2.0) -> bool:
    """True when a TCP connection to ``host:port`` opens within ``timeout_s``.

    ``KD_OFFLINE=1`` forces False. The answer is cached for the life of the process, so a failed
    check costs at most ``timeout_s`` once, never per request.
    """
    if os.environ.get("KD_OFFLINE", "").strip() not in ("", "0", "false", "False"):
        return False
    with _lock:
        if host in _answers:
            return _answers[host]
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                ok = True
        except OSError:
            ok = False
        _answers[host] = ok
        return ok


def forget_answers() -> None:
    """Drop cached answers (tests; or after the user says the network is back)."""
    with _lock:
        _answers.clear()
