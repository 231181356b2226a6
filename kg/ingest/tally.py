"""The running totals of an execution's summaries, section by section (:class:`Tally`), so that a
batch recomputes the summaries of a long run's stage from the sections it changed, not from all
of them.

A stage's summary of a measure is computed from every one of its sections (its epochs' values
and their summaries: :meth:`provml.ingest.summaries.Summary.of`). Recomputed whole for each
batch, that costs a bag late in a run of 400 epochs ≈ 0.3 ms an event, and grows with the run.
A :class:`Tally` keeps, per section, what it adds to each measure, and per measure the count, the
minimum, the maximum and the **exact** sum of the terms of the mean (Shewchuk's non-overlapping
partials, as :func:`math.fsum` builds them): a section that changes takes its old terms out and
puts its new ones in, exactly, so the mean — ``math.fsum`` of the partials, which is correctly
rounded — is the same float as ``Summary.of`` over every section, whatever order the sections
and the bags came in. A minimum or maximum a section takes back is found again among all the
sections (rare: an epoch's minimum only falls as its batches arrive).

An infinite value (a diverged loss) or a part's infinite mean is counted by its sign, a part's
NaN mean (of both infinities) counted too: the mean is then that infinity, or NaN with both or
with a NaN, as ``Summary.of`` has it. (They were declined, and a long stage with one diverged
value was recomputed from all its sections for every batch after it: a run of 2,100 epochs in
bags of 50 took 41 s instead of 4; an audit, thirty-first session.) What it cannot do exactly it
declines (:meth:`Tally.summaries` returns ``None``): a NaN minimum or maximum (a NaN value is in
no summary: only a stored part of another version could hold one), a part's product
``mean × count`` past the largest double, a sum past it. The caller then recomputes the
execution from all its sections, as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from provml.ingest.summaries import Summary, highest, lowest, rounded, signed

__all__ = ["Contribution", "Tally"]

#: what one section adds to its execution's summaries: per measure, its own values and its
#: summary (None: none), and how many times SPARQL's join counts the section (the rows of
#: ``?c prov:wasInformedBy ?x ; provml:iteration ?i``: its values count that many times)
Contribution = tuple[int, Mapping[str, tuple[tuple[float, ...], Summary | None]]]


def _add(partials: list[float], x: float) -> None:
    """Add ``x`` to the exact sum that ``partials`` (non-overlapping, by increasing magnitude)
    stand for (Shewchuk's algorithm, as in :func:`math.fsum`)."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


class _Measure:
    """One measure's totals over the sections of one execution."""

    __slots__ = ("count", "partials", "low", "high", "stale", "unsure", "above", "below", "nan")

    def __init__(self) -> None:
        self.count = 0
        self.partials: list[float] = []
        self.low: float | None = None
        self.high: float | None = None
        self.stale = False  # a section took back the minimum or the maximum
        self.unsure = 0  # minima or maxima that are NaN, part products past the largest double
        self.above = 0  # terms that are INF (a value, or a part's mean)
        self.below = 0  # terms that are -INF
        self.nan = 0  # terms that are NaN (a part's mean of INF and -INF; a NaN value is unsure)

    def change(self, sign: int, values: tuple[float, ...], part: Summary | None, times: int, *,
               within: tuple[float, float] | None = None) -> None:
        """Count a section's part in (``sign`` 1) or out (-1); ``within``: the lowest and highest
        of what the same section puts in instead (a part taken out whose minimum and maximum
        these reach leaves the measure's own as they are)."""
        terms = [*values] * times
        lows, highs = _ends(values, part)
        count = len(values) * times
        if part is not None:
            product = part.mean * part.count
            overflows = math.isinf(product) and math.isfinite(part.mean)  # (not an infinity)
            empty = not part.count and not math.isfinite(part.mean)  # (Summary.of averages the means)
            if overflows or empty:  # (a part of no values: only another version's store holds one)
                self.unsure += sign
            else:
                terms.append(product)
            count += part.count
        self.count += sign * count
        for t in terms:
            if math.isfinite(t):
                _add(self.partials, sign * t)
            elif t == math.inf:
                self.above += sign
            elif t == -math.inf:
                self.below += sign
            else:
                self.nan += sign
        if any(math.isnan(v) for v in (*lows, *highs)):
            self.unsure += sign
            return
        if not lows:
            return
        low, high = lowest(lows), highest(highs)
        if sign > 0:
            if self.low is not None and signed(low) < signed(self.low):
                self.low = low
            if self.high is not None and signed(high) > signed(self.high):
                self.high = high
        elif within is not None and signed(within[0]) <= signed(low) and signed(within[1]) >= signed(high):
            return  # (an epoch whose batches arrive: its minimum falls, its maximum rises)
        elif (self.low is None or self.high is None or signed(low) == signed(self.low)
              or signed(high) == signed(self.high)):
            self.stale = True


def _ends(values: tuple[float, ...], part: Summary | None) -> tuple[list[float], list[float]]:
    """The candidates for the minimum and for the maximum that a section's part brings."""
    lows, highs = [*values], [*values]
    if part is not None:
        lows.append(part.minimum)
        highs.append(part.maximum)
    return lows, highs


def _extremes(values: tuple[float, ...], part: Summary | None) -> tuple[float, float] | None:
    lows, highs = _ends(values, part)
    return (lowest(lows), highest(highs)) if lows else None


class Tally:
    """What each section of one execution adds to its summaries, and their totals per measure
    (see the module's text). Built from every section (:meth:`of`), then changed section by
    section (:meth:`swap`)."""

    __slots__ = ("sections", "measures")

    def __init__(self) -> None:
        self.sections: dict[Any, Contribution] = {}
        self.measures: dict[str, _Measure] = {}

    @classmethod
    def of(cls, sections: Iterable[tuple[Any, Contribution]]) -> Tally:
        tally = cls()
        for c, contribution in sections:
            tally.swap(c, contribution)
        return tally

    def swap(self, section: Any, new: Contribution | None) -> None:
        """``section`` now adds ``new`` (None: nothing, it is no section of the execution)."""
        old = self.sections.pop(section, None)
        if new is not None and not new[0]:
            new = None
        if old is not None:
            times, measures = old
            for name, (values, part) in measures.items():
                instead = new[1].get(name) if new is not None else None
                self.measures[name].change(-1, values, part, times,
                                           within=_extremes(*instead) if instead is not None else None)
        if new is None:
            return
        self.sections[section] = new
        times, measures = new
        for name, (values, part) in measures.items():
            measure = self.measures.get(name)
            if measure is None:
                measure = self.measures[name] = _Measure()
                measure.stale = True  # its minimum and maximum: from this first section
            measure.change(1, values, part, times)

    def summaries(self) -> dict[str, Summary] | None:
        """The summary of each measure (by name), the same as :meth:`Summary.of` over every
        section; None where that cannot be had exactly from the totals."""
        out: dict[str, Summary] = {}
        for name, measure in self.measures.items():
            if measure.unsure:
                return None
            if not measure.count:
                continue
            if measure.stale:
                self._again(name, measure)
            if measure.low is None or measure.high is None:
                continue
            if measure.above or measure.below or measure.nan:  # the mean Summary.of gives
                mean = math.nan if measure.nan or (measure.above and measure.below) else \
                    math.inf if measure.above else -math.inf
                out[name] = Summary(measure.low, measure.high, mean, measure.count)
                continue
            if not all(math.isfinite(p) for p in measure.partials):
                return None  # a sum past the largest double
            try:
                mean = math.fsum(measure.partials) / measure.count
            except OverflowError:  # rounded past the largest double
                return None
            if not math.isfinite(mean):
                return None
            out[name] = Summary(measure.low, measure.high, rounded(mean), measure.count)
        return out

    def _again(self, name: str, measure: _Measure) -> None:
        """The minimum and maximum of ``name`` found again among every section."""
        lows: list[float] = []
        highs: list[float] = []
        for _times, measures in self.sections.values():
            found = measures.get(name)
            if found is not None:
                ends = _ends(*found)
                lows.extend(ends[0])
                highs.extend(ends[1])
        measure.low = lowest(lows) if lows else None
        measure.high = highest(highs) if highs else None
        measure.stale = False
