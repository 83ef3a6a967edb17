"""Smoothness of a generator along interpolations: perceptual path length on any feature extractor.

Karras et al.'s PPL (StyleGAN, as stylegan2-ada-pytorch computes it) with the world oracle's
features (or any extractor's) in place of LPIPS, documented as such:

    two prior latents mapped to W, t ~ U(0, 1) ("full" paths), w_t = lerp(w0, w1, t);
    d = || f(G(w_t)) - f(G(w_t+eps)) ||^2 / eps^2,  eps = 1e-4,

constant noise, float32 throughout (eps is below bf16's resolution), the values outside the 1st to
99th percentile dropped, the mean reported. Both latents come from the generator's own prior, so a
gene-bank model and a mapping network are measured along their own W; the numbers are comparable
between generators measured with the same extractor, not with published PPL values (LPIPS-VGG16).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ganatomy.errors import OptionsError

EPSILON = 1e-4


@torch.no_grad()
def path_length(
    G,
    features: Callable[[torch.Tensor], torch.Tensor],
    n: int = 2000,
    seed: int = 0,
    batch_size: int = 128,
    epsilon: float = EPSILON,
) -> dict[str, float]:
    """``{"ppl": mean, "ppl_median": median, "n": pairs kept}`` over ``n`` interpolation pairs in W."""
    if "w" not in G.latent_spaces:
        raise OptionsError(f"path length: {G.kind} has no W space to interpolate in")
    if n < 10:
        raise OptionsError(f"path length: needs at least 10 pairs, got {n}")
    g = torch.Generator().manual_seed(int(seed))
    values = []
    for start in range(0, int(n), int(batch_size)):
        b = min(int(batch_size), int(n) - start)
        w0 = G.to_space(G.sample_latents(b, generator=g), "w", c=G.sample_c(b, generator=g)).float()
        w1 = G.to_space(G.sample_latents(b, generator=g), "w", c=G.sample_c(b, generator=g)).float()
        t = torch.rand(b, 1, generator=g).to(w0.device)
        wa, wb = w0.lerp(w1, t), w0.lerp(w1, t + epsilon)
        images = G.synthesize(torch.cat([wa, wb]), "w", noise_mode="const").float()
        f = features(images).float()
        values.append(((f[:b] - f[b:]).square().sum(dim=1) / epsilon**2).cpu().numpy())
    d = np.concatenate(values).astype(np.float64)
    lo, hi = np.percentile(d, [1, 99])
    kept = d[(d >= lo) & (d <= hi)]
    return {"ppl": float(kept.mean()), "ppl_median": float(np.median(kept)), "n": int(kept.size)}
