"""brms's ``hypothesis()``: a linear (or any arithmetic) statement about population-level
effects, its posterior summary, posterior probability and evidence ratio.

``"Days > 10"`` becomes the draws of ``(Days) - (10)``; for a one-sided hypothesis the
posterior probability is the share of draws on its side, the evidence ratio
``p / (1 - p)``, and the interval is the one-sided 95% one (quantiles 5% and 95%, as brms
with ``alpha = 0.05``). Point hypotheses (``=``) get the two-sided 95% interval and the
Savage-Dickey density ratio as evidence ratio, as brms: the density of the hypothesis'
posterior draws at 0 over that of its prior draws, both by a Gaussian kernel density estimate
with R's default bandwidth (``bw.nrd0``); ``Post.Prob`` is then ``ER / (1 + ER)``. The prior
draws come from the parameters' priors (:func:`prior_draws`); a parameter without a proper
prior (brms's default flat prior on ``b``, or the intercept, whose prior is on the centred
one) has none, and the evidence ratio is NaN with a note, as brms's NA.
"""

from __future__ import annotations

import ast
import re
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .priors import Prior

_OPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide,
        ast.Pow: np.power}


def _eval(node: ast.AST, env: dict[str, np.ndarray], text: str) -> np.ndarray | float:
    if isinstance(node, ast.Expression):
        return _eval(node.body, env, text)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise ValueError(f"hypothesis {text!r}: {node.id!r} is not a population-level "
                             f"effect (known: {sorted(env)})")
        return env[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left, env, text), _eval(node.right, env, text))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand, env, text)
        return -v if isinstance(node.op, ast.USub) else v
    raise ValueError(f"hypothesis {text!r}: only numbers, effect names and + - * / ^ are "
                     "allowed")


def _parse_side(side: str, names: dict[str, str], text: str) -> ast.AST:
    s = side.strip().replace("^", "**")
    for orig, safe in sorted(names.items(), key=lambda kv: -len(kv[0])):
        s = re.sub(rf"(?<![A-Za-z0-9_.]){re.escape(orig)}(?![A-Za-z0-9_.])", safe, s)
    try:
        return ast.parse(s, mode="eval")
    except SyntaxError:
        raise ValueError(f"hypothesis {text!r} is not an arithmetic statement") from None


def bw_nrd0(x: np.ndarray) -> float:
    """R's default bandwidth (Silverman's rule of thumb): ``0.9 min(sd, IQR / 1.34) n^-1/5``.

    Examples
    --------
    >>> round(bw_nrd0(np.arange(10.0)), 6)   # R: bw.nrd0(0:9) = 1.719286
    1.719286
    """
    x = np.asarray(x, dtype=float)
    sd = float(np.std(x, ddof=1))
    q75, q25 = np.quantile(x, [0.75, 0.25])
    lo = min(sd, (q75 - q25) / 1.34)
    if not lo > 0:  # R's fallbacks for a zero spread
        lo = sd or abs(float(x[0])) or 1.0
    return 0.9 * lo * len(x) ** -0.2


def kde_at(x: np.ndarray, point: float = 0.0) -> float:
    """Gaussian kernel density estimate of the draws ``x`` at ``point`` (bandwidth
    :func:`bw_nrd0`; evaluated exactly, where R's ``density()`` bins onto a grid).

    Examples
    --------
    >>> x = np.random.default_rng(1).standard_normal(100_000)
    >>> bool(abs(kde_at(x, 0.0) - 1 / np.sqrt(2 * np.pi)) < 0.005)
    True
    """
    x = np.asarray(x, dtype=float)
    h = bw_nrd0(x)
    return float(np.mean(stats.norm.pdf((point - x) / h)) / h)


def prior_draws(prior: Prior, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """``n`` draws from a population-level effect's prior, None when it is improper (flat).

    Examples
    --------
    >>> d = prior_draws(Prior("normal(0, 10)", "b"), 20_000, np.random.default_rng(0))
    >>> bool(abs(d.std() - 10) < 0.2)
    True
    """
    name, a = prior.name, prior.args
    if name == "normal":
        return rng.normal(a[0], a[1], n)
    if name in ("student_t", "cauchy"):
        nu, mu, s = a if name == "student_t" else (1.0, *a)
        return mu + s * rng.standard_t(nu, n)
    if name == "exponential":
        return rng.exponential(1 / a[0], n)
    if name == "gamma":
        return rng.gamma(a[0], 1 / a[1], n)
    return None


def fixed_prior_draws(priors: list[Prior], names: list[str], n: int,
                      seed: int = 0) -> dict[str, np.ndarray | None]:
    """Draws from the prior of each population-level effect (brms's ``sample_prior = "yes"``),
    None for the intercept (its prior is on the centred intercept) and for flat priors.

    Examples
    --------
    >>> from spatialgamm.mcmc.priors import prior
    >>> d = fixed_prior_draws([prior("normal(0, 10)", "b")], ["Intercept", "Days"], 100)
    >>> d["Intercept"] is None, d["Days"].shape
    (True, (100,))
    """
    from .priors import resolve

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 30_000]))
    return {nm: None if nm == "Intercept" else prior_draws(resolve(priors, "b", nm), n, rng)
            for nm in names}


def hypothesis(draws: dict[str, np.ndarray], text: str | list[str],
               alpha: float = 0.05,
               priors: dict[str, np.ndarray | None] | None = None) -> pd.DataFrame:
    """Evaluate hypotheses on population-level draws (``draws``: name -> (S,) array).

    ``priors`` maps each name to draws from its prior (None: no proper prior), for the
    evidence ratios of point hypotheses; without them those are NaN.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> h = hypothesis({"Days": rng.normal(11, 1, 4000)}, "Days > 10")
    >>> h["Hypothesis"].iloc[0], bool(0.8 < h["Post.Prob"].iloc[0] < 0.9)
    ('(Days)-(10) > 0', True)
    >>> pri = {"Days": rng.normal(0, 10, 20000)}
    >>> h = hypothesis({"Days": rng.normal(11, 1, 4000)}, "Days = 10", priors=pri)
    >>> bool(5 < h["Evid.Ratio"].iloc[0] < 20)   # about N(10 | 11, 1) / N(10 | 0, 10)
    True
    """
    texts = [text] if isinstance(text, str) else list(text)
    safe = {nm: f"v{k}" for k, nm in enumerate(draws)}
    env = {safe[nm]: np.asarray(v, dtype=float) for nm, v in draws.items()}
    priors = priors or {}
    penv = {safe[nm]: np.asarray(v, dtype=float) for nm, v in priors.items()
            if nm in safe and v is not None}
    notes = []
    rows = []
    for t in texts:
        m = re.match(r"^(.*?)(<=|>=|<|>|=)(.*)$", t)
        if not m or not m.group(1).strip() or not m.group(3).strip():
            raise ValueError(f"hypothesis {t!r}: write 'lhs > rhs', 'lhs < rhs' or "
                             "'lhs = rhs'")
        lhs, op, rhs = m.group(1).strip(), m.group(2), m.group(3).strip()
        op = {"<=": "<", ">=": ">"}.get(op, op)
        env_named = {**env}
        vl = _eval(_parse_side(lhs, safe, t), env_named, t)
        vr = _eval(_parse_side(rhs, safe, t), env_named, t)
        v = np.broadcast_to(np.asarray(vl - vr, dtype=float), (len(next(iter(env.values()))),))
        # brms's label: the hypothesis moved to the left-hand side, spaces removed
        lhs_l, rhs_l = lhs.replace(" ", ""), rhs.replace(" ", "")
        label = f"({lhs_l})-({rhs_l}) {op} 0" if rhs_l != "0" else f"({lhs_l}) {op} 0"
        if op == "=":
            lo, hi = np.quantile(v, [alpha / 2, 1 - alpha / 2])
            names_used = {n.id for side in (lhs, rhs)
                          for n in ast.walk(_parse_side(side, safe, t))
                          if isinstance(n, ast.Name)}
            used = [nm for nm, sf in safe.items() if sf in names_used]
            missing = [nm for nm in used if safe[nm] not in penv]
            if missing:
                pp, er = np.nan, np.nan
                notes.append(f"{t!r}: no prior draws of {missing} (flat or no prior): the "
                             "evidence ratio of a point hypothesis needs a proper prior")
            else:
                vp = np.asarray(_eval(_parse_side(lhs, safe, t), penv, t)
                                - _eval(_parse_side(rhs, safe, t), penv, t), dtype=float)
                er = kde_at(v, 0.0) / kde_at(np.broadcast_to(vp, (len(vp),)), 0.0)
                pp = er / (1 + er)
        else:
            lo, hi = np.quantile(v, [alpha, 1 - alpha])
            pp = float(np.mean(v > 0) if op == ">" else np.mean(v < 0))
            er = pp / (1 - pp) if pp < 1 else np.inf
        # brms: a point hypothesis is starred when its interval excludes 0, a one-sided one
        # when its posterior probability exceeds 1 - alpha
        star = "*" if ((lo > 0 or hi < 0) if op == "=" else pp > 1 - alpha) else ""
        rows.append(dict(Hypothesis=label, Estimate=float(v.mean()),
                         **{"Est.Error": float(v.std(ddof=1)), "CI.Lower": float(lo),
                            "CI.Upper": float(hi), "Evid.Ratio": er, "Post.Prob": pp,
                            "Star": star}))
    out = pd.DataFrame(rows)
    if notes:
        out.attrs["notes"] = notes
        warnings.warn("hypothesis(): " + "; ".join(notes), stacklevel=2)
    return out
