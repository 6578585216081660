# mclust's side of the manual comparison with gmm_numba.select (see compare_mclust.py).
#
#   apt-get install -y r-cran-mclust
#   Rscript benchmarks/compare_mclust.R [OUT_DIR]
#
# Writes OUT_DIR/mclust_cells.csv (default: the current directory): for Old
# Faithful and iris[, 1:4], one row per cell (model, G) of Mclust(X, G = 1:9)
# for the four models gmm_numba also has (VVV = full, EEE = tied, VVI = diag,
# VII = spherical), with mclust's BIC and ICL (higher is better: 2 log L - p
# log n), the parameter count and the log-likelihood implied by the BIC.
# A cell that mclust could not fit (singular covariance) has BIC NA.
# Not run by CI: the tests do not need R.

suppressPackageStartupMessages(library(mclust))

args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args) >= 1) args[1] else "."

models <- c(VVV = "full", EEE = "tied", VVI = "diag", VII = "spherical")
datasets <- list(faithful = datasets::faithful, iris = datasets::iris[, 1:4])

cells <- function(name, X) {
  X <- as.matrix(X)
  n <- nrow(X)
  d <- ncol(X)
  # Mclust's defaults: hierarchical agglomeration initialisation, EM to its tolerances.
  bic <- mclustBIC(X, G = 1:9, modelNames = names(models), verbose = FALSE)
  icl <- mclustICL(X, G = 1:9, modelNames = names(models), verbose = FALSE)
  rows <- list()
  for (m in names(models)) {
    for (G in 1:9) {
      b <- bic[as.character(G), m]
      p <- nMclustParams(m, d, G)
      rows[[length(rows) + 1]] <- data.frame(
        dataset = name,
        mclust_model = m,
        covariance_type = models[[m]],
        n_components = G,
        n_parameters = p,
        mclust_bic = b,
        mclust_icl = icl[as.character(G), m],
        log_likelihood = (b + p * log(n)) / 2
      )
    }
  }
  do.call(rbind, rows)
}

table <- do.call(rbind, lapply(names(datasets), function(name) cells(name, datasets[[name]])))
path <- file.path(out_dir, "mclust_cells.csv")
write.csv(table, path, row.names = FALSE)
cat(sprintf("mclust %s: wrote %d cells to %s\n", packageVersion("mclust"), nrow(table), path))
