"""The heap policy (kdcore/jobs/heap.py) keeps the course student's per-batch tensors on the heap: no page
faults per training step (the old fixed 128 KB threshold mmap'd and faulted them in on every step).
Counted, not timed: page faults do not depend on how busy the machine is."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kdcore.jobs.heap import _libc


def _faults_per_step(variant: str) -> float:
    code = ("import json; from kdcore.bench.engine import heap_child; "
            f"print('BENCH' + json.dumps(heap_child({variant!r}, 2048, True)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH")]
    assert proc.returncode == 0 and line, proc.stderr[-2000:]
    return json.loads(line[0][5:])["page_faults_per_step"]


@pytest.mark.slow
@pytest.mark.skipif(_libc() is None, reason="not glibc: the heap policy changes nothing here")
def test_heap_policy_costs_no_page_faults_per_step_where_the_old_fix_did() -> None:
    assert _faults_per_step("policy") < 50
    assert _faults_per_step("fixed_128k") > 500  # what the 128 KB threshold cost (the 1.6-1.75x)
