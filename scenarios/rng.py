"""Platform-stable random draws for scenario generation.

Scenario masks must be byte-identical on every machine and numpy release. numpy guarantees the raw
output stream of a bit generator (``PCG64``) but *not* the algorithms of ``Generator`` methods
(NEP 19), so everything here is built from ``bit_generator.random_raw`` only:

* uniform floats: the top 53 bits of a raw 64-bit word times 2**-53 (exact in IEEE double);
* bounded integers: rejection sampling ``r < high * floor((2**64 - 1) / high)``, then ``r % high``
  (exactly uniform, the order of accepted draws is fixed, so results are deterministic);
* distinct samples: the first ``k`` distinct values of an i.i.d. uniform sequence, which is a uniformly
  random ``k``-subset by exchangeability.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from modalbench.errors import ModalbenchError

_U64_MAX = np.uint64(np.iinfo(np.uint64).max)


def make_rng(seed: int, *keys: int) -> np.random.Generator:
    """``Generator(PCG64(seed))``, or ``Generator(PCG64([seed, *keys]))`` for an independent sub-stream."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ModalbenchError(f"scenario seed must be a non-negative integer, got {seed!r}")
    entropy: int | list[int] = int(seed) if not keys else [int(seed), *(int(k) for k in keys)]
    return np.random.Generator(np.random.PCG64(entropy))


def raw_u64(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` raw 64-bit words of the generator's bit stream (stable across numpy versions)."""
    return np.asarray(rng.bit_generator.random_raw(int(n)), dtype=np.uint64).reshape(int(n))


def uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` floats uniform on [0, 1) with 53-bit resolution."""
    return (raw_u64(rng, n) >> np.uint64(11)).astype(np.float64) * (2.0**-53)


def integers(rng: np.random.Generator, n: int, high: int | Sequence[int] | np.ndarray) -> np.ndarray:
    """``n`` int64 values, element ``i`` uniform on ``[0, high[i])`` (``high`` scalar or length ``n``, >= 1)."""
    n = int(n)
    hi = np.broadcast_to(np.asarray(high, dtype=np.int64), (n,))
    if n and int(hi.min()) < 1:
        raise ValueError("integers(): every upper bound must be >= 1")
    hi_u = hi.astype(np.uint64)
    limit = (_U64_MAX // hi_u) * hi_u  # accept r < limit: limit is a multiple of high
    out = np.empty(n, dtype=np.uint64)
    todo = np.arange(n)
    while todo.size:
        r = raw_u64(rng, todo.size)
        ok = r < limit[todo]
        out[todo[ok]] = r[ok] % hi_u[todo[ok]]
        todo = todo[~ok]
    return out.astype(np.int64)


def sample_distinct(rng: np.random.Generator, population: int, k: int) -> np.ndarray:
    """A uniformly random ``k``-subset of ``range(population)``, returned sorted ascending (int64).

    When ``k >= population`` the whole range is returned without consuming randomness.
    """
    population, k = int(population), int(k)
    if k >= population:
        return np.arange(population, dtype=np.int64)
    draws = np.empty(0, dtype=np.int64)
    while True:
        n_distinct = np.unique(draws).size
        need = k - n_distinct
        draws = np.concatenate([draws, integers(rng, max(2 * need, 64), population)])
        values, first = np.unique(draws, return_index=True)
        if values.size >= k:
            keep = np.argsort(first, kind="stable")[:k]  # the first k distinct values in draw order
            return np.sort(values[keep])
