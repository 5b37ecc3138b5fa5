"""Terminal progress of a batch: one bar for the whole batch, one per recording being processed."""

from __future__ import annotations

import sys

from tqdm import tqdm

__all__ = ["BatchDisplay"]


class BatchDisplay:
    """Progress bars on a terminal (silent elsewhere): overall recordings, and tasks of the active ones.

    Parameters
    ----------
    enabled : bool or None
        None: only when ``stream`` is a terminal.
    slots : int
        Recordings shown with their own bar at once (the first unfinished ones,
        which the scheduler runs first).
    """

    def __init__(self, enabled: bool | None = None, *, slots: int = 4, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(self.stream.isatty()) if enabled is None else bool(enabled)
        self.slots = max(1, slots)
        self.overall = tqdm(total=0, desc="recordings", unit="rec", position=0, file=self.stream, disable=not self.enabled, dynamic_ncols=True)
        self._steps: dict[str, list[int]] = {}  # name -> [done, total], in submission order
        self._bars: dict[str, tuple[tqdm, int]] = {}  # name -> (bar, its line)
        self._free = list(range(1, self.slots + 1))

    def expect(self, n: int) -> None:
        """``n`` more recordings are in the batch (or fewer, when negative)."""
        self.overall.total += n
        self.overall.refresh()

    def submitted(self, name: str, steps: int) -> None:
        """A recording's tasks were submitted; ``steps`` of them."""
        self._steps[name] = [0, steps]
        self._show()

    def step(self, name: str) -> None:
        """One task of ``name`` finished."""
        if name in self._steps:
            self._steps[name][0] += 1
            if name in self._bars:
                self._bars[name][0].update(1)

    def finished(self, name: str, line: str) -> None:
        """``name`` is done (computed, skipped or failed); ``line`` says how."""
        self._steps.pop(name, None)
        shown = self._bars.pop(name, None)
        if shown is not None:
            shown[0].close()
            self._free.append(shown[1])
        self.overall.update(1)
        if self.enabled:
            tqdm.write(line, file=self.stream)
        self._show()

    def _show(self) -> None:
        for name, (done, total) in self._steps.items():
            if not self._free:
                return
            if name not in self._bars:
                position = self._free.pop(0)
                bar = tqdm(total=total, initial=done, desc=f"  {name[:28]}", unit="task", position=position,
                           leave=False, file=self.stream, disable=not self.enabled, dynamic_ncols=True)
                self._bars[name] = (bar, position)

    def close(self) -> None:
        for bar, _ in self._bars.values():
            bar.close()
        self._bars.clear()
        self.overall.close()
