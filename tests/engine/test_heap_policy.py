"""engine.heap_policy: with the policy on, memory freed by one big allocation is reused by the
next without new page faults; ``ctcam train`` and ``ctcam evaluate`` switch it on in their own
process, the other commands (and the functions the tests call) leave the default alone."""

from __future__ import annotations

import subprocess
import sys

import pytest

import engine.cli as cli

PROBE = """
import resource, sys
import numpy as np
if sys.argv[1] == "on":
    from engine.heap_policy import keep_freed_memory
    assert keep_freed_memory()
faults = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones(50_000_000, np.float32)  # 200 MB, far over glibc's largest mmap threshold
    del a
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(faults[-1])
"""


def _faults(policy: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, policy], capture_output=True, text=True,
                         check=True, timeout=120)
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_freed_memory_is_reused_without_page_faults():
    off, on = _faults("off"), _faults("on")
    # default: a fresh mmap each time, every page faulted in again (numpy asks for 2 MB pages
    # for big arrays where the kernel has them: at least 100 for 200 MB); kept: still there
    assert off >= 90 and on * 10 <= off, (off, on)


@pytest.mark.parametrize("command, kept", [("train", True), ("evaluate", True), ("info", False)])
def test_only_the_long_commands_keep_freed_memory(monkeypatch, command, kept):
    import engine.heap_policy

    calls = []
    monkeypatch.setattr(engine.heap_policy, "keep_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.setattr(cli, "run_guarded", lambda name, target, argv: 0)
    assert cli.main([command, "--help"]) == 0
    assert bool(calls) == kept
