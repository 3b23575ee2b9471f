"""A line per finished step of a long evaluation phase, with the time spent and the time left.

The linear probe's weight-decay search and final fit, and the crop-and-flip probe's epochs, run
for minutes on a large split. Each finished step prints what it did, then ``[i/n, m:ss; about
m:ss left]``, the time left extrapolated from the work done so far (each step weighs its share,
e.g. its training rows). Lines go to stderr, so the table on stdout stays clean; ``enabled=False``
(``features.progress_bar=false``) prints nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence


def duration(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on (as the training's epoch lines read)."""
    minutes, seconds = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Lines ``<label>: ...`` for the phases of one extractor's evaluation."""

    def __init__(
        self,
        label: str,
        enabled: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.label, self.enabled, self.clock = label, enabled, clock
        self.phase, self.weights, self.steps, self.start = "", [1.0], 0, 0.0

    def say(self, text: str) -> None:
        if self.enabled:
            print(f"{self.label}: {text}", file=sys.stderr, flush=True)

    def begin(self, phase: str, weights: Sequence[float], plan: str = "") -> None:
        """A phase of ``len(weights)`` steps starts; ``weights``: each step's share of the work."""
        self.phase, self.weights, self.steps = phase, list(weights), 0
        self.start = self.clock()
        self.say(f"{phase}: {plan}" if plan else phase)

    def step(self, text: str) -> None:
        """One step of the phase finished: what it did, the time so far and the time left."""
        self.steps += 1
        elapsed = self.clock() - self.start
        done, total = sum(self.weights[: self.steps]), len(self.weights)
        left = sum(self.weights[self.steps :])
        timing = f"{self.steps}/{total}, {duration(elapsed)}"
        if self.steps < total and done > 0:
            timing += f"; about {duration(elapsed * left / done)} left"
        self.say(f"{self.phase}: {text} [{timing}]")
