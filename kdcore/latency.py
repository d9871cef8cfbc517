"""Per-image latency measured on the machine that asks (the one serving the page), once per network per process.

A stored record keeps the latency of whatever machine trained it (the shipped results partly on a GPU box, partly
on a CPU), so two records' latencies are not comparable, and neither is the median of a group's seeds. Pages show
:func:`latency_here` instead: the same network (architecture, size, outputs, input shape) built fresh and timed
here by :func:`kdcore.metrics.latency_ms`, the one measurement (weights do not change the time), the
device named by :func:`device_here`. FLOPs and parameters stay the machine-free measures.
"""

from __future__ import annotations

import functools
import json
import platform
from dataclasses import dataclass

# A measurement stops after this many seconds of timed passes (at least MIN_REPEATS): a 224² ResNet costs
# ~0.1 s a pass on a small CPU, a course MLP 0.1 ms; the page waits at most about this long per network.
BUDGET_S = 0.4
MIN_REPEATS = 3
MAX_REPEATS = 30


@dataclass(frozen=True)
class Latency:
    """A latency measured here: milliseconds per image (None: the network could not be built) and the device."""

    ms: float | None
    device: str

    def words(self, digits: int = 3) -> str:
        return "–" if self.ms is None else f"{self.ms:.{digits}f}"


@functools.lru_cache(maxsize=1)
def device_here() -> str:
    """This machine's CPU in words, e.g. "this server's CPU (AMD EPYC, 2 threads)"."""
    import torch

    name = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    threads = torch.get_num_threads()
    return f"this server's CPU ({name}, {threads} thread{'s' if threads != 1 else ''})"


def _network(cfg: dict | str) -> tuple[str, str, tuple[int, ...], int, int]:
    """What the time depends on: (dataset, arch, hidden sizes, CNN width, outputs)."""
    from kdcore.config import JobConfig
    from kdcore.data.pairs import data_pair
    from kdcore.methods import outputs_per_class

    config = JobConfig.from_dict(json.loads(cfg) if isinstance(cfg, str) else cfg)
    hidden = config.hidden if config.arch == "student_mlp" else ()
    width = int(config.param("width", 8)) if config.arch == "student_cnn" else 0
    outputs = data_pair(config.dataset).num_classes * outputs_per_class(config)
    return config.dataset, config.arch, hidden, width, outputs


@functools.lru_cache(maxsize=64)
def _measure(dataset: str, arch: str, hidden: tuple[int, ...], width: int, outputs: int) -> float | None:
    from kdcore.config import JobConfig
    from kdcore.data.pairs import data_pair
    from kdcore.metrics import latency_ms
    from kdcore.models import build_model

    params = (("width", width),) if width else ()
    config = JobConfig(dataset=dataset, arch=arch, hidden=hidden or (784, 784), method_params=params,
                       extra=(("pretrained", "none"),))  # random weights: the time is the same, nothing to fetch
    try:
        model = build_model(config, outputs)
    except Exception:  # noqa: BLE001 - a network this build cannot make is shown as "–", never a failed page
        return None
    return latency_ms(model, data_pair(dataset).input_shape, repeats=MAX_REPEATS, budget_s=BUDGET_S,
                      min_repeats=MIN_REPEATS)


def latency_here(cfg: dict | str) -> Latency:
    """The per-image latency of ``cfg``'s network (a stored result's config, a dict or its JSON) measured on this machine, cached
    per network for the life of the process."""
    try:
        net = _network(cfg)
    except Exception:  # noqa: BLE001 - an unreadable config: no figure rather than a broken table
        return Latency(None, device_here())
    return Latency(_measure(*net), device_here())


__all__ = ["Latency", "device_here", "latency_here"]
