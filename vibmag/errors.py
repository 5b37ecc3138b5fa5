"""Exceptions raised by vibmag.

Every error vibmag raises on bad input derives from :class:`VibmagError`, so a
caller can catch vibmag's own complaints apart from programming errors. Each
also derives from the matching built-in (``ValueError``, ``FileNotFoundError``)
so generic handlers keep working.
"""


class VibmagError(Exception):
    """Base class of vibmag's own errors."""


class RecordingError(VibmagError, ValueError):
    """A recording is missing, truncated, corrupt or inconsistent."""


class RecordingNotFoundError(VibmagError, FileNotFoundError):
    """A file a recording needs does not exist."""


class UnitError(VibmagError, ValueError):
    """A quantity has the wrong physical dimension or cannot be parsed."""


class OverwriteError(VibmagError, FileExistsError):
    """Writing would overwrite a file the user made (or an input recording)."""


class CancelledError(VibmagError):
    """Long work was cancelled by the user (a cancel event was set)."""


class MagnifyError(VibmagError, ValueError):
    """Bad arguments to magnification (alpha, region, method, reference, output)."""


class OutputError(VibmagError, ValueError):
    """An output path vibmag cannot or must not write: unsupported suffix, missing or read-only
    folder, a folder where a file is needed (or the reverse), or a file of another kind."""


class OptionError(VibmagError, TypeError):
    """An unknown or misspelt keyword option (the message lists the valid ones)."""


class OptionValueError(OptionError, ValueError):
    """A known keyword option with a value it cannot take (wrong type, not finite, out of range)."""


class VibmagWarning(UserWarning):
    """Something vibmag will do but that is probably not what was meant (e.g. an alpha so large
    that the magnified motion exceeds a quarter of the frame)."""
