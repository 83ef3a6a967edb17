"""Shared fixtures: the real Fashion-MNIST files, one thread per library, and the planted generator.

``PlantedGenerator`` is the known-answer generator of the analysis tests: its latent coordinates
are the world's factors, so a method that finds directions, regresses an attribute or clusters
features can be checked against the truth. Use it through the ``planted`` fixture (the class) or
``from conftest import PlantedGenerator``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import ndtr

from ganatomy.worlds import FACTORS, LABEL_FACTOR, PART_LABELS, FaceWorld


@pytest.fixture
def real_fashion_mnist():
    """The real Fashion-MNIST files (Debian's dataset-fashion-mnist, which .ci/run installs)."""
    from ganatomy.data import fashion_mnist as fm

    if not (fm.DEFAULT_ROOT / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST is not installed at {fm.DEFAULT_ROOT} (apt-get install dataset-fashion-mnist)")
    return fm.DEFAULT_ROOT


@pytest.fixture(scope="module")
def one_thread():
    """One thread per library for a test module (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    the two cores are shared, and oversubscribed OpenMP/BLAS threads made tests 5-10x slower under
    load. Restored afterwards."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)


class PlantedGenerator:
    """A generator protocol stand-in that renders the world from latents whose units are its factors.

    Z: z ~ N(0, I) with one unit per registry factor (``FACTORS`` order); Φ(z_j) is factor j's
    uniform draw, mapped to its value by ``from_uniform``. ``mixing`` (an F x F matrix) rotates z
    first (``z @ mixing``), which entangles the factors.

    W (only with ``w_matrix`` A, an invertible F x F matrix): w = A z, so the planted direction of
    factor j in W is column j of A. W+ has ``num_ws`` rows and factor j is read from row
    ``factor_row(j) = j * num_ws // F`` only, so a direction restricted to some rows moves exactly
    the factors those rows own.

    A conditional generator (``conditional=True``) renders the requested class as the label factor,
    shifted by ``class_offset`` (1 makes it draw the wrong class every time). The one feature map,
    ``"parts"``, is the one-hot part mask [N, P, R, R]: linearly separable clusters per part.
    """

    kind = "planted-world"
    img_channels = 3
    z_discrete = False  # z is continuous: one Gaussian unit per factor

    def __init__(
        self,
        res: int = 32,
        mixing: np.ndarray | None = None,
        conditional: bool = False,
        class_offset: int = 0,
        w_matrix: np.ndarray | torch.Tensor | None = None,
        num_ws: int = 1,
    ):
        self.world = FaceWorld(res)
        self.img_resolution = res
        self.z_dim = len(FACTORS)
        self.c_dim = self.world.num_classes if conditional else 0
        self.mixing = None if mixing is None else np.asarray(mixing, dtype=np.float64)
        self.class_offset = class_offset
        self.training = False
        if w_matrix is None:
            self.w_matrix, self.latent_spaces, self.num_ws, self.w_dim = None, ("z",), 1, 0
        else:
            self.w_matrix = torch.as_tensor(w_matrix, dtype=torch.float64)
            assert self.w_matrix.shape == (self.z_dim, self.z_dim), "w_matrix must be F x F"
            self.w_inverse = torch.linalg.inv(self.w_matrix)
            self.latent_spaces, self.num_ws, self.w_dim = ("z", "w", "w+"), int(num_ws), self.z_dim

    feature_names = ["parts"]

    # ------------------------------------------------------------------ the known answers
    @staticmethod
    def factor_index(name: str) -> int:
        return [f.name for f in FACTORS].index(name)

    def factor_row(self, factor: int | str) -> int:
        """The W+ row that factor ``factor`` is read from."""
        j = factor if isinstance(factor, int) else self.factor_index(factor)
        return j * self.num_ws // self.z_dim

    def planted_direction(self, factor: int | str, space: str = "z") -> torch.Tensor:
        """The vector [F] that moves factor ``factor``'s z unit, and nothing else, in ``space``."""
        j = factor if isinstance(factor, int) else self.factor_index(factor)
        e = torch.zeros(self.z_dim, dtype=torch.float64)
        e[j] = 1.0
        return e if space == "z" else self.w_matrix @ e

    def to_z(self, latents: torch.Tensor, space: str = "z") -> torch.Tensor:
        """The z that ``latents`` in ``space`` stand for (W+: factor j's unit from its row)."""
        latents = torch.as_tensor(latents, dtype=torch.float64)
        if space == "z":
            return latents
        zs = latents @ self.w_inverse.T  # [N, F] or [N, L, F]
        if space == "w":
            return zs
        rows = torch.tensor([self.factor_row(j) for j in range(self.z_dim)])
        return zs[:, rows, torch.arange(self.z_dim)]

    def factors_of(self, latents: torch.Tensor, space: str = "z") -> dict[str, np.ndarray]:
        """The world factors that ``latents`` render (before any class override)."""
        z = self.to_z(latents, space).numpy()
        if self.mixing is not None:
            z = z @ self.mixing
        u = np.clip(ndtr(z), 0.0, 1.0 - 1e-12)
        return {f.name: f.from_uniform(u[:, j]) for j, f in enumerate(FACTORS)}

    # ------------------------------------------------------------------ the generator protocol
    def latent_shape(self, space):
        assert space in self.latent_spaces, f"no {space} space"
        return {"z": (self.z_dim,), "w": (self.w_dim,), "w+": (self.num_ws, self.w_dim)}[space]

    def sample_latents(self, n, seed=None, generator=None):
        g = torch.Generator().manual_seed(seed) if seed is not None else generator
        return torch.randn(n, self.z_dim, generator=g, dtype=torch.float64)

    def sample_c(self, n, seed=None, generator=None):
        if not self.c_dim:
            return None
        g = torch.Generator().manual_seed(seed) if seed is not None else generator
        return torch.nn.functional.one_hot(torch.randint(0, self.c_dim, (n,), generator=g), self.c_dim).float()

    def latent_stats(self, space, n=10_000, seed=0):
        latents = self.to_space(self.sample_latents(n, seed=seed), space)
        return latents.mean(0).float(), latents.std(0).float()

    def _render(self, latents, space="z", c=None):
        factors = self.factors_of(latents, space)
        if self.c_dim:
            c = torch.as_tensor(c)
            if c.is_floating_point():
                c = c.argmax(dim=1)
            factors[LABEL_FACTOR] = (c.numpy() + self.class_offset) % self.c_dim
        return self.world.render(factors)

    def forward(self, z, c=None, truncation_psi=1.0):
        images = torch.from_numpy(self._render(z, "z", c).images).permute(0, 3, 1, 2)
        return images.float() / 127.5 - 1.0

    __call__ = forward

    def to_space(self, z, space, c=None, truncation_psi=1.0):
        if space == "z":
            return z
        assert space in self.latent_spaces, f"no {space} space without a w_matrix"
        w = torch.as_tensor(z, dtype=torch.float64) @ self.w_matrix.T
        return w if space == "w" else w[:, None, :].repeat(1, self.num_ws, 1)

    def synthesize(self, latents, space="z", c=None, noise_mode="const"):
        images = torch.from_numpy(self._render(latents, space, c).images).permute(0, 3, 1, 2)
        return images.float() / 127.5 - 1.0

    def features(self, latents, names, space="z", c=None, return_image=False):
        names = [names] if isinstance(names, str) else list(names)
        unknown = [n for n in names if n not in self.feature_names]
        assert not unknown, f"unknown feature {unknown}"
        batch = self._render(latents, space, c)
        parts = torch.nn.functional.one_hot(torch.from_numpy(batch.masks).long(), len(PART_LABELS))
        feats = {name: parts.permute(0, 3, 1, 2).float() for name in names}
        if not return_image:
            return feats
        return torch.from_numpy(batch.images).permute(0, 3, 1, 2).float() / 127.5 - 1.0, feats

    def feature_shapes(self):
        return {"parts": (len(PART_LABELS), self.img_resolution, self.img_resolution)}

    def ws_layout(self):
        """Row i of W+ -> the factors read from it ([] without W)."""
        if self.w_matrix is None:
            return []
        return [[f.name for j, f in enumerate(FACTORS) if self.factor_row(j) == row] for row in range(self.num_ws)]

    def style_weights(self):
        """The linear map from a W latent to the factor units the renderer reads (z = A^-1 w)."""
        return {} if self.w_matrix is None else {"factors": self.w_inverse.float()}

    def config(self):
        return {"res": self.img_resolution, "num_ws": self.num_ws}

    def eval(self):
        return self


@pytest.fixture
def planted():
    """The planted generator class: ``planted()``, ``planted(w_matrix=A, num_ws=4)``, ..."""
    return PlantedGenerator
