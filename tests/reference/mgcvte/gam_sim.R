# gamSim's truth for examples 1, 2, 4, 6 on R's own draws (mgcv 1.8-41): the tests
# recompute the truth from these covariates with spatialgamm.datasets' functions.
suppressMessages(library(mgcv))
set.seed(3)
write.csv(gamSim(1, n = 40, verbose = FALSE), "gamsim1.csv", row.names = FALSE)
write.csv(gamSim(2, n = 40, verbose = FALSE)$data, "gamsim2.csv", row.names = FALSE)
write.csv(gamSim(4, n = 40, verbose = FALSE), "gamsim4.csv", row.names = FALSE)
write.csv(gamSim(6, n = 40, verbose = FALSE), "gamsim6.csv", row.names = FALSE)
