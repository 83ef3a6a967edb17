"""The generator protocol every analysis talks to, and a base class that implements most of it.

A generator maps latents to images and exposes its intermediate feature maps:

- attributes ``kind`` (the factory name), ``z_dim``, ``c_dim`` (0: unconditional),
  ``img_resolution``, ``img_channels``, ``latent_spaces`` (a subset of ``("z", "w", "w+")``),
  ``num_ws`` (rows of a W+ latent; 1 where there is no W), ``feature_names``;
- ``sample_latents(n, seed=None, generator=None)`` -> z;
- ``forward(z, c=None, truncation_psi=1.0, ...)`` -> images [N, C, H, W] in [-1, 1]
  (StyleGAN2's output is trained towards that range but not clamped, as in the original; clamp
  for display);
- ``to_space(z, space, c=None, truncation_psi=1.0)`` -> latents in ``space``;
- ``synthesize(latents, space="z", c=None, noise_mode="const")`` -> images. Analyses want a
  deterministic function of the latents, hence 'const' noise by default here (``forward``
  defaults to 'random', as training wants);
- ``features(latents, names, space="z", c=None)`` -> {name: feature map}, read with forward hooks
  that are removed afterwards;
- ``config()`` -> JSON-able constructor kwargs, so that ``build_generator(kind, config)``
  rebuilds the model for a checkpoint without pickles.

Labels ``c`` are one-hot (or soft) float rows [N, c_dim] or integer class indices [N].
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import ShapeError, check_input

SPACES = ("z", "w", "w+")


@runtime_checkable
class Generator(Protocol):
    """What an analysis may rely on (structural type; see the module docstring)."""

    kind: str
    z_dim: int
    c_dim: int
    img_resolution: int
    img_channels: int
    latent_spaces: tuple[str, ...]
    num_ws: int

    @property
    def feature_names(self) -> list[str]: ...

    def sample_latents(
        self, n: int, seed: int | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0) -> torch.Tensor: ...

    def to_space(
        self, z: torch.Tensor, space: str, c: torch.Tensor | None = None, truncation_psi: float = 1.0
    ) -> torch.Tensor: ...

    def synthesize(
        self, latents: torch.Tensor, space: str = "z", c: torch.Tensor | None = None, noise_mode: str = "const"
    ) -> torch.Tensor: ...

    def features(
        self, latents: torch.Tensor, names: Sequence[str], space: str = "z", c: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]: ...

    def config(self) -> dict[str, Any]: ...


def make_generator(seed: int | None = None, generator: torch.Generator | None = None) -> torch.Generator | None:
    """A CPU ``torch.Generator`` from ``seed``, or ``generator`` itself; None means the global RNG."""
    if seed is not None and generator is not None:
        raise OptionsError("pass either seed or generator, not both")
    if seed is not None:
        return torch.Generator().manual_seed(int(seed))
    return generator


def labels_to_onehot(c: torch.Tensor | None, c_dim: int, n: int, device: torch.device) -> torch.Tensor | None:
    """Check labels and return float rows [N, c_dim] (None for an unconditional network).

    Integer class indices [N] are one-hot encoded; float rows are used as given (soft labels).
    An unconditional network ignores labels, so callers may pass them unconditionally.
    """
    if c_dim == 0:
        return None
    if c is None:
        raise OptionsError(f"this network is class-conditional ({c_dim} classes): pass labels c")
    if not isinstance(c, torch.Tensor):
        c = torch.as_tensor(c)
    if not c.is_floating_point():
        check_input(c, [n], "class labels")
        if c.numel() and (int(c.min()) < 0 or int(c.max()) >= c_dim):
            raise ShapeError(f"class labels: values must lie in [0, {c_dim}), got {int(c.min())}..{int(c.max())}")
        return torch.nn.functional.one_hot(c.long(), c_dim).float().to(device)
    check_input(c, [n, c_dim], "class labels")
    return c.to(device)


def check_space(space: str, available: Sequence[str], kind: str) -> None:
    if space not in available:
        raise OptionsError(f"latent space {space!r} is not available for {kind}: it has {tuple(available)}")


class _StopForward(Exception):
    """Raised by a feature hook once the last requested map is read (skips the rest)."""


class GeneratorBase(nn.Module):
    """Shared protocol machinery. Subclasses set the attributes in ``__init__``, store
    ``self._config`` (their constructor kwargs) and implement ``forward``, ``to_space``,
    ``synthesize``, ``_feature_modules`` and ``_sample_z``."""

    kind: ClassVar[str] = "generator"
    latent_spaces: tuple[str, ...] = ("z",)
    num_ws: int = 1

    # ------------------------------------------------------------------ latents
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _sample_z(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    def sample_latents(
        self, n: int, seed: int | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` prior samples of z, on the model's device.

        They are drawn on the CPU, so a seed gives the same latents on every device; with
        neither seed nor generator, torch's global RNG is used.
        """
        return self._sample_z(int(n), make_generator(seed, generator)).to(self._device())

    def sample_c(
        self, n: int, seed: int | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor | None:
        """``n`` uniformly drawn one-hot labels [N, c_dim] (None when unconditional)."""
        if self.c_dim == 0:
            return None
        g = make_generator(seed, generator)
        idx = torch.randint(0, self.c_dim, (int(n),), generator=g)
        return torch.nn.functional.one_hot(idx, self.c_dim).float().to(self._device())

    def latent_shape(self, space: str) -> tuple[int, ...]:
        """Shape of one latent in ``space`` (without the batch dimension)."""
        check_space(space, self.latent_spaces, self.kind)
        if space == "z":
            return (self.z_dim,)
        return (self.w_dim,) if space == "w" else (self.num_ws, self.w_dim)

    # ------------------------------------------------------------------ features
    def _feature_modules(self) -> dict[str, nn.Module]:
        """Feature name -> module whose output is that feature map, in forward order."""
        raise NotImplementedError

    @property
    def feature_names(self) -> list[str]:
        """Names of the readable feature maps, in the order the forward pass computes them."""
        return list(self._feature_modules())

    def features(
        self,
        latents: torch.Tensor,
        names: Sequence[str],
        space: str = "z",
        c: torch.Tensor | None = None,
        **synth_kwargs: Any,
    ) -> dict[str, torch.Tensor]:
        """Feature maps ``{name: [N, C_l, H_l, W_l]}`` for ``latents`` in ``space``.

        Forward hooks read the maps during one ``synthesize`` call (gradients flow if the caller
        allows them); the pass stops after the last requested map, and the hooks are removed
        whatever happens.
        """
        if isinstance(names, str):
            names = [names]
        modules = self._feature_modules()
        unknown = [n for n in names if n not in modules]
        if unknown:
            raise OptionsError(f"unknown feature {unknown[0]!r} for {self.kind}; available: {', '.join(modules)}")
        wanted = set(names)
        last = max(wanted, key=list(modules).index) if wanted else None
        out: dict[str, torch.Tensor] = {}

        def make_hook(name: str):
            def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
                out[name] = output
                if name == last and len(out) == len(wanted):
                    raise _StopForward

            return hook

        handles = [modules[n].register_forward_hook(make_hook(n)) for n in wanted]
        try:
            self.synthesize(latents, space, c=c, **synth_kwargs)
        except _StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        return {n: out[n] for n in names}

    # ------------------------------------------------------------------ config
    def config(self) -> dict[str, Any]:
        """The constructor kwargs (JSON-able): ``build_generator(self.kind, self.config())``."""
        return copy.deepcopy(self._config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._config.items())
