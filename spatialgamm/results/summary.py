"""Text summaries in the layouts R users read every day (lme4's ``summary.merMod``)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _fmt_table(df: pd.DataFrame, digits: int = 4) -> str:
    cols = list(df.columns)
    body = []
    for c in cols:
        v = df[c]
        if c.startswith("Pr(") or c == "p-value":
            body.append([_fmt_p(x) for x in v])
        elif c in ("df", "DF"):
            body.append([f"{x:.0f}" if abs(x - round(x)) < 1e-9 else f"{x:.2f}" for x in v])
        else:
            body.append([_sig(x, digits) for x in v])
    rown = [str(i) for i in df.index]
    wname = max(len(r) for r in rown) if rown else 0
    widths = [max(len(c), *(len(s) for s in col)) for c, col in zip(cols, body)]
    lines = [" " * wname + " " + " ".join(c.rjust(w) for c, w in zip(cols, widths))]
    for i, r in enumerate(rown):
        lines.append(r.ljust(wname) + " " + " ".join(body[j][i].rjust(widths[j])
                                                     for j in range(len(cols))))
    return "\n".join(lines)


def _sig(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    x = float(x)
    if x == 0:
        return "0"
    mag = int(np.floor(np.log10(abs(x))))
    dec = max(0, digits - 1 - mag)
    return f"{x:.{min(dec, 10)}f}"


def _fmt_p(p: float) -> str:
    if p < 2e-16:
        return "<2e-16"
    if p < 1e-4:
        return f"{p:.2e}"
    return f"{p:.4f}"


def _abbreviate_one(name: str, minlength: int) -> str:
    """R's ``abbreviate`` of one name (method "left.kept"), as described in its help page:
    drop lower-case vowels from the right, then lower-case letters, then spaces, then
    upper-case letters and symbols, never the first character of a word, until at most
    ``minlength`` characters (spaces not counted) remain."""
    chars = list(name.lstrip(" "))

    def short() -> bool:
        return sum(c != " " for c in chars) <= minlength

    def first_of_word(i: int) -> bool:
        return i == 0 or chars[i - 1] == " "

    for drop in (lambda c: c in "aeiou", str.islower):
        i = len(chars) - 1
        while i > 0 and not short():
            if drop(chars[i]) and not first_of_word(i):
                del chars[i]
            i -= 1
    if sum(c == " " for c in chars) and len(chars) > minlength:
        chars = [c for i, c in enumerate(chars) if c != " "]
    i = len(chars) - 1
    while i > 0 and len(chars) > minlength:
        if not chars[i].islower():
            del chars[i]
        i -= 1
    return "".join(chars)


def abbreviate(names: list[str], minlength: int = 6) -> list[str]:
    """Unique abbreviations of ``names``, as R's ``abbreviate(names, minlength)``.

    lme4 heads the columns of its fixed-effect correlation table with these. Names whose
    abbreviations coincide are abbreviated again, one character longer each round, until all
    differ (at worst the names themselves, which are distinct).

    Examples
    --------
    >>> abbreviate(["(Intercept)", "trtdrug", "trtdrug+", "period2"])
    ['(Intr)', 'trtdrg', 'trtdr+', 'perid2']
    """
    out = [_abbreviate_one(n, minlength) for n in names]
    longest = max((len(n) for n in names), default=0)
    k = minlength
    while len(set(out)) < len(out) and k < longest:
        k += 1
        seen: dict[str, int] = {}
        for a in out:
            seen[a] = seen.get(a, 0) + 1
        out = [_abbreviate_one(n, k) if seen[a] > 1 else a for n, a in zip(names, out)]
    if len(set(out)) < len(out):  # identical names: number them
        out = [f"{a}.{i}" for i, a in enumerate(out)]
    return out


def varcorr_block(fit) -> str:
    vc = fit.varcorr
    lines = [" Groups   Name        Variance Std.Dev. Corr"]
    rows = []
    for grp, g in vc.groupby("grp", sort=False):
        var = g[g["var2"].isna()]
        cov = g[g["var2"].notna()]
        names = list(var["var1"]) if grp != "Residual" else [""]
        for i, (_, r) in enumerate(var.iterrows()):
            corr = []
            for j in range(i):
                c = cov[(cov["var1"] == names[j]) & (cov["var2"] == names[i])]
                corr.append(f"{float(c['sdcor'].iloc[0]):5.2f}" if len(c) else "")
            rows.append([grp if i == 0 else "", "" if grp == "Residual" else str(r["var1"]),
                         _sig(r["vcov"], 5), _sig(r["sdcor"], 4), " ".join(corr)])
    if not rows:
        return " (no random effects)"
    w = [max(len(r[k]) for r in rows) for k in range(5)]
    w[0], w[1] = max(w[0], 8), max(w[1], 11)
    lines = [" " + "Groups".ljust(w[0]) + " " + "Name".ljust(w[1]) + " " + "Variance".rjust(
        max(w[2], 8)) + " " + "Std.Dev.".rjust(max(w[3], 8)) + " Corr"]
    for r in rows:
        lines.append(" " + r[0].ljust(w[0]) + " " + r[1].ljust(w[1]) + " " +
                     r[2].rjust(max(w[2], 8)) + " " + r[3].rjust(max(w[3], 8)) + " " + r[4])
    return "\n".join(lines)


def _gp_block(fit) -> str:
    """Range, sigma, nugget and effective range of each GP term (empty when none)."""
    try:
        gp = fit.gp_params
    except (ValueError, KeyError, AttributeError):
        return ""
    if gp is None or len(gp) == 0:
        return ""
    cols = [c for c in ("term", "kernel", "range", "sigma", "nu", "nugget", "effective_range")
            if c in gp.columns]
    txt = gp[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}")
    conv = gp["range_convention"].iloc[0] if "range_convention" in gp.columns else ""
    return txt + (f"\n(range: {conv}; effective range: correlation 0.05)" if conv else "")


def format_lmm_summary(fit) -> str:
    fam = fit.family
    spec = fit.spec
    out = []
    if fit.is_gaussian:
        crit = "REML" if fit.REML else "maximum likelihood"
        out.append(f"Linear mixed model fit by {crit}")
    else:
        how = "Laplace Approximation" if fit.state.nAGQ == 1 else (
            f"Adaptive Gauss-Hermite Quadrature, nAGQ = {fit.state.nAGQ}")
        out.append(f"Generalized linear mixed model fit by maximum likelihood ({how})")
        out.append(f" Family: {fam.name}  ( {fam.link.name} )")
    out.append(f"Formula: {spec.formula.text}")
    out.append(f"   Data: {fit.data_name}")
    out.append("")
    if fit.REML:
        out.append(f"REML criterion at convergence: {fit.reml_criterion:.1f}")
    else:
        # lme4's AIC table: its deviance column is -2 logLik for every model (glmer's
        # deviance() is the conditional deviance, a different number: fit.deviance)
        out.append("     AIC      BIC   logLik deviance df.resid")
        out.append(f"{fit.aic:8.1f} {fit.bic:8.1f} {fit.loglik:8.1f} "
                   f"{-2 * fit.loglik:8.1f} {fit.df_resid:8d}")
        if fit.state.nAGQ > 1:
            out.append(f"(full log-likelihood; lme4's logLik leaves out the saturated "
                       f"log-likelihood: {fit.loglik_lme4:.3f})")
    out.append("")
    r = fit.residuals("scaled" if fit.is_gaussian else "pearson")
    q = np.quantile(r, [0, 0.25, 0.5, 0.75, 1])
    out.append("Scaled residuals: ")
    out.append("     Min       1Q   Median       3Q      Max ")
    out.append(" ".join(f"{v:8.4f}" for v in q))
    out.append("")
    out.append("Random effects:")
    out.append(varcorr_block(fit))
    ng = []
    for blk in spec.blocks:
        if blk.term.n_levels is not None:
            base = blk.name.split(".")[0]
            if base not in [g[0] for g in ng]:
                ng.append((base, blk.term.n_levels))
    groups = "; ".join(f"{g}, {k}" for g, k in ng)
    out.append(f"Number of obs: {fit.nobs}" + (f", groups:  {groups}" if groups else ""))
    gp_lines = _gp_block(fit)
    if gp_lines:
        out.append("")
        out.append("Gaussian-process terms:")
        out.append(gp_lines)
    out.append("")
    out.append("Fixed effects:")
    tab = fit.coef_table(view="lme4")  # lme4's standard errors; t tests with nlme's df
    out.append(_fmt_table(tab))
    if len(tab) > 12:  # lme4's rule: a correlation table that wide is not read
        out.append("")
        out.append(f"Correlation matrix not shown by default, as p = {len(tab)} > 12; "
                   "fit.corr_fixef() gives it")
    elif len(tab) > 1:
        out.append("")
        out.append("Correlation of Fixed Effects:")
        out.append(correlation_block(fit.corr_fixef().to_numpy(), spec.x_names))
    info = fit.optinfo
    if info.boundary:
        out.append("")
        out.append("boundary (singular) fit: " + "; ".join(info.boundary))
    if not info.converged:
        out.append("")
        out.append("WARNING: " + "; ".join(info.warnings or ["optimizer did not converge"]))
    if spec.n_dropped:
        out.append(f"({spec.n_dropped} observations deleted due to missingness)")
    return "\n".join(out)


def correlation_block(C: np.ndarray, names: list[str]) -> str:
    """lme4's lower-triangular correlation table: rows abbreviated to 11 characters,
    columns to 6 (R's ``abbreviate``; unique, so no two headers collide)."""
    rows, cols = abbreviate(names, 11), abbreviate(names, 6)
    wn = max(len(r) for r in rows)
    wc = [max(6, len(c)) for c in cols]
    lines = [" " * wn + " " + " ".join(c.ljust(w) for c, w in zip(cols[:-1], wc))]
    for i in range(1, len(names)):
        lines.append(rows[i].ljust(wn) + " " + " ".join(
            f"{C[i, j]:6.3f}".ljust(wc[j]) for j in range(i)).rstrip())
    return "\n".join(lines)


def format_nlme_summary(fit) -> str:
    """nlme's ``summary.lme`` layout, with nlme's numbers (``fit.summary(view='nlme')``)."""
    if not fit.is_gaussian:
        raise ValueError("nlme's view is for linear mixed models (Gaussian, identity link)")
    ic = fit.information_criteria("nlme")
    crit = "REML" if fit.REML else "maximum likelihood"
    out = [f"Linear mixed-effects model fit by {crit}", f"  Data: {fit.data_name}",
           "        AIC       BIC     logLik",
           f"  {ic['AIC']:9.7g} {ic['BIC']:9.7g} {ic['logLik']:10.7g}", "", "Random effects:"]
    vc = fit.varcorr
    for _, r in vc.iterrows():
        if r["var2"] is None or (isinstance(r["var2"], float) and np.isnan(r["var2"])):
            name = "Residual" if r["grp"] == "Residual" else f"{r['grp']}: {r['var1']}"
            out.append(f"  {name:<30s} StdDev {float(r['sdcor']):.7g}")
        else:
            out.append(f"  {r['grp']}: Corr({r['var1']}, {r['var2']}) {float(r['sdcor']):.3f}")
    out.append("")
    tab = fit.coef_table(ddf_method="nlme", view="nlme")
    tab = tab.rename(columns={"Estimate": "Value", "Std. Error": "Std.Error", "df": "DF",
                              "t value": "t-value", "Pr(>|t|)": "p-value"})
    out.append("Fixed effects:")
    out.append(_fmt_table(tab[["Value", "Std.Error", "DF", "t-value", "p-value"]]))
    out.append("")
    out.append(f"Number of Observations: {fit.nobs}")
    return "\n".join(out)


def format_gam_summary(fit) -> str:
    """mgcv's ``summary.gam`` layout."""
    fam = fit.family
    out = ["", f"Family: {fam.name} ", f"Link function: {fam.link.name} ", "", "Formula:",
           fit.spec.formula.text, ""]
    pt = fit.parametric_table()
    if len(pt):
        out.append("Parametric coefficients:")
        out.append(_fmt_table(pt))
        out.append("")
    st = fit.smooth_table()
    if len(st):
        out.append("Approximate significance of smooth terms:")
        out.append(_fmt_table(st))
        out.append("")
    crit = {"UBRE": "UBRE", "GCV": "GCV", "REML": "-REML", "ML": "-ML"}[fit.state.method]
    out.append(f"R-sq.(adj) = {fit.r2_adj:6.3g}   Deviance explained = {100 * fit.dev_expl:.3g}%")
    out.append(f"{crit} = {fit.score:.5g}  Scale est. = {fit.scale:<8.5g}  n = {fit.nobs}")
    info = fit.optinfo
    if not info.converged:
        out.append("WARNING: " + "; ".join(info.warnings or ["optimizer did not converge"]))
    return "\n".join(out)
