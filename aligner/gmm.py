"""Diagonal-covariance GMMs, one per HMM state (pdf), for the monophone flat-start bootstrap.

Trained by Viterbi EM: each frame is assigned to a pdf by the current alignment; within a pdf the
mixture components are re-estimated by one EM step per iteration. Components are added by
splitting the heaviest ones (mixing up), Gaussians allotted to pdfs in proportion to occupancy^0.2
(Kaldi's rule). Variances can be smoothed toward their pooled value (update(var_smooth=...)).
"""

from __future__ import annotations

import numpy as np

VAR_FLOOR = 1e-3     # relative to the global variance


class DiagGMM:
    def __init__(self, weights: list[np.ndarray], means: list[np.ndarray], variances: list[np.ndarray]):
        self.weights = weights        # per pdf: (M_j,)
        self.means = means            # per pdf: (M_j, D)
        self.variances = variances    # per pdf: (M_j, D)
        self._pack()

    @property
    def num_pdfs(self) -> int:
        return len(self.weights)

    @property
    def num_gauss(self) -> int:
        return int(sum(len(w) for w in self.weights))

    def _pack(self):
        self.owner = np.concatenate([np.full(len(w), j) for j, w in enumerate(self.weights)])
        mu = np.concatenate(self.means).astype(np.float64)
        var = np.concatenate(self.variances).astype(np.float64)
        w = np.concatenate(self.weights).astype(np.float64)
        self._inv = 1.0 / var
        self._mu_inv = mu * self._inv
        self._const = (np.log(np.maximum(w, 1e-20)) - 0.5 * np.sum(np.log(2 * np.pi * var), axis=1)
                       - 0.5 * np.sum(mu * mu * self._inv, axis=1))

    @classmethod
    def flat(cls, num_pdfs: int, mean: np.ndarray, var: np.ndarray) -> "DiagGMM":
        """Every pdf one Gaussian with the global mean and variance (the flat start)."""
        return cls([np.ones(1) for _ in range(num_pdfs)], [mean[None].copy() for _ in range(num_pdfs)],
                   [var[None].copy() for _ in range(num_pdfs)])

    def component_loglik(self, x: np.ndarray) -> np.ndarray:
        """(T, D) -> (T, G) log w_g N(x; mu_g, var_g)."""
        x = x.astype(np.float64)
        return -0.5 * (x * x) @ self._inv.T + x @ self._mu_inv.T + self._const

    def loglik(self, x: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """(T, D) -> (T, num_pdfs) log p(x | pdf), `chunk` frames at a time (bounded memory)."""
        if len(x) > chunk:
            return np.concatenate([self.loglik(x[i:i + chunk], chunk) for i in range(0, len(x), chunk)])
        c = self.component_loglik(x)
        out = np.full((len(x), self.num_pdfs), -np.inf)
        # components of one pdf are contiguous: reduce each block with logsumexp
        start = 0
        for j, w in enumerate(self.weights):
            blk = c[:, start:start + len(w)]
            if len(w) == 1:
                out[:, j] = blk[:, 0]
            else:
                m = blk.max(axis=1, keepdims=True)
                out[:, j] = m[:, 0] + np.log(np.exp(blk - m).sum(axis=1))
            start += len(w)
        return out

    def update(self, x: np.ndarray, pdf_of_frame: np.ndarray, global_var: np.ndarray,
               min_count: float = 3.0, var_smooth: float = 0.0):
        """One Viterbi-EM step: frames x (N, D) assigned to pdfs; returns occupancy per pdf.

        var_smooth = a > 0 pulls every variance that far toward the pooled within-class variance,
        var <- (1 - a) var + a pooled (see train.GmmConfig.var_smooth for why)."""
        x = x.astype(np.float64)
        c = self.component_loglik(x)
        J = self.num_pdfs
        occ = np.bincount(pdf_of_frame, minlength=J).astype(np.float64)
        order = np.argsort(pdf_of_frame, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(occ)]).astype(np.int64)
        start = 0
        floor = VAR_FLOOR * global_var
        for j in range(J):
            M = len(self.weights[j])
            idx = order[bounds[j]:bounds[j + 1]]
            if len(idx) < min_count:
                start += M
                continue
            xj = x[idx]
            blk = c[idx, start:start + M]
            r = np.exp(blk - blk.max(axis=1, keepdims=True))
            r /= r.sum(axis=1, keepdims=True)
            n = r.sum(axis=0)
            keep = n > min_count if M > 1 else np.ones(1, bool)
            if not keep.any():
                keep[np.argmax(n)] = True
            r, n = r[:, keep], n[keep]
            mu = (r.T @ xj) / n[:, None]
            var = (r.T @ (xj * xj)) / n[:, None] - mu * mu
            self.means[j] = mu
            self.variances[j] = np.maximum(var, floor)
            self.weights[j] = n / n.sum()
            start += M
        if var_smooth > 0:
            n = [self.weights[j] * occ[j] for j in range(J)]        # occupancy of each component
            pooled = sum((n[j][:, None] * self.variances[j]).sum(axis=0) for j in range(J)) / occ.sum()
            for j in range(J):
                self.variances[j] = (1 - var_smooth) * self.variances[j] + var_smooth * pooled[None]
        self._pack()
        return occ

    def mix_up(self, target: int, occ: np.ndarray, power: float = 0.2, perturb: float = 0.2):
        """Split components until about `target` Gaussians in all, allotted by occ^power."""
        if target <= self.num_gauss:
            return
        alloc = occ ** power
        alloc = np.maximum(1, np.round(alloc / alloc.sum() * target)).astype(int)
        for j in range(self.num_pdfs):
            while len(self.weights[j]) < alloc[j] and occ[j] >= 20 * (len(self.weights[j]) + 1):
                k = int(np.argmax(self.weights[j]))
                w, mu, var = self.weights[j], self.means[j], self.variances[j]
                d = perturb * np.sqrt(var[k])
                self.weights[j] = np.concatenate([w, [w[k] / 2]])
                self.weights[j][k] = w[k] / 2
                self.means[j] = np.vstack([mu, mu[k] + d])
                self.means[j][k] = mu[k] - d
                self.variances[j] = np.vstack([var, var[k]])
        self._pack()

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"counts": np.array([len(w) for w in self.weights]), "weights": np.concatenate(self.weights),
                "means": np.concatenate(self.means), "variances": np.concatenate(self.variances)}

    @classmethod
    def from_state_dict(cls, d) -> "DiagGMM":
        cuts = np.cumsum(d["counts"])[:-1]
        return cls(list(np.split(d["weights"], cuts)), list(np.split(d["means"], cuts)),
                   list(np.split(d["variances"], cuts)))
