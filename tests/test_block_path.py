"""The block-diagonal path (every random term on one grouping factor, more than 64 latent
columns: A factored as a batch of small blocks) against lme4.

References: tests/reference/lmm/block_diag.R (simulated, 150 groups of 6 rows; written to
block_diag.csv beside it), lme4 1.1-31 with bobyqa at rhoend 1e-10.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.datasets import as_factor

REF = Path(__file__).parent / "reference" / "lmm"
CASES = {
    "two_terms_reml": ("y ~ x + (1|g) + (0 + x|g)", {}),
    "two_terms_ml": ("y ~ x + (1|g) + (0 + x|g)", {"REML": False}),
    "correlated_reml": ("y ~ x + (x|g)", {}),
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    d = pd.read_csv(REF / "block_diag.csv")
    d["g"] = as_factor(d["g"])
    return d


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "block_diag.json").read_text())


@pytest.mark.parametrize("case", list(CASES))
def test_block_path_matches_lme4(case, data, ref):
    formula, kw = CASES[case]
    r = ref[case]
    m = sg.lmer(formula, data, **kw)
    assert m.state.objective.solver.backend == "blocks"  # 150 blocks of 2: the path under test
    # the criterion: never above lme4's optimum, and equal to it within R's tolerance
    assert m.loglik >= r["loglik"] - 1e-6
    assert m.loglik == pytest.approx(r["loglik"], abs=1e-4)
    assert m.fixef.to_numpy() == pytest.approx(r["beta"], rel=1e-4)
    assert m.se.to_numpy() == pytest.approx(r["se"], rel=1e-3)
    assert np.abs(m.theta) == pytest.approx(np.abs(r["theta"]), rel=2e-3, abs=1e-4)
    assert m.sigma == pytest.approx(r["sigma"], rel=1e-4)


def test_block_factor_agrees_with_dense_cholesky():
    """Solves, log-determinant and inverse of the batched factor against dense LAPACK on a
    random block-diagonal SPD matrix with its columns shuffled (closed forms)."""
    from spatialgamm.engine.linalg import BlockFactor

    rng = np.random.default_rng(3)
    G, k = 7, 3
    blocks = np.stack([(lambda a: a @ a.T + np.eye(k))(rng.normal(size=(k, k)))
                       for _ in range(G)])
    perm = rng.permutation(G * k)
    A = np.zeros((G * k, G * k))
    for g in range(G):
        idx = perm[g * k:(g + 1) * k]
        A[np.ix_(idx, idx)] = blocks[g]
    f = BlockFactor(perm, k).refactor(blocks)
    b = rng.normal(size=(G * k, 2))
    assert f.solve(b) == pytest.approx(np.linalg.solve(A, b), rel=1e-10, abs=1e-12)
    assert f.logdet() == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    assert f.inverse_on_pattern().toarray() == pytest.approx(np.linalg.inv(A), abs=1e-12)
    x = f.solve_L(b[:, 0])
    assert float(x @ x) == pytest.approx(float(b[:, 0] @ np.linalg.solve(A, b[:, 0])),
                                         rel=1e-10)
    z = rng.normal(size=G * k)  # solve_Lt inverts solve_L's transpose: u'A u = z'z
    u = f.solve_Lt(z)
    assert float(u @ A @ u) == pytest.approx(float(z @ z), rel=1e-10)
