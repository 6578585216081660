# mclust's side of benchmarks/select_speed.py: time Mclust() at its defaults on one CSV file.
#
#   Rscript benchmarks/select_mclust.R DATA.csv OUT.csv REPEATS [MODELS [WARMUPS]]
#
# DATA.csv holds numeric columns only. MODELS is a comma-separated list of mclust model names
# (default: all fourteen, as Mclust() does). Writes one row per (model, K) cell with mclust's BIC
# (2 log L - p log n, higher is better) and, in every row, the median elapsed seconds of REPEATS
# calls of Mclust(X, G = 1:9, modelNames = MODELS), after WARMUPS untimed calls (default 0; the first
# call of a process loads mclust's code). Not run by CI: the tests do not need R.

suppressPackageStartupMessages(library(mclust))

args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1]))
out <- args[2]
repeats <- as.integer(args[3])
models <- if (length(args) >= 4) strsplit(args[4], ",")[[1]] else mclust.options("emModelNames")
if (ncol(X) == 1) models <- intersect(c("E", "V"), c("E", "V"))
warmups <- if (length(args) >= 5) as.integer(args[5]) else 0L

for (r in seq_len(warmups)) {
  set.seed(0)
  Mclust(X, G = 1:9, modelNames = models, verbose = FALSE)
}

times <- numeric(repeats)
for (r in seq_len(repeats)) {
  start <- proc.time()[["elapsed"]]
  set.seed(0)  # above 2,000 rows Mclust builds its tree on a random subset: the same one each run
  fit <- Mclust(X, G = 1:9, modelNames = models, verbose = FALSE)
  times[r] <- proc.time()[["elapsed"]] - start
}
bic <- fit$BIC
rows <- expand.grid(n_components = as.integer(rownames(bic)), mclust_model = colnames(bic),
                    stringsAsFactors = FALSE)
rows$mclust_bic <- as.vector(bic[cbind(as.character(rows$n_components), rows$mclust_model)])
rows$seconds <- median(times)
rows$chosen_model <- fit$modelName
rows$chosen_k <- fit$G
write.csv(rows, out, row.names = FALSE)
