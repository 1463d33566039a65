# R's formula language: model-matrix columns (names, values, rows for new data) and fits
# using R functions in formulas, for tests/test_formula_r.py.
# Run: Rscript tests/reference/formula/make_formula_reference.R   (R 4.2.2, lme4 1.1-31)
suppressPackageStartupMessages({library(lme4); library(splines); library(jsonlite);
  library(nlme); library(MASS)})
out <- list()
df_json <- function(d) {
  # columns with their type; factors keep their level order and orderedness
  lapply(d, function(v) {
    if (is.factor(v)) list(type = if (is.ordered(v)) "ordered" else "factor",
                           values = as.character(v), levels = levels(v))
    else if (is.logical(v)) list(type = "logical", values = v)
    else if (is.character(v)) list(type = "character", values = v)
    else list(type = "numeric", values = as.numeric(v))
  })
}

# ---- model matrices on a small design, and their rows for new data ---------------------------
set.seed(11)
n <- 40
d <- data.frame(x = round(runif(n, 0, 10), 2), w = sample(1:6, n, TRUE),
                f = factor(sample(c("a", "b", "c"), n, TRUE)),
                g = factor(sample(c("u", "v"), n, TRUE)),
                o = factor(sample(c("lo", "mid", "hi", "top", "max"), n, TRUE),
                           levels = c("lo", "mid", "hi", "top", "max"), ordered = TRUE),
                check.names = FALSE)
d[["Δ days"]] <- round(rnorm(n, 5, 2), 2)
d$y <- rnorm(n)
nd <- data.frame(x = c(-1, 0.5, 3.3, 9.7, 12), w = c(1, 3, 6, 2, 5),
                 f = factor(c("a", "c", "b", "a", "c"), levels = levels(d$f)),
                 g = factor(c("v", "u", "v", "u", "u"), levels = levels(d$g)),
                 o = factor(c("max", "lo", "hi", "mid", "top"), levels = levels(d$o),
                            ordered = TRUE), check.names = FALSE)
nd[["Δ days"]] <- c(1, 4, 5, 7.5, 11)
out$design <- list(data = df_json(d), newdata = df_json(nd))
rhs <- c("poly(x, 3)", "poly(x, 2, raw = TRUE)", "ns(x, df = 4)", "ns(x, knots = c(3, 6))",
         "ns(x, df = 3, intercept = TRUE) - 1", "bs(x, df = 5)", "bs(x, degree = 2, knots = 5)",
         "bs(x, knots = c(2, 4, 7), Boundary.knots = c(-2, 13))", "o", "o * x - 1",
         "f * x", "f:x + f", "x:f", "f/x", "x %in% f", "(x + w + f)^2", "(x + w + f)^2 - w:f",
         "f:g", "f * g - 1", "g + f - 1", "I(w > 2) + sqrt(x) + exp(-x/2) + log1p(x) + abs(x - 5)",
         "factor(w > 3) + as.numeric(f) + factor(w) + log(x + 1, 2)",
         "C(f, contr.sum) + C(g, contr.helmert) + C(o, contr.treatment)",
         "`Δ days` * f", "I(x^2) + x^2 + I(1e6 * x) + I(x - 1.50)", "w + x:f:g + f",
         "0 + x + w", "-1 + f", "relevel(f, ref = \"c\") + poly(w, 2)",
         "(x < 3 & w > 1) + ordered(w)", "poly(x, 2) * f", "ns(x, 3):g", "x:I(w > 2)",
         "f:o", "log(w):f - 1", "C(f) + C(g, contr.SAS) + C(o, contr.poly)",
         "C(f, contr.treatment) + C(f, \"contr.sum\"):x", "bs(x, df = 4, intercept = TRUE) - 1",
         "poly(w, degree = 3) + I(as.numeric(o)^2)",
         "cut(x, breaks = c(0, 2.5, 5, 10)) + cut(w, c(1, 3, 6), include.lowest = TRUE)",
         "cut(x, c(-1, 5, 1000, 2e4), right = FALSE) + cut(x, c(0, 5, 11), labels = c(\"lo\", \"hi\"))",
         "I(x - mean(x)) + I((w - min(w))/sd(w)) + ifelse(x > 5, x, 0)")
mm <- list()
for (r in rhs) {
  fit <- lm(as.formula(paste("y ~", r)), d)
  X <- model.matrix(fit)
  tt <- delete.response(terms(fit))
  Xn <- model.matrix(tt, model.frame(tt, nd, xlev = fit$xlevels), contrasts.arg = fit$contrasts)
  mm[[length(mm) + 1]] <- list(rhs = r, names = colnames(X), X = unname(X), Xnew = unname(Xn))
}
# mean(), sd(), min() inside I(): R's predict() recomputes them on the new data; the fitting
# data's values are kept here (as for scale()), so the expected rows are built from those
k <- length(mm)
mm[[k]]$Xnew_R <- mm[[k]]$Xnew
mm[[k]]$Xnew <- unname(cbind(1, nd$x - mean(d$x), (nd$w - min(d$w)) / sd(d$w),
                             ifelse(nd$x > 5, nd$x, 0)))
out$model_matrix <- mm
# term labels and intercept of R's terms.formula
tl <- c("b:a + a + x*f - x + 0", "(a + b + c)^2 - a:b", "a/b/c", "a %in% b", "(a + b) %in% c",
        "a*b*c - a:b:c", "-1 + a", "a - 1 + 1", "(a + b)/c", "a:b:a + b", "a + b - a",
        "(a + b + c)^3 - (a + b)^2")
out$terms <- lapply(tl, function(r) {
  t <- terms(as.formula(paste("~", r)))
  list(rhs = r, labels = attr(t, "term.labels"), intercept = attr(t, "intercept"))
})
# R's deparse of variable expressions (what names model-matrix columns)
dp <- c("I(week>2)", "poly(x,2,raw=TRUE)", "exp(-x/2)", "I(1e6*x)", "I(x - 1.50)", "`Δ days`",
        "x^-1", "-(x)", "2*-x", "exp(-x^2/2)", "f == \"b\"", "1L + x", "0.1+0.2", "1/3*x",
        "100000 + 1e5 + 123456.7 + 0.0001 + 1e-4 + .5 + 5.", "TRUE & !FALSE", "`a b` + c",
        "a %in% c(\"x\", \"y\")", "log(x, base=10)", "(a + b) * c", "a - (b - c)", "a/(b/c)",
        "(a^b)^c", "-a^b", "(-a)^b", "a:b:c", "x %% 2 == 0 | x %/% 3 > 1", "pmin(x, 3)",
        "1234567890123", "0.000012345", "3.14159265358979", "2e-308 * x", "ns(x, df = 4)")
out$deparse <- lapply(dp, function(t) list(text = t, r = deparse(str2lang(t), backtick = TRUE)))
# scale(): R's predict() would recompute it on new data; the fitting data's centre and scale
sx <- scale(d$x)
out$scale <- list(center = attr(sx, "scaled:center"), scale = attr(sx, "scaled:scale"),
                  X = as.numeric(sx), Xnew = (nd$x - attr(sx, "scaled:center")) /
                    attr(sx, "scaled:scale"))

# ---- fits -----------------------------------------------------------------------------------
sleep <- sleepstudy
sleep[["Δ days"]] <- sleep$Days
ortho <- as.data.frame(Orthodont)
ortho$Subject <- factor(as.character(ortho$Subject))
ortho$Sex <- factor(as.character(ortho$Sex), levels = c("Male", "Female"))
ortho$agef <- factor(ortho$age, ordered = TRUE)
ox <- as.data.frame(Oxboys)
ox$Subject <- factor(as.character(ox$Subject))
quine <- MASS::quine
clotting <- data.frame(u = c(5, 10, 15, 20, 30, 40, 60, 80, 100),
                       lot1 = c(118, 58, 42, 35, 27, 25, 21, 19, 18))
out$data <- list(ortho = df_json(ortho), oxboys = df_json(ox), quine = df_json(quine),
                 clotting = df_json(clotting), cars = df_json(cars))
fits <- list()
# tight optimiser and IRLS settings, so the references are the optima (not R's default stops)
gctl <- glmerControl(tolPwrss = 1e-13, optimizer = "bobyqa",
                     optCtrl = list(rhobeg = 2e-3, rhoend = 1e-10, maxfun = 1e5))
lctl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
tight <- glm.control(epsilon = 1e-14, maxit = 200)
add <- function(name, fit, data, newdata = NULL, family = "gaussian", call = "lmer",
                method = "REML", pyformula = NULL) {
  f <- formula(fit)
  rec <- list(name = name, formula = paste(deparse(f, width.cutoff = 500), collapse = ""),
              family = family, call = call, method = method, data = data,
              fixef = as.list(if (inherits(fit, "merMod")) fixef(fit) else coef(fit)),
              logLik = as.numeric(logLik(fit)))
  if (!is.null(pyformula)) rec$pyformula <- pyformula
  if (inherits(fit, "merMod")) {
    vc <- as.data.frame(VarCorr(fit))
    rec$varcorr <- list(grp = vc$grp, var1 = ifelse(is.na(vc$var1), "", vc$var1),
                        var2 = ifelse(is.na(vc$var2), "", vc$var2), sdcor = vc$sdcor)
  }
  if (!is.null(newdata)) {
    rec$newdata <- df_json(newdata)
    rec$pred_link <- if (inherits(fit, "merMod")) unname(predict(fit, newdata, re.form = NA))
                     else unname(predict(fit, newdata))
    if (inherits(fit, "merMod") && all(names(getME(fit, "flist")) %in% names(newdata)))
      rec$pred_cond <- unname(predict(fit, newdata))
  }
  fits[[length(fits) + 1]] <<- rec
}
ndays <- data.frame(Days = c(0, 2.5, 9, 11, 12),
                    Subject = factor(c("308", "309", "372", "308", "335")))
add("sleep_poly", lmer(Reaction ~ poly(Days, 2) + (1 | Subject), sleep, control = lctl), "sleepstudy", ndays)
add("sleep_ns", lmer(Reaction ~ ns(Days, df = 3) + (Days | Subject), sleep, REML = FALSE, control = lctl),
    "sleepstudy", ndays, method = "ML")
add("sleep_bs", suppressWarnings(lmer(Reaction ~ bs(Days, df = 4) + (1 | Subject), sleep, control = lctl)),
    "sleepstudy", data.frame(Days = c(0, 2.5, 9)))
add("sleep_logical", lmer(Reaction ~ I(Days > 2) + sqrt(Days) + (1 | Subject), sleep, control = lctl),
    "sleepstudy", ndays)
add("sleep_factor", lmer(Reaction ~ factor(Days) + (1 | Subject), sleep, control = lctl), "sleepstudy",
    data.frame(Days = c(0, 4, 9)))
nbq <- data.frame(x = c(0, 2.5, 9), Subject = c("308", "309", "372"))
names(nbq)[1] <- "Δ days"
add("sleep_backquote", lmer(Reaction ~ `Δ days` + (`Δ days` | Subject), sleep, control = lctl), "sleepstudy",
    nbq)
add("sleep_ranef_expr", lmer(Reaction ~ Days + (I(Days - 4.5) | Subject), sleep, control = lctl), "sleepstudy",
    ndays)
fs <- lmer(Reaction ~ scale(Days) + (1 | Subject), sleep, control = lctl)
sc <- scale(sleep$Days)
add("sleep_scale", fs, "sleepstudy")
fits[[length(fits)]]$newdata <- df_json(ndays)
fits[[length(fits)]]$pred_link <- unname(fixef(fs)[1] + fixef(fs)[2] *
                                           (ndays$Days - attr(sc, "scaled:center")) /
                                           attr(sc, "scaled:scale"))
northo <- data.frame(age = c(8, 11, 14, 16), Sex = factor(c("Male", "Female", "Female", "Male"),
                                                          levels = c("Male", "Female")))
add("ortho_interact", lmer(distance ~ I(age - 11) * Sex + (1 | Subject), ortho, control = lctl), "ortho",
    northo)
add("ortho_ordered_call", lmer(distance ~ ordered(age) + Sex + (1 | Subject), ortho, control = lctl), "ortho")
add("ortho_ordered_column", lmer(distance ~ agef + (1 | Subject), ortho, control = lctl), "ortho",
    data.frame(agef = factor(c(8, 12, 14), levels = c(8, 10, 12, 14), ordered = TRUE)))
add("ortho_nested", lmer(distance ~ Sex/age + (1 | Subject), ortho, REML = FALSE, control = lctl), "ortho",
    northo, method = "ML")
add("oxboys_poly", lmer(height ~ poly(age, 2) + (age | Subject), ox, REML = FALSE, control = lctl), "oxboys",
    data.frame(age = c(-1, 0, 0.7, 1.2), Subject = c("1", "2", "10", "26")), method = "ML")
add("cbpp_probit", glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
                         binomial(link = "probit"), control = gctl), "cbpp",
    data.frame(period = factor(1:4)), family = 'binomial(link="probit")', call = "glmer",
    method = "ML")
fits[[length(fits) + 1]] <- fits[[length(fits)]]
fits[[length(fits)]]$name <- "cbpp_trials"
fits[[length(fits)]]$pyformula <- "incidence | trials(size) ~ period + (1 | herd)"
add("cbpp_offset", glmer(incidence ~ period + offset(log(size)) + (1 | herd), cbpp, poisson, control = gctl),
    "cbpp", family = 'poisson(link="log")', call = "glmer", method = "ML")
add("quine_sqrt", glm(Days ~ Eth + Sex + Age, poisson(link = "sqrt"), quine, control = tight), "quine",
    quine[c(1, 50, 100), c("Eth", "Sex", "Age")], family = 'poisson(link="sqrt")', call = "glm",
    method = "ML")
add("quine_sum", glm(Days ~ C(Age, contr.sum) * Sex, poisson, quine, control = tight), "quine",
    family = "poisson", call = "glm", method = "ML")
add("quine_dot", glm(Days ~ . - Lrn, poisson, quine, control = tight), "quine",
    family = "poisson", call = "glm", method = "ML")
nclot <- data.frame(u = c(7, 25, 120))
add("clotting_gamma_log", glm(lot1 ~ log(u), Gamma(link = "log"), clotting, control = tight), "clotting",
    nclot, family = 'Gamma(link="log")', call = "glm", method = "ML")
add("clotting_gamma", glm(lot1 ~ log(u), Gamma, clotting, control = tight), "clotting", nclot,
    family = "Gamma", call = "glm", method = "ML")
add("clotting_invgauss", glm(lot1 ~ log(u), inverse.gaussian, clotting, control = tight), "clotting", nclot,
    family = "inverse.gaussian", call = "glm", method = "ML")
add("clotting_invgauss_log", glm(lot1 ~ log(u), inverse.gaussian(link = "log"), clotting, control = tight),
    "clotting", nclot, family = 'inverse.gaussian(link = "log")', call = "glm", method = "ML")
add("cars_sqrt", glm(sqrt(dist) ~ poly(speed, 2, raw = TRUE), gaussian, cars, control = tight), "cars",
    data.frame(speed = c(3, 12.5, 30)), call = "glm", method = "ML")
add("cars_ns", glm(log(dist) ~ ns(speed, knots = c(10, 15)), gaussian, cars, control = tight), "cars",
    data.frame(speed = c(3, 12.5, 30)), call = "glm", method = "ML")
out$fits <- fits
# a smooth of an expression: mgcv evaluates s(log(speed)) on the data and on new data
suppressPackageStartupMessages(library(mgcv))
gm <- gam(dist ~ s(log(speed), bs = "cr", k = 6), data = cars, method = "REML")
gnew <- data.frame(speed = c(4, 11.5, 24))
out$gam <- list(formula = "dist ~ s(log(speed), bs='cr', k=6)", score = unname(gm$gcv.ubre),
                coef = unname(coef(gm)), edf = sum(gm$edf),
                pred_link = unname(predict(gm, gnew)), newdata = df_json(gnew))
out$versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"),
           "tests/reference/formula/formula_reference.json")
