"""GAMs with a Gaussian-process smooth: spatialgamm.gam against mgcv::gam / bam.

    python benchmarks/bench_gam.py [--repeats N] [--no-r] [--quick] [--no-record]

Cases: Rongelap Poisson ``counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))`` (157 rows)
with mgcv's default criterion (UBRE, since the Poisson scale is known) and with REML;
MASS::Boston ``medv ~ s(lstat) + te(rm, dis)`` with a Gamma log link by REML (506 rows);
``y ~ s(x0) + te(x1, x2)`` with a Gamma identity link by REML (400 simulated rows);
simulated Poisson ``y ~ s(sx, sy, bs='gp', k=100) + offset(log(exposure))`` by REML on
10,000 points (mgcv::gam) and 100,000 points (mgcv::bam, fREML), both fitted once, as
peers.R does (skipped by --quick).
"""

import sys

from _common import Case, main

RONGELAP = "counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))"
GP_POIS = "y ~ s(sx, sy, bs='gp', k=100) + offset(log(exposure))"

CASES = [
    Case(
        name="rongelap_gam_ubre", csv="rongelap.csv", r_name="rongelap.csv",
        r_key="rongelap_gam_ubre",
        # No method argument, as in the R call: mgcv's default for a known scale is UBRE.
        fit=lambda sg, d: sg.gam(RONGELAP, d, family="poisson"),
    ),
    Case(
        name="rongelap_gam_reml", csv="rongelap.csv", r_name="rongelap.csv",
        r_key="rongelap_gam_reml",
        fit=lambda sg, d: sg.gam(RONGELAP, d, family="poisson", method="REML"),
    ),
    Case(
        # Gamma log link by REML (mgcv's LAML, the scale estimated): MASS::Boston, 506 rows
        name="boston_gamma_reml", csv="boston.csv", r_name="boston.csv",
        r_key="boston_gamma_reml",
        fit=lambda sg, d: sg.gam("medv ~ s(lstat) + te(rm, dis)", d,
                                 family="Gamma(link='log')", method="REML"),
    ),
    Case(
        # Gamma identity link by REML: observed weights negative at 55 of 400 rows (the
        # determinants from the weighted cross-products; no exact gradient there)
        name="gamma_identity_reml", csv="gamma_te.csv", r_name="gamma_te.csv",
        r_key="gamma_identity_reml",
        fit=lambda sg, d: sg.gam("y ~ s(x0) + te(x1, x2)", d,
                                 family="Gamma(link='identity')", method="REML"),
    ),
    Case(
        name="gp_pois_10k_gam", csv="gp_pois_10k.csv", r_name="gp_pois.csv",
        r_key="gp_pois_gam", large=True, repeats=lambda r: 1, warmup=0,
        fit=lambda sg, d: sg.gam(GP_POIS, d, family="poisson", method="REML"),
    ),
    Case(
        name="gp_pois_100k_gam", csv="gp_pois_100k.csv", r_name="gp_pois.csv",
        r_key="gp_pois_bam", large=True, repeats=lambda r: 1, warmup=0,
        fit=lambda sg, d: sg.gam(GP_POIS, d, family="poisson", method="REML"),
    ),
]

if __name__ == "__main__":
    sys.exit(main(CASES, __doc__.splitlines()[0]))
