"""Decide "are we online?" fast and once per process.

Offline, timm retries a hub download for ~47 s and torchvision fails only after DNS gives up; a
classroom demo cannot wait for that. Every download in kdcore asks here first.
"""

from __future__ import annotations

import functools
import socket
import threading

from kdcore.settings import settings


def offline_forced() -> bool:
    """``KD_OFFLINE=1`` (or true/yes/on): never touch the network."""
    return settings().offline


@functools.cache
def _probe(host: str, port: int = 443, timeout: float = 2.0) -> bool:
    # In a thread with a hard join timeout: a slow DNS lookup is not bounded by the socket timeout.
    ok: list[bool] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            ok.append(False)

    t = threading.Thread(target=connect, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return bool(ok and ok[0])


def network_available(host: str) -> bool:
    """Can ``host`` be reached? At most ~2.5 s, once per host per process; False when KD_OFFLINE=1."""
    return False if offline_forced() else _probe(host)
