"""p(attribute | DNA) for the posterior sampler: a small network on the DNA's gene vectors.

The judged attribute of a gene model's image is a function of its latent, the concatenation of the
chosen variants' vectors. A model on those vectors shares strength across variants that lie close
in the latent, where a model on the variant indices (one free parameter per gene, variant and
class) has to learn each variant on its own and overfits: on the shipped 32-gene model the
held-out cross-entropy of the hair style is 0.99 nats with an additive model on one-hot indices,
0.65 with a linear model on the vectors and 0.35 with this one (docs/results.md).

The network has one hidden layer, ``logits = W2 silu(h) + b2`` with ``h = b1 + sum_i U[i, s_i]``:
the first layer is linear in the gene vectors, so it splits into one table ``U [n_genes, K, H]`` of
each variant's contribution. A Gibbs step that tries all K variants of one gene for n chains then
costs one [n, K, H] addition and the small second layer, not K forward passes.

Training: the gene vectors standardised per coordinate over the variants (exact under the uniform
DNA prior), soft targets, AdamW, and early stopping on a held-out fifth of the samples (the
network reaches its best held-out loss within a few tens of epochs and overfits after).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

HIDDEN = 256
MAX_EPOCHS = 200
PATIENCE = 10  # epochs without a better held-out loss before training stops
BATCH = 128
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-2
HELD_OUT = 0.2


class GeneAttributeModel(nn.Module):
    """Softmax over C classes from a DNA [n, n_genes], through the genes' variant vectors [n_genes, K, D]."""

    def __init__(self, variant_table: torch.Tensor, n_classes: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        table = torch.as_tensor(variant_table, dtype=torch.float32)
        n_genes, _, gene_dim = table.shape
        mean, std = table.mean(dim=1, keepdim=True), table.std(dim=1, keepdim=True)
        self.register_buffer("features", (table - mean) / std.clamp_min(1e-8))  # [n_genes, K, D]
        self.first = nn.Linear(n_genes * gene_dim, hidden)
        self.second = nn.Linear(hidden, n_classes)
        self.n_genes, self.gene_dim = n_genes, gene_dim
        self.held_out_loss = math.nan  # set by fit_attribute_model: the best held-out cross-entropy, nats

    def contributions(self) -> torch.Tensor:
        """U [n_genes, K, H]: each variant's share of the first layer's pre-activation."""
        weight = self.first.weight.T.reshape(self.n_genes, self.gene_dim, -1)  # [n_genes, D, H]
        return torch.einsum("gkd,gdh->gkh", self.features, weight)

    def hidden(self, dna: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """The first layer's pre-activation h [n, H] (``table``: ``contributions()``, when already at hand)."""
        table = self.contributions() if table is None else table
        return self.first.bias + table[torch.arange(self.n_genes), dna].sum(dim=1)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits [..., C] from pre-activations [..., H]."""
        return self.second(F.silu(hidden))

    def forward(self, dna: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(dna))

    def log_prob(self, dna: torch.Tensor) -> torch.Tensor:
        """log p(class | dna) [n, C], in float64."""
        with torch.no_grad():
            return torch.log_softmax(self(dna).double(), dim=1)


def fit_attribute_model(
    variant_table: np.ndarray | torch.Tensor, dna: np.ndarray, targets: np.ndarray, seed: int = 0
) -> GeneAttributeModel:
    """The model of soft ``targets`` [M, C] given ``dna`` [M, n_genes], early-stopped on a held-out fifth."""
    generator = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):  # nn.Linear's initialisation draws from the global generator
        torch.manual_seed(int(seed))
        model = GeneAttributeModel(variant_table, targets.shape[1])
    index = torch.from_numpy(np.asarray(dna, dtype=np.int64))
    y = torch.from_numpy(np.asarray(targets, dtype=np.float32))
    order = torch.randperm(len(index), generator=generator)
    n_held = max(1, int(math.ceil(HELD_OUT * len(index))))
    held, train = order[:n_held], order[n_held:]
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)

    def loss_of(rows: torch.Tensor) -> torch.Tensor:
        return -(y[rows] * torch.log_softmax(model(index[rows]), dim=1)).sum(dim=1).mean()

    best, best_state, waited = math.inf, None, 0
    for _ in range(MAX_EPOCHS):
        for rows in train[torch.randperm(len(train), generator=generator)].split(BATCH):
            optimizer.zero_grad()
            loss_of(rows).backward()
            optimizer.step()
        with torch.no_grad():
            held_loss = float(loss_of(held))
        if held_loss < best - 1e-4:
            best, best_state, waited = held_loss, {k: v.clone() for k, v in model.state_dict().items()}, 0
        else:
            waited += 1
            if waited >= PATIENCE:
                break
    model.load_state_dict(best_state)
    model.held_out_loss = best
    return model.eval().requires_grad_(False)
