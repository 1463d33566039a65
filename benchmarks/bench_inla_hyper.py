"""Hyperparameter marginals of ``inla()`` with four hyperparameters (issue 15, item 6).

    python benchmarks/bench_inla_hyper.py

lme4's sleepstudy, ``y ~ Days + (1 + Days | Subject)`` (INLA's iid2d: two log precisions,
a correlation, the noise precision): the fit (mode, Hessian, 25-point CCD, latent
marginals) and, timed apart, ``summary_hyperpar``, which from four hyperparameters draws
theta by importance sampling of the Laplace pi(theta | y) (2048 Laplace evaluations,
bayes/marginals.py; formerly 9 evaluations for a product of split normals whose upper tails
were short). CPU seconds beside wall time: the machine is shared. No R peer: R-INLA cannot
be installed here (benchmarks/bench_inla.py says why).
"""

from __future__ import annotations

import time

from spatialgamm.bayes import inla
from spatialgamm.datasets import load_sleepstudy


def _timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t, time.process_time() - c, out


def main() -> int:
    d = load_sleepstudy()
    d["y"] = d["Reaction"] / 10.0
    t_fit, c_fit, fit = _timed(lambda: inla("y ~ Days + (1 + Days | Subject)", d))
    t_hyp, c_hyp, _ = _timed(lambda: fit.summary_hyperpar)
    hs = fit.hyper_sampling
    print("| case | fit (s) | fit CPU (s) | hyper marginals (s) | hyper CPU (s) | draws | "
          "k-hat | ESS |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| sleepstudy iid2d (4 hyperparameters) | {t_fit:.2f} | {c_fit:.2f} | {t_hyp:.2f} "
          f"| {c_hyp:.2f} | {hs['draws']} | {hs['khat']:.2f} | {hs['ess']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
