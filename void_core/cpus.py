"""How many CPUs this process's work may use.

A farm task reserves CPUs (Ray's `num_cpus`); the libraries under it start threads of their own
(OpenCV's parallel loops, x264 and FFmpeg's frame threads) sized to the whole machine, and the
shot renderer overlaps decoding and EXR writing with the fill on threads of its own. On a node
running one task per reserved CPU that oversubscribes every core, and a task given one CPU
quietly takes one and a half or more. The task layer calls `keep_to(n)` with the task's
reservation; the video reader and writer ask `thread_count()`, the renderer `spare_threads()`.
Outside a farm task nothing is limited.
"""

from __future__ import annotations

import cv2

_budget: int | None = None


def keep_to(cpus: float | None) -> None:
    """Limit this process's library threads to `cpus` (rounded up); None lifts the limit."""
    global _budget
    if cpus is None:
        _budget = None
        cv2.setNumThreads(-1)  # OpenCV's default: every core
        return
    _budget = max(1, int(-(-cpus // 1)))
    cv2.setNumThreads(_budget)


def thread_count() -> int:
    """Threads a codec may start: the budget, else 0 (FFmpeg's choice: every core)."""
    return _budget or 0


def spare_threads() -> bool:
    """Whether work may overlap on threads beside the one doing it (more than one CPU)."""
    return _budget is None or _budget > 1
