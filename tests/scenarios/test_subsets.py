"""missing-modalities@v1 condition tables and the platform-stable random draws behind them."""

from __future__ import annotations

import hashlib
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modalbench.errors import ModalbenchError
from modalbench.scenarios.rng import integers, make_rng, sample_distinct, uniform
from modalbench.scenarios.subsets import condition_count, subset_table, unrank_combinations


def expected_count(m: int, cap: int) -> int:
    return sum(min(cap, math.comb(m, k)) for k in range(1, m + 1))


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 20), cap=st.integers(1, 1000), seed=st.integers(0, 2**32))
def test_condition_table_properties(m: int, cap: int, seed: int) -> None:
    table = subset_table(m, cap, make_rng(seed))
    assert table.dtype == bool and table.shape == (expected_count(m, cap), m)
    assert condition_count(m, cap) == table.shape[0]
    assert table.any(axis=1).all(), "every condition keeps at least one modality"
    assert np.unique(table, axis=0).shape[0] == table.shape[0], "no duplicate subsets"
    sizes = table.sum(axis=1)
    assert np.all(np.diff(sizes) >= 0), "ordered by subset size"
    for k in range(1, m + 1):
        rows = table[sizes == k]
        assert len(rows) == min(cap, math.comb(m, k))
        tuples = [tuple(np.flatnonzero(r)) for r in rows]
        assert tuples == sorted(tuples), "lexicographic within a size"
        assert len(set(tuples)) == len(tuples)


@pytest.mark.parametrize("m", range(1, 21))
def test_default_cap_counts_for_every_m(m: int) -> None:
    assert subset_table(m, 1000, make_rng(3)).shape[0] == expected_count(m, 1000)


def test_embracenet_counts() -> None:
    assert subset_table(8, 1000, make_rng(0)).shape[0] == 255
    assert subset_table(19, 1000, make_rng(0)).shape[0] == 14_319


def test_published_v1_tables_never_change() -> None:
    """Golden checksums: a change here means a new scenario version, not an edit of v1."""
    golden = {
        8: "795cc527afd62d7ec438e1f7dc76f8b4ece18e76d8569551e8c19ad64006b2df",
        19: "daace64a76d9f86f6e55bfcc6d78931c884dcc11e2dc9ef973a5ad1d2dabfe52",
        20: "c8e12069820f49ed9dc8cd5a599469449a26c8ee9ec754686a819ac6f322543f",
    }
    for m, digest in golden.items():
        table = np.ascontiguousarray(subset_table(m, 1000, make_rng(0)))
        assert hashlib.sha256(table.tobytes()).hexdigest() == digest


def test_seed_changes_sampled_sizes_only() -> None:
    a, b = subset_table(19, 1000, make_rng(0)), subset_table(19, 1000, make_rng(1))
    sizes = a.sum(axis=1)
    assert np.array_equal(sizes, b.sum(axis=1))
    for k in (1, 2, 3, 16, 17, 18, 19):  # C(19, k) <= 1000: complete, seed-independent
        assert np.array_equal(a[sizes == k], b[sizes == k])
    assert not np.array_equal(a[sizes == 9], b[sizes == 9])


@pytest.mark.parametrize("n", range(1, 9))
def test_unrank_matches_itertools(n: int) -> None:
    for k in range(1, n + 1):
        got = unrank_combinations(np.arange(math.comb(n, k)), n, k)
        assert [tuple(r) for r in got] == list(itertools.combinations(range(n), k))


def test_unrank_last_rank_m20() -> None:
    got = unrank_combinations(np.array([0, math.comb(20, 10) - 1]), 20, 10)
    assert got[0].tolist() == list(range(10)) and got[1].tolist() == list(range(10, 20))
    with pytest.raises(ValueError):
        unrank_combinations(np.array([math.comb(20, 10)]), 20, 10)


def test_rng_golden_values() -> None:
    """The draws depend only on PCG64's raw stream, which numpy guarantees across versions and platforms."""
    assert integers(make_rng(0), 8, 10).tolist() == [1, 7, 4, 3, 1, 4, 7, 7]
    assert uniform(make_rng(1), 3).tolist() == [0.5118216247002567, 0.9504636963259353, 0.14415961271963373]


def test_bounded_integers_in_range_and_uniform() -> None:
    highs = np.array([1, 2, 3, 7, 1000, 2**40 + 5] * 2000)
    x = integers(make_rng(5), highs.size, highs)
    assert np.all((x >= 0) & (x < highs))
    assert np.all(x[highs == 1] == 0)
    sevens = x[highs == 7]
    counts = np.bincount(sevens, minlength=7)
    assert counts.min() > 2000 / 7 - 5 * np.sqrt(2000 / 7)


def test_sample_distinct_uniform_inclusion() -> None:
    """Every element of a population of 10 is chosen with probability k/n = 0.3."""
    hits = np.zeros(10)
    trials = 3000
    rng = make_rng(11)
    for _ in range(trials):
        s = sample_distinct(rng, 10, 3)
        assert len(np.unique(s)) == 3 and np.all(np.diff(s) > 0)
        hits[s] += 1
    sd = math.sqrt(trials * 0.3 * 0.7)
    assert np.all(np.abs(hits - trials * 0.3) < 5 * sd)


def test_sample_distinct_near_population() -> None:
    s = sample_distinct(make_rng(2), 1001, 1000)
    assert s.size == 1000 and np.unique(s).size == 1000 and s.max() <= 1000
    assert np.array_equal(sample_distinct(make_rng(2), 5, 9), np.arange(5))


def test_bad_seed() -> None:
    with pytest.raises(ModalbenchError, match="seed"):
        make_rng(-1)
