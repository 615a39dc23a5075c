#!/usr/bin/env python3
"""Reference numbers for the Rust PLS and GP: scikit-learn on fixed data.

Run by hand (outputs are committed to tests/fixtures/sklearn/):

    python3 -m venv /tmp/venv-sk && /tmp/venv-sk/bin/pip install numpy scikit-learn
    /tmp/venv-sk/bin/python validation/sklearn/make_fixtures.py

Each fixture JSON holds the inputs (training and test matrices, row-major
lists), the settings, and scikit-learn's outputs, plus the versions used.
The data are drawn from a seeded NumPy generator, so rerunning the script
with the same NumPy reproduces them bit for bit.
"""
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.cross_decomposition import PLSRegression
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "sklearn")


def versions():
    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0]}


def dump(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path))


def rows(a):
    a = np.asarray(a, dtype=float)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    return a.tolist()


def pls_case(name, n, p, q, n_components, seed):
    rng = np.random.default_rng(seed)
    # Correlated features (a few latent factors) of different scales and means,
    # targets linear in the latents plus noise: the setting PLS is made for.
    latent = rng.normal(size=(n + 10, 3))
    load = rng.normal(size=(3, p))
    X = latent @ load + 0.3 * rng.normal(size=(n + 10, p))
    X = X * rng.uniform(0.5, 20.0, size=p) + rng.uniform(-5, 50, size=p)
    Y = latent @ rng.normal(size=(3, q)) + 0.2 * rng.normal(size=(n + 10, q))
    Y = Y * rng.uniform(1.0, 5.0, size=q) + rng.uniform(0, 30, size=q)
    Xtr, Xte, Ytr = X[:n], X[n:], Y[:n]
    pls = PLSRegression(n_components=n_components, scale=True, max_iter=500, tol=1e-6)
    pls.fit(Xtr, Ytr if q > 1 else Ytr[:, 0])
    dump(name, {
        "versions": versions(),
        "settings": {"n_components": n_components, "scale": True, "max_iter": 500, "tol": 1e-6},
        "x_train": rows(Xtr), "y_train": rows(Ytr), "x_test": rows(Xte),
        "coef": rows(pls.coef_),  # q x p
        "intercept": np.atleast_1d(pls.intercept_).tolist(),
        "x_weights": rows(pls.x_weights_), "x_loadings": rows(pls.x_loadings_),
        "y_loadings": rows(pls.y_loadings_), "x_rotations": rows(pls.x_rotations_),
        "predict_test": rows(pls.predict(Xte)),
        "transform_test": rows(pls.transform(Xte)),
    })


def gp_data(n, p, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n + 12, p)) * np.arange(1, p + 1)
    f = np.sin(X[:, 0]) + 0.5 * np.cos(0.7 * X[:, -1]) + 0.1 * X.sum(axis=1)
    y = 10.0 + 3.0 * f + 0.05 * rng.normal(size=n + 12)
    return X[:n], y[:n], X[n:]


def gp_case(name, signal, lengths, noise, normalize_y, seed, n=25, p=3):
    Xtr, ytr, Xte = gp_data(n, p, seed)
    kernel = (ConstantKernel(signal, "fixed") * RBF(lengths, "fixed")
              + WhiteKernel(noise, "fixed"))
    gp = GaussianProcessRegressor(kernel=kernel, optimizer=None, normalize_y=normalize_y,
                                  alpha=1e-10)
    gp.fit(Xtr, ytr)
    mean, std = gp.predict(Xte, return_std=True)
    # Log marginal likelihood and gradient at the same θ, with free bounds.
    free = (ConstantKernel(signal) * RBF(lengths) + WhiteKernel(noise))
    gpf = GaussianProcessRegressor(kernel=free, optimizer=None, normalize_y=normalize_y,
                                   alpha=1e-10).fit(Xtr, ytr)
    lml, grad = gpf.log_marginal_likelihood(gpf.kernel_.theta, eval_gradient=True)
    # scikit-learn's own optimiser (L-BFGS-B, no restarts) from the same start.
    gpo = GaussianProcessRegressor(kernel=free, normalize_y=normalize_y, alpha=1e-10,
                                   n_restarts_optimizer=0, random_state=0).fit(Xtr, ytr)
    dump(name, {
        "versions": versions(),
        "settings": {"signal_variance": signal, "length_scales": np.atleast_1d(lengths).tolist(),
                     "noise_variance": noise, "normalize_y": normalize_y, "alpha": 1e-10},
        "x_train": rows(Xtr), "y_train": rows(ytr), "x_test": rows(Xte),
        "mean_test": np.asarray(mean).tolist(), "std_test": np.asarray(std).tolist(),
        "log_marginal_likelihood": float(gp.log_marginal_likelihood_value_),
        "theta": gpf.kernel_.theta.tolist(), "lml_at_theta": float(lml),
        "lml_gradient": np.asarray(grad).tolist(),
        "optimized_theta": gpo.kernel_.theta.tolist(),
        "optimized_lml": float(gpo.log_marginal_likelihood_value_),
    })


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    pls_case("pls_single_target.json", n=30, p=6, q=1, n_components=2, seed=11)
    pls_case("pls_two_targets.json", n=40, p=8, q=2, n_components=3, seed=12)
    gp_case("gp_ard_normalized.json", 2.0, [0.8, 1.5, 2.0], 0.01, True, seed=21)
    gp_case("gp_isotropic_raw.json", 25.0, 1.3, 0.05, False, seed=22)
