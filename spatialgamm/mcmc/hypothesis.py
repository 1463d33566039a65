"""brms's ``hypothesis()``: a linear (or any arithmetic) statement about population-level
effects, its posterior summary, posterior probability and evidence ratio.

``"Days > 10"`` becomes the draws of ``(Days) - (10)``; for a one-sided hypothesis the
posterior probability is the share of draws on its side, the evidence ratio
``p / (1 - p)``, and the interval is the one-sided 95% one (quantiles 5% and 95%, as brms
with ``alpha = 0.05``). Point hypotheses (``=``) get the two-sided 95% interval; their
evidence ratio needs prior draws (Savage-Dickey) and is reported as NaN.
"""

from __future__ import annotations

import ast
import re

import numpy as np
import pandas as pd

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


def hypothesis(draws: dict[str, np.ndarray], text: str | list[str],
               alpha: float = 0.05) -> pd.DataFrame:
    """Evaluate hypotheses on population-level draws (``draws``: name -> (S,) array).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> h = hypothesis({"Days": rng.normal(11, 1, 4000)}, "Days > 10")
    >>> h["Hypothesis"].iloc[0], bool(0.8 < h["Post.Prob"].iloc[0] < 0.9)
    ('(Days)-(10) > 0', True)
    """
    texts = [text] if isinstance(text, str) else list(text)
    safe = {nm: f"v{k}" for k, nm in enumerate(draws)}
    env = {safe[nm]: np.asarray(v, dtype=float) for nm, v in draws.items()}
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
        label = f"({lhs})-({rhs}) {op} 0" if rhs != "0" else f"({lhs}) {op} 0"
        if op == "=":
            lo, hi = np.quantile(v, [alpha / 2, 1 - alpha / 2])
            pp, er = np.nan, np.nan
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
    return pd.DataFrame(rows)
