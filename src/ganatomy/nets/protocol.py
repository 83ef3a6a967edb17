"""The generator protocol every analysis talks to, and a base class that implements most of it.

A generator maps latents to images and exposes its intermediate feature maps:

- attributes ``kind`` (the factory name), ``z_dim``, ``w_dim`` (0 where there is no W), ``c_dim``
  (0: unconditional), ``img_resolution``, ``img_channels``, ``latent_spaces`` (a subset of
  ``("z", "w", "w+")``), ``num_ws`` (rows of a W+ latent; 1 where there is no W), ``feature_names``,
  ``z_discrete`` (True when z is a tuple of discrete indices, e.g. a gene bank's: shifting or
  interpolating in Z is then meaningless, and an analysis works in W or swaps indices instead);
- ``latent_shape(space)`` -> the shape of one latent in ``space`` (no batch dimension);
- ``sample_latents(n, seed=None, generator=None)`` -> z; ``sample_c(n, seed=None, generator=None)``
  -> uniformly drawn one-hot labels [N, c_dim] (None when unconditional);
- ``forward(z, c=None, truncation_psi=1.0, ...)`` -> images [N, C, H, W] in [-1, 1]
  (StyleGAN2's output is trained towards that range but not clamped, as in the original; clamp
  for display);
- ``to_space(z, space, c=None, truncation_psi=1.0)`` -> latents in ``space``;
- ``synthesize(latents, space="z", c=None, noise_mode="const")`` -> images. Analyses want a
  deterministic function of the latents, hence 'const' noise by default here (``forward``
  defaults to 'random', as training wants);
- ``features(latents, names, space="z", c=None, return_image=False)`` -> {name: feature map},
  read with forward hooks that are removed afterwards; the pass stops once the last requested
  map is read, unless ``return_image`` asks for ``(image, feats)`` from the one full pass.
  Names ``style:<layer>`` read style codes [N, C_in] (the affine outputs), where a generator has
  them (``style_names``);
- ``feature_shapes()`` -> {name: (C, H, W)} of the feature maps;
- ``ws_layout()`` -> row i of a W+ latent -> names of the layers that consume it ([] without W);
- ``style_weights()`` -> {layer: [C_out, D_in]}, the effective linear map from a latent to that
  layer's style (what SeFa decomposes; see each generator for its analogue);
- ``latent_stats(space, n=10_000, seed=0)`` -> per-dimension (mean, std) of the latents in ``space``;
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
STYLE_PREFIX = "style:"  # feature names that read style codes (affine outputs) instead of maps


@runtime_checkable
class Generator(Protocol):
    """What an analysis may rely on (structural type; see the module docstring)."""

    kind: str
    z_dim: int
    w_dim: int
    c_dim: int
    img_resolution: int
    img_channels: int
    latent_spaces: tuple[str, ...]
    num_ws: int

    @property
    def feature_names(self) -> list[str]: ...

    @property
    def z_discrete(self) -> bool: ...

    def latent_shape(self, space: str) -> tuple[int, ...]: ...

    def sample_latents(
        self, n: int, seed: int | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...

    def sample_c(
        self, n: int, seed: int | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor | None: ...

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0) -> torch.Tensor: ...

    def to_space(
        self, z: torch.Tensor, space: str, c: torch.Tensor | None = None, truncation_psi: float = 1.0
    ) -> torch.Tensor: ...

    def synthesize(
        self, latents: torch.Tensor, space: str = "z", c: torch.Tensor | None = None, noise_mode: str = "const"
    ) -> torch.Tensor: ...

    def features(
        self,
        latents: torch.Tensor,
        names: Sequence[str],
        space: str = "z",
        c: torch.Tensor | None = None,
        return_image: bool = False,
    ) -> dict[str, torch.Tensor] | tuple[torch.Tensor, dict[str, torch.Tensor]]: ...

    def feature_shapes(self) -> dict[str, tuple[int, int, int]]: ...

    def ws_layout(self) -> list[list[str]]: ...

    def style_weights(self) -> dict[str, torch.Tensor]: ...

    def latent_stats(self, space: str, n: int = 10_000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]: ...

    def config(self) -> dict[str, Any]: ...


def make_generator(seed: int | None = None, generator: torch.Generator | None = None) -> torch.Generator | None:
    """A CPU ``torch.Generator`` from ``seed``, or ``generator`` itself; None means the global RNG."""
    if seed is not None and generator is not None:
        raise OptionsError("pass either seed or generator, not both")
    if seed is not None:
        return torch.Generator().manual_seed(int(seed))
    return generator


def generator_device(G: Any) -> torch.device:
    """Where G's weights live (the CPU for a generator without parameters): where its inputs go."""
    params = getattr(G, "parameters", None)
    first = next(params(), None) if callable(params) else None
    return first.device if first is not None else torch.device("cpu")


def channels_last_(G: Any) -> Any:
    """Store a frozen generator's convolution weights in channels_last (values unchanged) and return it.

    Convolutions then run in NHWC, 10-15% faster under bf16 on this CPU for every generator we have
    (DCGAN transposed convolutions, our StyleGAN2, imported ones): analyses that render many batches
    from the same G call this once. A generator without ``to`` (a plain callable) is returned as is."""
    return G.to(memory_format=torch.channels_last) if isinstance(G, torch.nn.Module) else G


def _foldable(seq: torch.nn.Sequential) -> list[int]:
    """Indices i of ``seq`` where a groups-1 convolution is followed by an eval-mode BatchNorm2d with running stats."""
    convs = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    return [
        i
        for i in range(len(seq) - 1)
        if isinstance(seq[i], convs)
        and seq[i].groups == 1
        and isinstance(seq[i + 1], torch.nn.BatchNorm2d)
        and not seq[i + 1].training
        and seq[i + 1].running_var is not None
    ]


def fold_batchnorm(G: Any) -> Any:
    """A copy of a frozen generator with each eval-mode BatchNorm2d that directly follows a convolution in
    an ``nn.Sequential`` folded into that convolution's weight and bias.

    The same function to float rounding, with two memory passes fewer per folded layer forward and two
    backward: Voynov's step on digiface-dcgan64 renders its shifted batch's forward and backward about
    13% faster. G itself is untouched; a generator with nothing to fold is returned as is."""
    import copy

    if not isinstance(G, torch.nn.Module) or not any(
        _foldable(m) for m in G.modules() if isinstance(m, torch.nn.Sequential)
    ):
        return G
    folded = copy.deepcopy(G)
    with torch.no_grad():
        for seq in [m for m in folded.modules() if isinstance(m, torch.nn.Sequential)]:
            for i in _foldable(seq):
                conv, bn = seq[i], seq[i + 1]
                scale = (bn.weight if bn.affine else 1.0) / torch.sqrt(bn.running_var + bn.eps)
                shift = (bn.bias if bn.affine else 0.0) - bn.running_mean * scale
                out_dim = 1 if isinstance(conv, torch.nn.ConvTranspose2d) else 0  # the output channels' axis
                shape = [1, 1, 1, 1]
                shape[out_dim] = -1
                bias = shift if conv.bias is None else conv.bias * scale + shift
                conv.weight = torch.nn.Parameter(conv.weight * scale.view(shape), requires_grad=False)
                conv.bias = torch.nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)
                seq[i + 1] = torch.nn.Identity()
    return folded


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
    """Raised by a feature hook once every requested map is read (skips the rest of the pass)."""


class GeneratorBase(nn.Module):
    """Shared protocol machinery. Subclasses set the attributes in ``__init__``, store
    ``self._config`` (their constructor kwargs) and implement ``forward``, ``to_space``,
    ``synthesize``, ``_feature_modules``, ``feature_shapes`` and ``_sample_z``; generators with
    style codes also override ``_style_modules``, ``ws_layout`` and ``style_weights``."""

    kind: ClassVar[str] = "generator"
    latent_spaces: tuple[str, ...] = ("z",)
    num_ws: int = 1
    w_dim: int = 0

    # ------------------------------------------------------------------ latents
    @property
    def z_discrete(self) -> bool:
        """Whether z is discrete (see the module doc); a continuous Gaussian z unless a subclass says so."""
        return False

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _sample_z(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    def sample_latents(self, n: int, seed: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
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

    @torch.no_grad()
    def latent_stats(
        self, space: str, n: int = 10_000, seed: int = 0, batch_size: int = 1024
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-dimension mean and standard deviation of ``n`` prior latents mapped to ``space``.

        z and (for a conditional generator) uniform labels come from one generator seeded with
        ``seed``; no truncation, no mixing. Both tensors have ``latent_shape(space)`` and sit on
        the model's device: a start for an inversion, a unit for shift sizes in W.
        """
        check_space(space, self.latent_spaces, self.kind)
        if n < 2:
            raise OptionsError(f"latent_stats: needs at least 2 samples, got n = {n}")
        g = make_generator(seed)
        total = sq_total = None
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            z = self.sample_latents(b, generator=g)
            latents = self.to_space(z, space, c=self.sample_c(b, generator=g)).double()
            # Sums in float64 around the first batch's mean: no cancellation in the variance.
            if total is None:
                shift = latents.mean(0)
                total, sq_total = torch.zeros_like(shift), torch.zeros_like(shift)
            centred = latents - shift
            total += centred.sum(0)
            sq_total += centred.square().sum(0)
        mean = total / n
        var = (sq_total - n * mean.square()) / (n - 1)
        return (shift + mean).float(), var.clamp_min(0).sqrt().float()

    # ------------------------------------------------------------------ features
    def _feature_modules(self) -> dict[str, nn.Module]:
        """Feature name -> module whose output is that feature map, in forward order."""
        raise NotImplementedError

    def _style_modules(self) -> dict[str, nn.Module]:
        """Layer name -> module whose output is that layer's style code (none by default)."""
        return {}

    @property
    def feature_names(self) -> list[str]:
        """Names of the readable feature maps, in the order the forward pass computes them."""
        return list(self._feature_modules())

    @property
    def style_names(self) -> list[str]:
        """Feature names (``style:<layer>``) that ``features`` reads style codes [N, C_in] from."""
        return [STYLE_PREFIX + name for name in self._style_modules()]

    def feature_shapes(self) -> dict[str, tuple[int, int, int]]:
        """Feature name -> (channels, height, width) of its map, for every name in ``feature_names``."""
        raise NotImplementedError

    def ws_layout(self) -> list[list[str]]:
        """Row i of a W+ latent -> the layers that consume it; [] for a generator without W."""
        return []

    def style_weights(self) -> dict[str, torch.Tensor]:
        """Layer -> the effective weight [C_out, D_in] of the linear map from a latent to its style."""
        return {}

    def features(
        self,
        latents: torch.Tensor,
        names: Sequence[str],
        space: str = "z",
        c: torch.Tensor | None = None,
        return_image: bool = False,
        **synth_kwargs: Any,
    ) -> dict[str, torch.Tensor] | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Feature maps ``{name: [N, C_l, H_l, W_l]}`` (style codes ``[N, C_l]``) for ``latents``.

        Forward hooks read the maps during one ``synthesize`` call (gradients flow if the caller
        allows them) and are removed whatever happens. The pass stops as soon as every requested
        map is read; with ``return_image`` it runs to the end and ``(image, feats)`` comes back,
        the image equal to ``synthesize(latents, space, c)``.
        """
        if isinstance(names, str):
            names = [names]
        modules = {**self._feature_modules(), **{STYLE_PREFIX + k: m for k, m in self._style_modules().items()}}
        unknown = [n for n in names if n not in modules]
        if unknown:
            raise OptionsError(f"unknown feature {unknown[0]!r} for {self.kind}; available: {', '.join(modules)}")
        wanted = set(names)
        out: dict[str, torch.Tensor] = {}

        def make_hook(name: str):
            def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
                out[name] = output
                if not return_image and len(out) == len(wanted):
                    raise _StopForward

            return hook

        handles = [modules[n].register_forward_hook(make_hook(n)) for n in wanted]
        image = None
        try:
            if wanted or return_image:
                image = self.synthesize(latents, space, c=c, **synth_kwargs)
        except _StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        feats = {n: out[n] for n in names}
        return (image, feats) if return_image else feats

    # ------------------------------------------------------------------ config
    def config(self) -> dict[str, Any]:
        """The constructor kwargs (JSON-able): ``build_generator(self.kind, self.config())``."""
        return copy.deepcopy(self._config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._config.items())
