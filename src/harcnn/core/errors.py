"""The one exception type users see: a clear message naming the problem."""


class HarcnnError(Exception):
    """Raised for bad input (missing or corrupt files, wrong shapes, bad options).

    The CLI prints ``str(error)`` on one line and exits with status 2; no traceback.
    """


class DataError(HarcnnError, ValueError):
    """A data file or array is missing, corrupt or inconsistent (a ``ValueError`` too, as scikit-learn and
    Python expect of bad input)."""
