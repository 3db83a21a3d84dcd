"""Acoustic models and the model directory.

A model directory holds `config.json` (phone set, topology with transition probabilities, feature
settings, priors, training history) and weights as plain arrays: `gmm.npz` (numpy, loaded with
allow_pickle=False) and `bilstm-r<round>.pt` (a torch state_dict, loaded with weights_only=True).
config.json is written last and names the weights file it goes with, so a run stopped while saving
leaves the previous checkpoint whole.
Both models answer `loglik(item) -> (T, num_pdfs)` scaled log-likelihoods for the Viterbi.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .errors import ModelError
from .features import FeatureConfig, atomic_write_bytes
from .graph import Topology
from .gmm import DiagGMM


class BiLSTM:
    """Factory for the torch module, kept out of module scope so importing this file is cheap."""

    @staticmethod
    def create(input_dim: int, num_classes: int, hidden: int = 192, layers: int = 2, dropout: float = 0.2):
        import torch.nn as nn

        class _Net(nn.Module):
            """(B, T, F) features -> (B, T, P) log-posteriors over classes."""

            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(input_dim, hidden, num_layers=layers, batch_first=True,
                                    bidirectional=True, dropout=dropout if layers > 1 else 0.0)
                self.drop = nn.Dropout(dropout)
                self.out = nn.Linear(2 * hidden, num_classes)

            def forward(self, x, lengths=None):
                import torch
                from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

                if lengths is not None:
                    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
                    h, _ = self.lstm(packed)
                    h, _ = pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])
                else:
                    h, _ = self.lstm(x)
                return torch.log_softmax(self.out(self.drop(h)), dim=-1)

        return _Net()


class AcousticModel:
    def __init__(self, topo: Topology, features: FeatureConfig, gmm: DiagGMM, config: dict,
                 net=None, net_log_prior: np.ndarray | None = None):
        self.topo = topo
        self.features = features
        self.gmm = gmm
        self.config = config          # everything else: scales, history, net settings
        self.net = net
        self.net_log_prior = net_log_prior

    @property
    def phones(self) -> tuple[str, ...]:
        return self.topo.phones

    # ------------------------------------------------------------------ scoring
    def gmm_loglik(self, item) -> np.ndarray:
        return (self.config.get("acoustic_scale", 0.1) * self.gmm.loglik(item.gmm)).astype(np.float32)

    def net_logpost(self, items, batch: int = 16, window: int = 4000, context: int = 400) -> list[np.ndarray]:
        """Log posteriors (T, C) of the network for each item (batched, no grad). Items longer
        than `window` frames go through in overlapping windows (bounded memory for long files)."""
        import torch

        from .data_prep import Item

        self.net.eval()
        long = {i for i, it in enumerate(items) if it.num_frames > window + 2 * context}
        if long:
            out = self.net_logpost([it for i, it in enumerate(items) if i not in long], batch, window, context)
            res, k = [], 0
            for i, it in enumerate(items):
                if i in long:
                    parts = []
                    for a in range(0, it.num_frames, window):
                        lo, hi = max(0, a - context), min(it.num_frames, a + window + context)
                        y = self.net_logpost([Item(it.id, it.speaker, [], 0.0, it.gmm[lo:hi], it.nn[lo:hi])],
                                             1, window, context)[0]
                        parts.append(y[a - lo:a - lo + min(window, it.num_frames - a)])
                    res.append(np.concatenate(parts))
                else:
                    res.append(out[k])
                    k += 1
            return res
        out: list = [None] * len(items)
        order = sorted(range(len(items)), key=lambda i: items[i].num_frames)   # little padding
        with torch.no_grad():
            for i in range(0, len(order), batch):
                idx = order[i:i + batch]
                T = max(items[j].num_frames for j in idx)
                x = torch.zeros(len(idx), T, items[idx[0]].nn.shape[1])
                for b, j in enumerate(idx):
                    x[b, :items[j].num_frames] = torch.from_numpy(items[j].nn)
                lens = torch.tensor([items[j].num_frames for j in idx])
                y = self.net(x, lens).numpy()
                for b, j in enumerate(idx):
                    out[j] = y[b, :items[j].num_frames]
        return out

    def logliks(self, items) -> list[np.ndarray]:
        """Scaled log-likelihoods (T, num_pdfs) for each item, from the GMM, the network or both."""
        g = [self.gmm_loglik(it) for it in items]
        if self.net is None or self.config.get("net_weight", 0.0) == 0.0:
            return g
        w = self.config["net_weight"]
        scale = self.config.get("net_scale", 1.0)
        cls_of_pdf = np.asarray(self.config["net_class_of_pdf"])
        post = self.net_logpost(items)
        out = []
        for gi, lp in zip(g, post):
            ll = scale * (lp - self.net_log_prior)[:, cls_of_pdf]
            out.append(((1 - w) * gi + w * ll).astype(np.float32))
        return out

    # ------------------------------------------------------------------ storage
    def save(self, model_dir: str | Path):
        d = Path(model_dir)
        d.mkdir(parents=True, exist_ok=True)
        cfg = dict(self.config)
        cfg.update(phones=list(self.topo.phones), states_per_phone=list(self.topo.states_per_phone),
                   loop_prob=list(self.topo.loop_prob), features=self.features.to_json())
        if self.net_log_prior is not None:
            cfg["net_log_prior"] = self.net_log_prior.tolist()
        import io

        buf = io.BytesIO()
        np.savez(buf, **self.gmm.state_dict())
        atomic_write_bytes(d / "gmm.npz", buf.getvalue())
        if self.net is not None:
            import torch

            cfg["net_file"] = f"bilstm-r{cfg.get('round', 0)}.pt"
            buf = io.BytesIO()
            torch.save(self.net.state_dict(), buf)
            atomic_write_bytes(d / cfg["net_file"], buf.getvalue())
        atomic_write_bytes(d / "config.json", json.dumps(cfg, indent=1).encode())
        for old in d.glob("bilstm-r*.pt"):            # weights no config points to any more
            if old.name != cfg.get("net_file"):
                old.unlink()

    @classmethod
    def load(cls, model_dir: str | Path) -> "AcousticModel":
        d = Path(model_dir)
        if not d.is_dir():
            raise ModelError(f"model directory {d} does not exist")
        try:
            cfg = json.loads((d / "config.json").read_text())
            topo = Topology(tuple(cfg.pop("phones")), tuple(cfg.pop("states_per_phone")),
                            tuple(cfg.pop("loop_prob")))
            feats = FeatureConfig.from_json(cfg.pop("features"))
            with np.load(d / "gmm.npz", allow_pickle=False) as z:
                gmm = DiagGMM.from_state_dict({k: z[k] for k in z.files})
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelError(f"model directory {d} is unreadable: {type(e).__name__}: {e}") from None
        net, prior = None, None
        if cfg.get("net") and not cfg.get("net_file"):
            raise ModelError(f"{d / 'config.json'} describes a BiLSTM but names no weights file (net_file)")
        if cfg.get("net_file"):
            import torch

            path = d / cfg["net_file"]
            try:
                net = BiLSTM.create(**cfg["net"])
                net.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"))
            except Exception as e:
                raise ModelError(f"{path} is unreadable: {e}") from None
            prior = np.asarray(cfg.pop("net_log_prior"), np.float32)
        return cls(topo, feats, gmm, cfg, net, prior)
