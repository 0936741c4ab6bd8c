"""Progress for a person: a bar on a terminal, plain lines in a file or a CI log.

A redrawn bar written to a file repeats itself line after line; so off a terminal only the lines
(one per finished job, written with :meth:`ProgressBar.write`) appear, and the bar stays silent.
"""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressBar:
    def __init__(self, total: float, description: str, unit: str, *, initial: float = 0, enabled: bool = True,
                 stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.bar = None
        if enabled and self.stream.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=description, unit=unit, dynamic_ncols=True,
                            file=self.stream)

    def update_to(self, done: float) -> None:
        if self.bar is not None:
            self.bar.n = round(done, 2)
            self.bar.refresh()

    def write(self, line: str) -> None:
        """A line of its own (above the bar on a terminal); printed to stdout."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
