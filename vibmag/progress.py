"""Progress reports and cancellation: the one convention of every long vibmag function.

A long function takes ``progress``, a callable ``progress(done, total)``
called as work advances (``done`` and ``total`` in the function's own units,
usually frames), and ``cancel``, a :class:`threading.Event` that another
thread sets to stop it with :class:`vibmag.errors.CancelledError`.
Front ends turn these into bars (:func:`progress_bar`); the library itself
never prints.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator

from tqdm import tqdm  # the terminal bar: tqdm.auto wants ipywidgets in notebooks

from .errors import CancelledError

__all__ = ["Progress", "progress_bar", "as_progress", "check_cancel", "Ticker"]

#: ``progress(done, total)``.
Progress = Callable[[int, int], None]

#: Runs shorter than this many seconds never show a bar.
BAR_DELAY_S = 2.0


@contextlib.contextmanager
def progress_bar(description: str, *, unit: str = "frame", enabled: bool | None = None) -> Iterator[Progress]:
    """A tqdm bar on stderr as a ``progress(done, total)`` callable.

    Parameters
    ----------
    description : str
        The bar's label.
    unit : str
        What ``done`` counts.
    enabled : bool or None
        None shows the bar only on a terminal and only once the work has taken
        :data:`BAR_DELAY_S`; True always; False never.
    """
    disable = (not sys.stderr.isatty()) if enabled is None else not enabled
    with tqdm(desc=description, unit=unit, disable=disable, delay=BAR_DELAY_S if enabled is None else 0) as bar:

        def update(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        yield update


@contextlib.contextmanager
def as_progress(progress, description: str, *, unit: str = "frame") -> Iterator[Progress | None]:
    """Any accepted ``progress`` argument as a callable (or None): a callable itself, or True/None/False for a bar.

    ``True`` always shows a bar, ``None`` only on a terminal, ``False`` none.
    """
    if callable(progress):
        yield progress
    elif progress is False:
        yield None
    elif progress is None or progress is True:
        with progress_bar(description, unit=unit, enabled=progress) as update:
            yield update
    else:
        raise TypeError(f"progress must be a callable(done, total), True, False or None, got {progress!r}")


def check_cancel(cancel: threading.Event | None, what: str = "work") -> None:
    """Raise :class:`~vibmag.errors.CancelledError` if ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise CancelledError(f"{what} cancelled")


class Ticker:
    """Progress over several passes of one job, with cancellation checked at each step.

    Parameters
    ----------
    progress : callable or None
        ``progress(done, total)``.
    cancel : threading.Event or None
        Checked at every :meth:`advance` and :meth:`check`.
    total : int
        Units of work of the whole job.
    what : str
        Named in the cancellation message.
    """

    def __init__(self, progress: Progress | None, cancel: threading.Event | None, total: int, what: str = "work"):
        self.progress, self.cancel, self.total, self.done, self.what = progress, cancel, total, 0, what

    def check(self) -> None:
        """Raise CancelledError if cancelled."""
        check_cancel(self.cancel, self.what)

    def advance(self, amount: float) -> None:
        """Count ``amount`` units done, report, and check for cancellation."""
        self.done += amount
        if self.progress is not None:
            self.progress(round(self.done), self.total)
        self.check()
