"""R's ``set.seed(seed); sample(n, size)`` (Mersenne-Twister, rejection sampling).

mgcv subsamples the knots of ``bs='tp'`` (and ``'gp'``) smooths with R's random number
generator when there are more unique covariate rows than ``max.knots``; reproducing its
knots, and so its basis and coefficients, needs the same draws. Written from R's
documentation (``?RNGkind``, ``?set.seed``, ``?sample``) and the published algorithms:

* ``set.seed(s)``: the integer seed is scrambled by 50 steps of the linear congruential
  map ``s <- 69069 s + 1 (mod 2^32)``; the next 625 values of the same map fill the
  generator's state vector (the first one is the position, reset to 624, so the 624
  Mersenne-Twister words are values 2..625);
* ``unif_rand()``: a 32-bit Mersenne-Twister word times ``2^-32`` (Matsumoto & Nishimura
  1998, the generator numpy's :class:`numpy.random.MT19937` implements);
* ``R_unif_index(n)`` (``sample.kind = "Rejection"``, R >= 3.6): draw ``bits =
  ceil(log2 n)`` random bits, 16 at a time from ``floor(65536 u)``, until the value is
  below n;
* ``sample(n, size)`` without replacement: a partial Fisher-Yates shuffle, taking
  ``x[j]`` for a uniform index j and moving the last remaining element into its place.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["r_sample"]

_MASK32 = 0xFFFFFFFF


def _r_mersenne_twister(seed: int) -> np.random.MT19937:
    s = int(seed) & _MASK32
    for _ in range(50):
        s = (69069 * s + 1) & _MASK32
    key = np.empty(625, dtype=np.uint32)
    for j in range(625):
        s = (69069 * s + 1) & _MASK32
        key[j] = s
    bitgen = np.random.MT19937()
    bitgen.state = {"bit_generator": "MT19937", "state": {"key": key[1:], "pos": 624}}
    return bitgen


def r_sample(n: int, size: int, seed: int) -> np.ndarray:
    """0-based indices of R's ``set.seed(seed); sample(n, size)`` (without replacement).

    Parameters
    ----------
    n : int
        Population size (R samples ``1:n``).
    size : int
        Number of draws, at most ``n``.
    seed : int
        The seed given to ``set.seed``.

    Returns
    -------
    ndarray of int
        ``sample(n, size) - 1``, in R's draw order.

    Examples
    --------
    >>> r_sample(10, 3, seed=1).tolist()   # R: set.seed(1); sample(10, 3) gives 9 4 7
    [8, 3, 6]
    """
    n, size = int(n), int(size)
    if not 0 <= size <= n:
        raise ValueError(f"size={size} must lie between 0 and n={n}")
    if n > 10**7:
        raise NotImplementedError("R samples populations above 1e7 by hashing; not implemented")
    bitgen = _r_mersenne_twister(seed)
    # R's unif_rand() is word * 2^-32; floor(65536 u) is the word's top 16 bits
    raw = bitgen.random_raw

    def unif_index(m: int) -> int:
        if m <= 1:
            return 0
        bits = math.ceil(math.log2(m))
        while True:
            v = 0
            for _ in range(0, bits + 1, 16):
                v = 65536 * v + (int(raw()) >> 16)
            v &= (1 << bits) - 1
            if v < m:
                return v

    x = np.arange(n)
    out = np.empty(size, dtype=np.int64)
    remaining = n
    for i in range(size):
        j = unif_index(remaining)
        out[i] = x[j]
        remaining -= 1
        x[j] = x[remaining]
    return out


def r_double_string(v: float) -> str:
    """``as.character(v)`` for a double as R 4.2 writes it (15 significant digits).

    The fewest significant digits (at most 15) that give the value to 15 digits, in fixed
    notation unless scientific notation is narrower (R's ``scipen = 0`` rule).

    Examples
    --------
    >>> [r_double_string(v) for v in (0.5, 1e-4, -4.72789851868781e-05, 123456.0)]
    ['0.5', '1e-04', '-4.72789851868781e-05', '123456']
    """
    v = float(v)
    if v == 0.0:
        return "0"
    if not np.isfinite(v):
        return "NaN" if np.isnan(v) else ("Inf" if v > 0 else "-Inf")
    # the 15-digit value needs as many digits as its mantissa has without trailing zeros
    # (a shorter decimal would be a different 15-digit number)
    digits = f"{v:.14e}".split("e")[0].lstrip("-").replace(".", "").rstrip("0")
    sig = max(1, len(digits))
    mant, exp = f"{v:.{sig - 1}e}".split("e")
    e10 = int(exp)
    neg = 1 if v < 0 else 0
    rgt = max(0, sig - 1 - e10)
    fixed_width = neg + (e10 + 1 if e10 >= 0 else 1) + (rgt + 1 if rgt > 0 else 0)
    sci_width = neg + (sig + 1 if sig > 1 else 1) + (4 if abs(e10) < 100 else 5)
    if fixed_width <= sci_width:
        return f"{v:.{rgt}f}"
    return f"{mant}e{'-' if e10 < 0 else '+'}{abs(e10):02d}"


def r_uniquecombs_ordered(x: np.ndarray) -> np.ndarray:
    """mgcv's ``uniquecombs(x, ordered = TRUE)`` for a numeric matrix: its unique rows in
    its order.

    One column: the sorted unique values. Several: rows are keyed by R's text
    ``paste0(x1, "*", x2, ...)`` (15 significant digits), duplicates of a key dropped and
    the keys sorted bytewise (the C locale), which is not a numeric order.

    Examples
    --------
    >>> r_uniquecombs_ordered(np.array([[1.0, 2.0], [-0.5, 1.0], [1.0, 2.0]])).tolist()
    [[-0.5, 1.0], [1.0, 2.0]]
    """
    x = np.asarray(x, dtype=float)
    if x.shape[1] == 1:
        return np.unique(x[:, 0])[:, None]
    keys = ["*".join(r_double_string(v) for v in row) for row in x]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    order = sorted(first)  # Python compares ASCII strings bytewise, as R's C collation
    return x[[first[key] for key in order]]
