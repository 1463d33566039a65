"""Gaussian-process and known-covariance results, re-exported from the modules that own them:

* :mod:`.gp_report` - ``gp_params``, ``gp_range``, ``gp_sigma``, ``heritability``,
  ``gaussian_joint_vcov``, ``vcov_fixef`` (and the standard-error conventions);
* :mod:`.gp_profiles` - ``confint``: profile-likelihood intervals;
* :mod:`.gp_simulate` - ``simulate_field``: joint conditional simulation at new points.
"""

from .gp_profiles import confint
from .gp_report import (
    gaussian_joint_vcov,
    gp_blocks,
    gp_params,
    gp_range,
    gp_sigma,
    heritability,
    vcov_fixef,
)
from .gp_simulate import simulate_field

__all__ = ["confint", "gaussian_joint_vcov", "gp_blocks", "gp_params", "gp_range",
           "gp_sigma", "heritability", "simulate_field", "vcov_fixef"]
