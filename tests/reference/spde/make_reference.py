"""Reference numbers for the SPDE tests, from exact dense Gaussian-process computations.

Nothing here uses the SPDE code: the Matern covariance is evaluated in closed form
(``sigma^2 2^(1-nu) / Gamma(nu) (kappa d)^nu K_nu(kappa d)`` with INLA's
``kappa = sqrt(8 nu) / range``, scipy.special.kv) and every likelihood is a dense
Cholesky computation. Run from the repository root:

    python tests/reference/spde/make_reference.py

It writes (in this folder)

* ``matern_gaussian.csv`` - 2,000 Gaussian observations on [0, 10]^2 of ``3 + u(s) + e``,
  ``u`` an exact draw of a Matern nu = 1 field (range 2, sigma 1), ``e ~ N(0, 0.5^2)``;
* ``spde_reference.json`` - the truth of that simulation; the exact ML fit of the Matern
  GP (nu = 1, with nugget) on its first 400 rows; and the exact Laplace-approximate ML fit
  of a Poisson log-linear Matern (nu = 1) GP with offset log(time) to Rongelap.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.spatial.distance import cdist
from scipy.special import gamma, kv

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "spatialgamm" / "data"


def matern_correlation(d: np.ndarray, range_: float, nu: float = 1.0) -> np.ndarray:
    """Matern correlation with INLA's range (correlation about 0.14 at ``range_``)."""
    x = np.sqrt(8 * nu) / range_ * np.asarray(d, dtype=float)
    with np.errstate(invalid="ignore"):
        r = 2 ** (1 - nu) / gamma(nu) * x**nu * kv(nu, x)
    return np.where(x == 0, 1.0, r)


def simulate_gaussian(n: int = 2000, range_: float = 2.0, sigma: float = 1.0,
                      nugget: float = 0.5, intercept: float = 3.0, seed: int = 20240907):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 10, (n, 2))
    C = sigma**2 * matern_correlation(cdist(xy, xy), range_) + 1e-10 * np.eye(n)
    u = np.linalg.cholesky(C) @ rng.standard_normal(n)
    y = intercept + u + nugget * rng.standard_normal(n)
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "z": y})


def dense_gaussian_ml(xy: np.ndarray, y: np.ndarray, nu: float = 1.0) -> dict:
    """Exact ML of y = b0 + u + e, u Matern(range, sigma), e N(0, tau^2): sigma^2 profiled."""
    n = len(y)
    D = cdist(xy, xy)
    X = np.ones((n, 1))

    def m2ll(th: np.ndarray, full: bool = False):
        r, g = np.exp(th)  # range, tau^2 / sigma^2
        K = matern_correlation(D, r, nu) + g * np.eye(n)
        L = np.linalg.cholesky(K)
        Xi, yi = np.linalg.solve(L, X), np.linalg.solve(L, y)
        beta = np.linalg.lstsq(Xi, yi, rcond=None)[0]
        res = yi - Xi @ beta
        s2 = float(res @ res) / n
        val = 2 * np.sum(np.log(np.diag(L))) + n * np.log(s2) + n * (1 + np.log(2 * np.pi))
        return (val, s2, beta) if full else val

    best = None
    for start in ([np.log(1.0), np.log(0.3)], [np.log(3.0), np.log(0.1)],
                  [np.log(0.5), np.log(1.0)]):
        out = minimize(m2ll, start, method="L-BFGS-B", options={"ftol": 1e-14, "gtol": 1e-9})
        if best is None or out.fun < best.fun:
            best = out
    val, s2, beta = m2ll(best.x, full=True)
    r, g = np.exp(best.x)
    return {"range": float(r), "sigma": float(np.sqrt(s2)), "nugget": float(np.sqrt(g * s2)),
            "intercept": float(beta[0]), "loglik": float(-0.5 * val), "n": int(n)}


def dense_poisson_laplace(xy: np.ndarray, y: np.ndarray, offset: np.ndarray,
                          nu: float = 1.0) -> dict:
    """Laplace ML (glmer's nAGQ = 1: beta at the joint mode) of a Poisson Matern GP.

    b ~ N(0, sigma^2 R(range)) at the sites, b = L v with v ~ N(0, I):
    -2 log L ~= -2 log p(y | eta) + v'v + log|I + L'WL| at the joint mode of (beta, v).
    """
    n = len(y)
    D = cdist(xy, xy)
    lgy = np.sum([np.sum(np.log(np.arange(1, k + 1))) for k in y.astype(int)])
    state = {"beta": np.log(np.sum(y) / np.sum(np.exp(offset))), "v": np.zeros(n)}

    def laplace(th: np.ndarray, full: bool = False):
        r, s = np.exp(th)
        L = s * np.linalg.cholesky(matern_correlation(D, r, nu) + 1e-9 * np.eye(n))
        M = np.column_stack([np.ones(n), L])  # eta = offset + M (beta, v)
        x = np.concatenate([[state["beta"]], state["v"]])
        P = np.diag(np.r_[0.0, np.ones(n)])
        for _ in range(200):
            eta = offset + M @ x
            mu = np.exp(eta)
            grad = M.T @ (y - mu) - P @ x
            H = M.T @ (M * mu[:, None]) + P
            step = np.linalg.solve(H, grad)
            t = 1.0

            def obj(z):
                e = offset + M @ z
                return float(np.sum(y * e - np.exp(e)) - 0.5 * z[1:] @ z[1:])
            f0 = obj(x)
            while obj(x + t * step) < f0 - 1e-12 and t > 1e-8:
                t /= 2
            x = x + t * step
            if np.max(np.abs(t * step)) < 1e-11:
                break
        state["beta"], state["v"] = x[0], x[1:]
        eta = offset + M @ x
        mu = np.exp(eta)
        loglik = float(np.sum(y * eta - mu) - lgy)
        Hv = L.T @ (L * mu[:, None]) + np.eye(n)
        val = -2 * loglik + float(x[1:] @ x[1:]) + np.linalg.slogdet(Hv)[1]
        return (val, x) if full else val

    out = minimize(laplace, [np.log(300.0), np.log(0.5)], method="Nelder-Mead",
                   options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 2000})
    val, x = laplace(out.x, full=True)
    r, s = np.exp(out.x)
    return {"range": float(r), "sigma": float(s), "intercept": float(x[0]),
            "loglik": float(-0.5 * val), "n": int(n)}


def main() -> None:
    sim = simulate_gaussian()
    sim.to_csv(HERE / "matern_gaussian.csv", index=False, float_format="%.10g")
    sub = sim.iloc[:400]
    ref = {
        "matern_gaussian": {
            "truth": {"range": 2.0, "sigma": 1.0, "nugget": 0.5, "intercept": 3.0, "nu": 1.0,
                      "n": len(sim), "seed": 20240907},
            "dense_ml_first400": dense_gaussian_ml(sub[["x", "y"]].to_numpy(),
                                                   sub["z"].to_numpy()),
        },
    }
    rong = pd.read_csv(DATA / "rongelap.csv")
    ref["rongelap_poisson_matern1_laplace_ml"] = dense_poisson_laplace(
        rong[["cX", "cY"]].to_numpy(), rong["counts"].to_numpy(dtype=float),
        np.log(rong["time"].to_numpy(dtype=float)))
    tmp = HERE / ".spde_reference.json.tmp"
    tmp.write_text(json.dumps(ref, indent=1) + "\n")
    tmp.replace(HERE / "spde_reference.json")
    print(json.dumps(ref, indent=1))


if __name__ == "__main__":
    main()
