"""An execution's summaries kept as running totals (provml.ingest.tally.Tally) are those
``Summary.of`` computes from every section, float for float, however the sections change and in
whatever order; what the totals cannot give exactly they decline."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from provml.ingest.summaries import Summary
from provml.ingest.tally import Contribution, Tally


def _whole(sections: dict[Any, Contribution]) -> dict[str, Summary]:
    """What the full recomputation gives (summary_plan: every section's values, each summary)."""
    vals: dict[str, list[float]] = {}
    parts: dict[str, list[Summary]] = {}
    for c in sorted(sections):
        times, measures = sections[c]
        for name, (values, part) in measures.items():
            vals.setdefault(name, []).extend(values * times)
            if part is not None:
                parts.setdefault(name, []).append(part)
    out = {}
    for name in vals.keys() | parts.keys():
        s = Summary.of(vals.get(name, []), parts.get(name, []))
        if s is not None:
            out[name] = s
    return out


def _same(a: dict[str, Summary], b: dict[str, Summary]) -> bool:
    """Equal, ``-0.0`` told from ``0.0`` (the literal written differs)."""
    return a.keys() == b.keys() and all(
        repr((x.minimum, x.maximum, x.mean, x.count)) == repr((y.minimum, y.maximum, y.mean, y.count))
        for x, y in ((a[k], b[k]) for k in a))


def _contribution(rng: random.Random, pool: list[float]) -> Contribution:
    measures: dict[str, tuple[tuple[float, ...], Summary | None]] = {}
    for name in rng.sample(["loss", "accuracy", "lr"], rng.randint(1, 3)):
        values = tuple(rng.choice(pool) for _ in range(rng.randint(0, 3)))
        part = None
        if rng.random() < 0.6 or not values:
            xs = [rng.choice(pool) for _ in range(rng.randint(1, 4))]
            part = Summary.of(xs, [])
        measures[name] = (values, part)
    return rng.choice((1, 1, 1, 2)), measures


FINITE = [0.1, 0.2, 0.3, 1e-20, 1e20, -1e20, 3.0, -7.5, 0.0, -0.0, 1 / 3, 2.5e-7, 123456.789]
#: diverged values: counted by sign (they were declined, and a long stage with one was
#: recomputed from all its sections for every batch after it: a run of 2,100 epochs in bags of
#: 50 took 41 s instead of 4, an audit)
DIVERGED = [0.5, -2.0, 1e20, 0.0, -0.0, math.inf, -math.inf, 3.25]


@pytest.mark.parametrize(("seed", "pool"), [(11, FINITE), (31, DIVERGED)], ids=["finite", "diverged"])
def test_the_totals_are_the_summaries_of_every_section_however_they_change(seed: int, pool: list[float]) -> None:
    """Sections added, changed (their minimum falling and rising), taken out, in random order;
    values spanning 40 orders of magnitude (a plain running sum loses them), zeros of both
    signs; infinities of both signs (the mean that infinity, NaN with both, as ``Summary.of``
    gives it). Nothing is declined."""
    rng = random.Random(seed)
    for _trial in range(60):
        tally, sections = Tally(), {}
        for _step in range(40):
            c = rng.randrange(12)
            if rng.random() < 0.15:
                tally.swap(c, None)
                sections.pop(c, None)
            else:
                contribution = _contribution(rng, pool)
                tally.swap(c, contribution)
                sections[c] = contribution
            found = tally.summaries()
            assert found is not None
            assert _same(found, _whole(sections)), (found, _whole(sections))


def test_a_tally_built_at_once_is_the_same_as_one_built_section_by_section() -> None:
    rng = random.Random(5)
    pool = [0.5, 0.25, 1e16, 1.0, -3.0]
    sections = {c: _contribution(rng, pool) for c in range(50)}
    at_once = Tally.of(sections.items())
    one_by_one = Tally()
    for c in reversed(range(50)):
        one_by_one.swap(c, sections[c])
    assert _same(at_once.summaries() or {}, _whole(sections))
    assert _same(one_by_one.summaries() or {}, _whole(sections))


def test_an_epoch_whose_minimum_falls_is_followed_without_reading_every_section() -> None:
    """An epoch's batches arrive: its minimum falls, its maximum rises; the stage's extremes
    follow from it alone (none taken back: nothing to search again)."""
    sections: dict[Any, Contribution] = {c: (1, {"loss": ((), Summary.of([1.0 + c], []))}) for c in range(100)}
    tally = Tally.of(sections.items())
    assert tally.summaries() is not None
    for values in ([0.5, 100.0], [0.25, 100.0, 200.0], [0.125, 300.0]):
        sections[99] = (1, {"loss": ((), Summary.of(values, []))})
        tally.swap(99, sections[99])
        assert not tally.measures["loss"].stale
        assert _same(tally.summaries() or {}, _whole(sections))
    sections[99] = (1, {"loss": ((), Summary.of([50.0], []))})  # its extremes taken back: searched again
    tally.swap(99, sections[99])
    assert tally.measures["loss"].stale
    found = tally.summaries() or {}
    assert _same(found, _whole(sections)) and (found["loss"].minimum, found["loss"].maximum) == (1.0, 99.0)


def test_what_the_totals_cannot_give_exactly_they_decline() -> None:
    overflowing = Summary(1e308, 1e308, 1e308, 10)  # a finite mean whose mean × count overflows
    for values, part in (((1e308, 1e308), None), ((), overflowing), ((math.nan,), None)):
        tally = Tally.of([(0, (1, {"loss": (values, part)})), (1, (1, {"loss": ((2.0,), None)}))])
        assert tally.summaries() is None, values
    nan_part = Summary(math.nan, math.nan, math.nan, 1)
    assert Tally.of([(0, (1, {"loss": ((), nan_part)}))]).summaries() is None
    # a part of no values with an infinite mean (another version's store): Summary.of averages
    # the means (INF), the product would be NaN
    empty = Summary(-2.0, 3.0, math.inf, 0)
    assert Tally.of([(0, (1, {"loss": ((1.0,), None)})), (1, (1, {"loss": ((), empty)}))]).summaries() is None
    # taken out again: exact once more
    tally = Tally.of([(0, (1, {"loss": ((math.nan,), None)})), (1, (1, {"loss": ((2.0,), None)}))])
    tally.swap(0, None)
    assert tally.summaries() == {"loss": Summary(2.0, 2.0, 2.0, 1)}


def test_infinities_of_both_signs_make_the_mean_nan() -> None:
    both = Tally.of([(0, (1, {"loss": ((math.inf,), None)})), (1, (1, {"loss": ((), Summary.of([-math.inf], []))}))])
    assert repr(both.summaries()) == repr({"loss": Summary(-math.inf, math.inf, math.nan, 2)})


def test_a_minimum_of_zeros_of_both_signs_does_not_depend_on_their_order() -> None:
    """``min`` keeps the first of equal values: ``0.0`` and ``-0.0`` read in another order (bags
    in another order) wrote another literal. ``-0.0`` is the lower now, ``0.0`` the higher."""
    for values in ([0.0, -0.0, 1.0], [-0.0, 0.0, 1.0], [1.0, 0.0, -0.0]):
        s = Summary.of(values, [])
        assert repr(s.minimum) == "-0.0" and s.maximum == 1.0  # type: ignore[union-attr]
    for values in ([0.0, -0.0, -1.0], [-0.0, 0.0, -1.0]):
        assert repr(Summary.of(values, []).maximum) == "0.0"  # type: ignore[union-attr]
