"""Progress reporting for engines that work through a shot frame by frame."""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[int, int], None]  # (units done, units in total)


class Progress:
    """Calls `callback(done, total)` as work advances. Work may advance in fractions of a unit
    (a stage's share of a frame); whole units are reported, and the total grows when more work
    turns up than was announced."""

    def __init__(self, callback: ProgressCallback | None, total: int):
        self.callback, self.total, self.done = callback, max(1, total), 0.0

    def resize(self, total: int) -> None:
        self.total = max(total, int(self.done))

    def advance(self, amount: float = 1.0) -> None:
        self.done += amount
        if self.callback is not None:
            done = int(self.done)
            self.callback(done, max(self.total, done))
