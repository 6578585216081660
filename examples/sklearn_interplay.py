"""gmm_numba.GaussianMixture inside scikit-learn: a Pipeline and a GridSearchCV.

The estimator follows scikit-learn's conventions (get_params/set_params,
clone, fit/predict/score), so it drops into a Pipeline after a
StandardScaler, and GridSearchCV can tune ``n_components`` and
``covariance_type``. Without a ``scoring`` argument GridSearchCV uses the
estimator's ``score``: the mean log-likelihood of held-out points (higher
is better), the cross-validated alternative to BIC. The script compares
the two choices on the iris measurements.

Run:  python examples/sklearn_interplay.py [--out FOLDER] [--fast]
(needs scikit-learn)
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # write files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import gmm_numba  # noqa: E402
from gmm_numba.datasets import load_iris  # noqa: E402

NAME = "sklearn_interplay"
MODELS = ["full", "tied", "diag", "spherical"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=NAME + "_output", help=f"folder for the figures (default {NAME}_output)")
    parser.add_argument("--fast", action="store_true", help="K = 1..3 and 3 folds (for the tests)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    frame = load_iris()
    species = frame.pop("Species")
    ks = list(range(1, 4)) if args.fast else list(range(1, 8))

    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("gmm", gmm_numba.GaussianMixture(n_init=1 if args.fast else 3, random_state=0)),
        ]
    )
    folds = KFold(n_splits=3 if args.fast else 5, shuffle=True, random_state=0)
    search = GridSearchCV(
        pipeline,
        {"gmm__n_components": ks, "gmm__covariance_type": MODELS},
        cv=folds,  # no `scoring`: the pipeline's score, the held-out mean log-likelihood
    )
    search.fit(frame)  # unsupervised: no y
    best = search.best_params_
    print(f"cross-validation chooses {best['gmm__covariance_type']} with K = {best['gmm__n_components']}")
    print(f"held-out mean log-likelihood per point: {search.best_score_:.3f}")

    scores = pd.DataFrame(search.cv_results_["params"])
    scores["score"] = search.cv_results_["mean_test_score"]
    scores["sd"] = search.cv_results_["std_test_score"]
    table = scores.pivot(index="gmm__covariance_type", columns="gmm__n_components", values="score").loc[MODELS]
    print("\nmean held-out log-likelihood per point (higher is better):")
    print(table.round(3).to_string())

    # The refitted best pipeline predicts like any other.
    labels = search.best_estimator_.predict(frame)
    print("\nspecies against the cross-validated choice:")
    print(pd.crosstab(species, pd.Series(labels, name="component")).to_string())

    # BIC on the same standardised data, for comparison.
    scaled = pd.DataFrame(StandardScaler().fit_transform(frame), columns=frame.columns)
    quick = {"n_init": 2} if args.fast else {}
    result = gmm_numba.select(scaled, n_components=ks, covariance_type=MODELS, random_state=0, **quick)
    sel = result["selection"].attrs
    print(f"\nBIC on the standardised data chooses {sel['best_covariance_type']} with K = {sel['best_n_components']}")

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for model in MODELS:
        rows = scores[scores["gmm__covariance_type"] == model]
        ax.errorbar(rows["gmm__n_components"], rows["score"], yerr=rows["sd"], marker="o", capsize=3, label=model)
    ax.set_xticks(ks)
    ax.set_xlabel("number of components")
    ax.set_ylabel("held-out mean log-likelihood (higher is better)")
    ax.set_title(f"GridSearchCV, {folds.get_n_splits()} folds (bars: sd over folds)")
    ax.legend()
    fig.tight_layout()
    path = os.path.join(args.out, "grid_search.png")
    fig.savefig(path, dpi=60 if args.fast else 120)
    plt.close(fig)
    print(f"wrote {path}")
    return [path]


if __name__ == "__main__":
    main()
