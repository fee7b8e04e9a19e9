"""Peak memory of a process tree, sampled from /proc while it runs (Linux only)."""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from pathlib import Path


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(p) for p in f.read().split()]
    return out


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in kB; zeros once it is gone."""
    found = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                found[line[:5]] = int(line.split()[1])
    return found.get("VmRSS", 0), found.get("VmHWM", 0)


def _command(pid: int) -> str:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
        words = f.read().decode(errors="replace").split("\0")
        return " ".join(Path(words[0]).name.split() + words[1:4])[:80]
    return "?"


class TreeSampler(threading.Thread):
    """Samples a process tree: each process's peak RSS (VmHWM), the tree's summed RSS, and
    which processes it had.

    VmHWM is the peak of the process's own image since exec. The kernel's ru_maxrss (wait4)
    is not used: it also counts the image the child was forked from, i.e. the parent with
    the whole fake dataset in memory.
    """

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_kb, self.pids = 0, {pid}
        self.hwm_kb: dict[int, int] = {}
        self.commands: collections.Counter[str] = collections.Counter()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            tree, todo = [], [self.pid]
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo += _children(pid)
            for pid in set(tree) - self.pids:
                self.commands[_command(pid)] += 1
            self.pids.update(tree)
            rss = 0
            for pid in tree:
                now, hwm = _memory_kb(pid)
                rss += now
                self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), hwm)
            self.peak_kb = max(self.peak_kb, rss)

    @property
    def peak_rss_mb(self) -> float:
        """The largest VmHWM of any process of the tree."""
        return round(max(self.hwm_kb.values(), default=0) / 1024, 1)
