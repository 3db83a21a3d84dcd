"""DiagGMM: the Viterbi-EM update and variance smoothing."""

import numpy as np

from aligner.gmm import DiagGMM


def _two_pdfs(rng):
    """pdf 0: narrow data around 0; pdf 1: broad data around 5 (2-d)."""
    x = np.concatenate([rng.normal(0.0, 0.5, (400, 2)), rng.normal(5.0, 2.0, (600, 2))])
    pdf = np.repeat([0, 1], [400, 600])
    return x, pdf


def test_update_is_maximum_likelihood_for_one_gaussian_per_pdf():
    rng = np.random.default_rng(0)
    x, pdf = _two_pdfs(rng)
    g = DiagGMM.flat(2, x.mean(0), x.var(0))
    occ = g.update(x, pdf, x.var(0))
    assert occ.tolist() == [400, 600]
    for j in (0, 1):
        np.testing.assert_allclose(g.means[j][0], x[pdf == j].mean(0), rtol=1e-6)
        np.testing.assert_allclose(g.variances[j][0], x[pdf == j].var(0), rtol=1e-6)


def test_variance_smoothing_pulls_toward_the_pooled_variance():
    rng = np.random.default_rng(1)
    x, pdf = _two_pdfs(rng)
    own = [x[pdf == j].var(0) for j in (0, 1)]
    pooled = (400 * own[0] + 600 * own[1]) / 1000          # occupancy-weighted
    g = DiagGMM.flat(2, x.mean(0), x.var(0))
    g.update(x, pdf, x.var(0), var_smooth=0.3)
    for j in (0, 1):
        np.testing.assert_allclose(g.variances[j][0], 0.7 * own[j] + 0.3 * pooled, rtol=1e-6)
        np.testing.assert_allclose(g.means[j][0], x[pdf == j].mean(0), rtol=1e-6)   # means untouched
    g.update(x, pdf, x.var(0), var_smooth=1.0)                                  # fully tied
    np.testing.assert_allclose(g.variances[0], g.variances[1], rtol=1e-6)
    # the scores the aligner uses come from the smoothed variances
    ll = g.loglik(np.zeros((1, 2)))
    expect = [-0.5 * np.sum(np.log(2 * np.pi * g.variances[j][0]) + g.means[j][0] ** 2 / g.variances[j][0])
              for j in (0, 1)]
    np.testing.assert_allclose(ll[0], expect, rtol=1e-6)
