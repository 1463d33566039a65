"""numba-compiled log posteriors (value and gradient) for the common models, one call each.

Why: nutpie calls the log density about 12,000 times per chain of 2,000 iterations. The numpy
versions in :mod:`spatialgamm.mcmc.density` spend nearly all their time in the overhead of
~60 numpy calls on tiny arrays (0.15-0.3 ms per evaluation for sleepstudy); the loops below do
the same arithmetic in a few microseconds. Covered here:

* :func:`gaussian_grouped`: the Gaussian LMM with one bar term, group-level effects integrated
  out (per level an ``nc x nc`` system: Cholesky, solves and the gradient terms of
  docs/BAYES_MCMC.md), with the priors on the fixed effects, sigma and the covariance factor
  (half SD priors + LKJ, in the change of variables of :mod:`spatialgamm.mcmc.covariance`);
* :func:`glmm_noncentred`: binomial (logit), Poisson (log), negative binomial (log) and Gamma
  (log or inverse) GLMMs with non-centred bar terms (``b_l = T z_l``), any number of terms,
  the NB / Gamma shape on the log scale.

Everything else (several Gaussian terms, Wishart priors, other links) stays on the numpy path.
Prior distributions are passed as codes (:func:`encode_prior`). The kernels are compiled once
and cached on disk (``cache=True``), so a new process pays only the load.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is a dependency; without it the numpy densities are used
    from numba import njit
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

from .priors import Prior

if HAVE_NUMBA:
    # ArviZ switches to its own numba paths when numba is importable, and one of them
    # (az.mcse(method="sd"), arviz 0.23 with numpy 2.4) raises "only 0-dimensional arrays can
    # be converted to Python scalars"; its numpy paths give the same numbers
    import arviz

    arviz.Numba.disable_numba()

#: prior codes (flat, normal, student_t (cauchy: nu = 1), exponential, gamma, and the
#: lecture notes' Gamma on the precision 1 / sigma^2)
FLAT, NORMAL, STUDENT, EXPON, GAMMA, GAMMA_PREC = 0, 1, 2, 3, 4, 5
#: family codes of :func:`glmm_noncentred`
BINOMIAL_LOGIT, POISSON_LOG, NEGBIN_LOG, GAMMA_LOG, GAMMA_INVERSE = 0, 1, 2, 3, 4


def encode_prior(p: Prior | None) -> tuple[int, np.ndarray] | None:
    """``(code, args)`` of a scalar prior for the kernels, None when they cannot take it.

    Examples
    --------
    >>> encode_prior(Prior("student_t(3, 0, 2.5)", "sd"))
    (2, array([3. , 0. , 2.5]))
    """
    if p is None or p.name == "flat":
        return FLAT, np.zeros(3)
    a = list(p.args)
    code = {"normal": NORMAL, "student_t": STUDENT, "exponential": EXPON, "gamma": GAMMA,
            "gamma_precision": GAMMA_PREC}.get(p.name)
    if p.name == "cauchy":
        code, a = STUDENT, [1.0, *a]
    if code is None:
        return None
    return code, np.array(a + [0.0] * (3 - len(a)), dtype=float)


@njit(cache=True, error_model="numpy")
def _scalar_prior(code, a, x):  # pragma: no cover - compiled
    """Log density (as :meth:`Prior.logpdf`) and its derivative."""
    if code == NORMAL:
        z = (x - a[0]) / a[1]
        return -0.5 * z * z - math.log(a[1]), -z / a[1]
    if code == STUDENT:
        nu, mu, s = a[0], a[1], a[2]
        d = x - mu
        c = (math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
             - math.log(s))
        return c - (nu + 1) / 2 * math.log1p(d * d / (nu * s * s)), \
            -(nu + 1) * d / (nu * s * s + d * d)
    if code == EXPON:
        return math.log(a[0]) - a[0] * x, -a[0]
    if code == GAMMA:
        if x <= 0:
            return -np.inf, 0.0
        return (a[0] - 1) * math.log(x) - a[1] * x, (a[0] - 1) / x - a[1]
    return 0.0, 0.0


@njit(cache=True, error_model="numpy")
def _positive_prior(code, a, logv):  # pragma: no cover - compiled
    """Prior of a positive parameter moved on the log scale (with the Jacobian) and its
    derivative in ``log v``; GAMMA_PREC is Gamma(a, rate b) on ``v^-2`` (sigma)."""
    v = math.exp(logv)
    if code == FLAT:
        return logv, 1.0
    if code == GAMMA_PREC:
        tau = v ** -2
        return -2 * a[0] * logv - a[1] * tau, -2 * a[0] + 2 * a[1] * tau
    h, dh = _scalar_prior(code, a, v)
    return h + logv, dh * v + 1.0


@njit(cache=True, error_model="numpy")
def _fixed_prior(beta, bcode, bargs, grad):  # pragma: no cover - compiled
    lp = 0.0
    for j in range(beta.shape[0]):
        if bcode[j] != FLAT:
            h, dh = _scalar_prior(bcode[j], bargs[j], beta[j])
            lp += h
            grad[j] += dh
    return lp


@njit(cache=True, error_model="numpy")
def _t_from_phi(phi, nc):  # pragma: no cover - compiled
    """T (lower triangular; lme4's column-major theta order, log diagonal)."""
    T = np.zeros((nc, nc))
    k = 0
    for c in range(nc):
        for r in range(c, nc):
            T[r, c] = math.exp(phi[k]) if r == c else phi[k]
            k += 1
    return T


@njit(cache=True, error_model="numpy")
def _cov_prior(T, sdcode, sdargs, eta, G, grad, phi0):  # pragma: no cover - compiled
    """Half SD priors + LKJ(eta) on T (docs/BAYES_MCMC.md, covariance.py) plus the log
    diagonal's Jacobian; ``G`` (d loglik / d T) becomes the gradient in phi, written at
    ``grad[phi0:]``."""
    K = T.shape[0]
    lp = 0.0
    sd = np.empty(K)
    dsd = np.empty(K)
    for i in range(K):
        s = 0.0
        for j in range(i + 1):
            s += T[i, j] * T[i, j]
        sd[i] = math.sqrt(s)
        h, dh = _scalar_prior(sdcode[i], sdargs[i], sd[i])
        lp += h
        dsd[i] = dh
    for i in range(K):
        ii = i + 1.0
        cd = (K - ii + 2 * eta - 2) + 1.0
        lsd = math.log(sd[i])
        lp += cd * (math.log(T[i, i]) - lsd) - (ii - 1) * lsd + math.log(T[i, i])
        f = (dsd[i] - (cd + ii - 1) / sd[i]) / sd[i]
        for j in range(i + 1):
            G[i, j] += f * T[i, j]
        G[i, i] += cd / T[i, i]
    k = phi0
    for c in range(K):
        for r in range(c, K):
            grad[k] = G[r, c] * T[r, c] + 1.0 if r == c else G[r, c]
            k += 1
    return lp


@njit(cache=True, error_model="numpy")
def gaussian_grouped(x, p, isig, phi0, nc, ZtZb, ZtXb, Ztyb, XtX, Xty, yty, n,
                     bcode, bargs, scode, sargs, sdcode, sdargs, eta):  # pragma: no cover
    """Log posterior and gradient of the Gaussian LMM with one bar term, ``u`` integrated
    out. ``ZtZb`` (L, nc, nc), ``ZtXb`` (L, nc, p), ``Ztyb`` (L, nc) are Z'Z, Z'X and Z'y per
    level; the fixed effects are ``x[:p]``, ``log sigma`` is ``x[isig]``, the covariance
    factor's phi starts at ``x[phi0]``. Returns ``(-inf, 0)`` off the support."""
    dim = x.shape[0]
    grad = np.zeros(dim)
    beta = x[:p]
    ls = x[isig]
    s2 = math.exp(2 * ls)
    T = _t_from_phi(x[phi0:phi0 + nc * (nc + 1) // 2], nc)
    L = ZtZb.shape[0]
    logdet = 0.0
    bZe = 0.0
    bZb = 0.0
    uu = 0.0
    tr = 0.0
    gxb = np.zeros(p)
    G = np.zeros((nc, nc))
    Csum = np.zeros((nc, nc))
    e = np.empty(nc)
    M = np.empty((nc, nc))
    A = np.empty((nc, nc))
    R = np.empty((nc, nc))
    Ainv = np.empty((nc, nc))
    u = np.empty(nc)
    b = np.empty(nc)
    w = np.empty(nc)
    for lv in range(L):
        for r in range(nc):
            s = Ztyb[lv, r]
            for j in range(p):
                s -= ZtXb[lv, r, j] * beta[j]
            e[r] = s
        for r in range(nc):  # M = Z'Z_l T
            for c in range(nc):
                s = 0.0
                for k in range(c, nc):
                    s += ZtZb[lv, r, k] * T[k, c]
                M[r, c] = s
        for r in range(nc):  # A = I + T' M / s2
            for c in range(nc):
                s = 0.0
                for k in range(r, nc):
                    s += T[k, r] * M[k, c]
                A[r, c] = s / s2 + (1.0 if r == c else 0.0)
        for c in range(nc):  # Cholesky A = R R'
            s = A[c, c]
            for k in range(c):
                s -= R[c, k] * R[c, k]
            if not s > 0:
                return -np.inf, np.zeros(dim)
            R[c, c] = math.sqrt(s)
            logdet += 2 * math.log(R[c, c])
            for r in range(c + 1, nc):
                s = A[r, c]
                for k in range(c):
                    s -= R[r, k] * R[c, k]
                R[r, c] = s / R[c, c]
        for c in range(nc):  # Ainv column by column: R R' a = e_c
            for r in range(nc):
                s = 1.0 if r == c else 0.0
                for k in range(r):
                    s -= R[r, k] * w[k]
                w[r] = s / R[r, r]
            for r in range(nc - 1, -1, -1):
                s = w[r]
                for k in range(r + 1, nc):
                    s -= R[k, r] * Ainv[k, c]
                Ainv[r, c] = s / R[r, r]
        for r in range(nc):  # u = A^-1 T' e / s2
            s = 0.0
            for c in range(nc):
                t = 0.0
                for k in range(c, nc):
                    t += T[k, c] * e[k]
                s += Ainv[r, c] * t
            u[r] = s / s2
        for r in range(nc):  # b = T u
            s = 0.0
            for c in range(r + 1):
                s += T[r, c] * u[c]
            b[r] = s
        for r in range(nc):
            Mu = 0.0  # (Z'Z b)_r = (M u)_r
            for c in range(nc):
                Mu += M[r, c] * u[c]
            bZe += b[r] * e[r]
            bZb += b[r] * Mu
            uu += u[r] * u[r]
            tr += Ainv[r, r]
            zta = (e[r] - Mu) / s2
            for c in range(nc):
                G[r, c] += zta * u[c]
            for j in range(p):
                gxb[j] += ZtXb[lv, r, j] * b[r]
        for r in range(nc):  # Csum += Ainv M' / s2
            for c in range(nc):
                s = 0.0
                for k in range(nc):
                    s += Ainv[r, k] * M[c, k]
                Csum[r, c] += s / s2
    ete = yty
    for j in range(p):
        t = 0.0
        for k in range(p):
            t += XtX[j, k] * beta[k]
        ete += beta[j] * (t - 2 * Xty[j])
        grad[j] = (Xty[j] - t - gxb[j]) / s2
    rr = ete - 2 * bZe + bZb
    q = L * nc
    ll = (-0.5 * n * math.log(2 * math.pi) - n * ls - 0.5 * logdet - 0.5 * (rr / s2 + uu))
    grad[isig] = -(n - q + tr) + rr / s2
    for r in range(nc):
        for c in range(nc):
            G[r, c] -= Csum[c, r]
    lp = ll + _fixed_prior(beta, bcode, bargs, grad)
    v, d = _positive_prior(scode, sargs, ls)
    lp += v
    grad[isig] += d
    lp += _cov_prior(T, sdcode, sdargs, eta, G, grad, phi0)
    if not np.isfinite(lp):
        return -np.inf, np.zeros(dim)
    for j in range(dim):
        if not np.isfinite(grad[j]):
            return -np.inf, np.zeros(dim)
    return lp, grad


@njit(cache=True, error_model="numpy")
def _digamma(x):  # pragma: no cover - compiled
    """psi(x) for x > 0: recurrence up to x >= 6, then the asymptotic series."""
    r = 0.0
    while x < 6.0:
        r -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    return r + math.log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (
        1.0 / 252 - f * (1.0 / 240 - f / 132))))


@njit(cache=True, error_model="numpy")
def glmm_noncentred(x, p, zs, q, ishape, X, y, w, off, const, Zptr, Zind, Zval,
                    tcol, tnc, tL, tphi, tsd, sdcode, sdargs, teta,
                    fam, bcode, bargs, shcode, shargs):  # pragma: no cover - compiled
    """Log posterior and gradient of a GLMM with non-centred bar terms.

    ``Z`` is given in CSR form (``Zptr``, ``Zind``, ``Zval``); term ``k`` has its columns from
    ``tcol[k]``, ``tnc[k]`` coefficients for ``tL[k]`` levels, its phi at ``x[tphi[k]:]``, its
    SD priors at rows ``tsd[k]:`` of ``sdcode``/``sdargs`` and LKJ shape ``teta[k]``; the
    ``q`` unit normals ``z`` start at ``x[zs]``. ``fam`` is a family code; ``ishape`` the position
    of the log shape (NB, Gamma; -1 without). ``const`` is the likelihood's constant.
    """
    dim = x.shape[0]
    n = y.shape[0]
    grad = np.zeros(dim)
    beta = x[:p]
    nt = tcol.shape[0]
    bvec = np.zeros(q)
    for k in range(nt):
        nc = tnc[k]
        T = _t_from_phi(x[tphi[k]:tphi[k] + nc * (nc + 1) // 2], nc)
        for lv in range(tL[k]):
            o = tcol[k] + lv * nc
            for r in range(nc):
                s = 0.0
                for c in range(r + 1):
                    s += T[r, c] * x[zs + o + c]
                bvec[o + r] = s
    shape = math.exp(x[ishape]) if ishape >= 0 else 1.0
    ll = const
    dshape = 0.0
    g = np.empty(n)
    lgs = math.lgamma(shape)
    dgs = _digamma(shape)
    lsh = math.log(shape)
    for i in range(n):
        et = off[i]
        for j in range(p):
            et += X[i, j] * beta[j]
        for kk in range(Zptr[i], Zptr[i + 1]):
            et += Zval[kk] * bvec[Zind[kk]]
        wi = w[i]
        yi = y[i]
        if fam == BINOMIAL_LOGIT:
            # log(1 + e^eta) without overflow
            sp = et + math.log1p(math.exp(-et)) if et > 0 else math.log1p(math.exp(et))
            mu = 1.0 / (1.0 + math.exp(-et))
            ll += wi * (yi * et - sp)
            g[i] = wi * (yi - mu)
        elif fam == POISSON_LOG:
            mu = math.exp(et)
            ll += wi * (yi * et - mu)
            g[i] = wi * (yi - mu)
        elif fam == NEGBIN_LOG:
            mu = math.exp(et)
            lms = math.log(mu + shape)
            ll += wi * (math.lgamma(yi + shape) - lgs + shape * (lsh - lms) + yi * (et - lms))
            g[i] = wi * shape * (yi - mu) / (mu + shape)
            dshape += wi * (_digamma(yi + shape) - dgs + lsh + 1.0 - lms
                            - (yi + shape) / (mu + shape))
        elif fam == GAMMA_LOG:
            mu = math.exp(et)
            ly = math.log(yi)
            ll += wi * (shape * (lsh - et) - lgs + (shape - 1) * ly - shape * yi / mu)
            g[i] = wi * shape * (yi / mu - 1.0)
            dshape += wi * (lsh + 1.0 - et - dgs + ly - yi / mu)
        else:  # GAMMA_INVERSE: mu = 1 / eta, eta > 0
            if not et > 0:
                return -np.inf, np.zeros(dim)
            mu = 1.0 / et
            ly = math.log(yi)
            ll += wi * (shape * (lsh + math.log(et)) - lgs + (shape - 1) * ly - shape * yi * et)
            g[i] = -wi * shape * (yi - mu)
            dshape += wi * (lsh + 1.0 + math.log(et) - dgs + ly - yi * et)
    if not np.isfinite(ll):
        return -np.inf, np.zeros(dim)
    for j in range(p):
        s = 0.0
        for i in range(n):
            s += X[i, j] * g[i]
        grad[j] = s
    Ztg = np.zeros(q)
    for i in range(n):
        for kk in range(Zptr[i], Zptr[i + 1]):
            Ztg[Zind[kk]] += Zval[kk] * g[i]
    lp = ll
    for k in range(nt):
        nc = tnc[k]
        T = _t_from_phi(x[tphi[k]:tphi[k] + nc * (nc + 1) // 2], nc)
        G = np.zeros((nc, nc))
        for lv in range(tL[k]):
            o = tcol[k] + lv * nc
            for c in range(nc):  # d/dz = T' Z'g
                s = 0.0
                for r in range(c, nc):
                    s += T[r, c] * Ztg[o + r]
                grad[zs + o + c] = s
            for r in range(nc):
                for c in range(r + 1):
                    G[r, c] += Ztg[o + r] * x[zs + o + c]
        lp += _cov_prior(T, sdcode[tsd[k]:tsd[k] + nc], sdargs[tsd[k]:tsd[k] + nc], teta[k],
                         G, grad, tphi[k])
    for j in range(zs, zs + q):
        lp -= 0.5 * x[j] * x[j]
        grad[j] -= x[j]
    lp += _fixed_prior(beta, bcode, bargs, grad)
    if ishape >= 0:
        v, d = _positive_prior(shcode, shargs, x[ishape])
        lp += v
        grad[ishape] = dshape * shape + d
    if not np.isfinite(lp):
        return -np.inf, np.zeros(dim)
    for j in range(dim):
        if not np.isfinite(grad[j]):
            return -np.inf, np.zeros(dim)
    return lp, grad
