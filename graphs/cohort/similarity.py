"""Patient-similarity edges: k nearest neighbours by cosine similarity.

Computed in row blocks so 100k patients never need a dense 100k x 100k matrix.

Examples:
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> src, dst, w = knn_edges(x, k=1)
    >>> list(zip(src.tolist(), dst.tolist()))
    [(0, 1), (1, 0), (2, 1)]
"""

from __future__ import annotations

import torch

from ontologies.errors import InputError

__all__ = ["knn_edges"]


def knn_edges(x: torch.Tensor, k: int, block: int = 4096
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Edges from each row to its ``k`` most cosine-similar other rows.

    Args:
        x: Features ``[n, d]``; all-zero rows (nothing observed) get no edges.
        k: Neighbours per row (fewer when ``n - 1 < k``).
        block: Rows per similarity block (memory ~ ``block * n`` floats).

    Returns:
        ``(src, dst, similarity)``, each of length ``<= n * k``.
    """
    if x.dim() != 2:
        raise InputError(f"knn_edges expects [n, d] features, got shape {tuple(x.shape)}")
    if k <= 0:
        raise InputError(f"k must be positive, got {k}")
    n = x.shape[0]
    k = min(k, n - 1)
    empty = torch.empty(0, dtype=torch.long)
    if k <= 0:
        return empty, empty, torch.empty(0)
    z = torch.nn.functional.normalize(x.float(), dim=1)
    valid = z.norm(dim=1) > 0
    srcs, dsts, sims = [], [], []
    for start in range(0, n, block):
        sim = z[start:start + block] @ z.T
        rows = torch.arange(start, min(start + block, n))
        sim[torch.arange(len(rows)), rows] = -float("inf")  # no self loops
        sim[:, ~valid] = -float("inf")
        val, idx = sim.topk(k, dim=1)
        keep = torch.isfinite(val) & valid[rows].unsqueeze(1)
        srcs.append(rows.unsqueeze(1).expand(-1, k)[keep])
        dsts.append(idx[keep])
        sims.append(val[keep])
    return torch.cat(srcs), torch.cat(dsts), torch.cat(sims)
