"""What every style-based generator shares: latents to ws, and the per-layer views analyses read.

A style-based generator has a ``mapping(z, c, truncation_psi, truncation_cutoff) -> ws`` and a
``synthesis`` network whose ``layers()`` yields ``(name, W+ row, layer)`` for every modulated
layer, each with an ``affine`` (w -> style) and, for convs, ``out_channels`` and ``resolution``.
Our compact StyleGAN2 and the faithful one (``nets.reference``) both are; ``StyledGenerator``
gives them one implementation of the protocol parts that depend on nothing else.
"""

from __future__ import annotations

import torch
from torch import nn

from ganatomy.nets._checks import check_input
from ganatomy.nets.protocol import GeneratorBase, check_space


class StyledGenerator(GeneratorBase):
    latent_spaces = ("z", "w", "w+")

    def to_space(
        self,
        z: torch.Tensor,
        space: str,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """z -> z, w [N, w_dim] or w+ [N, num_ws, w_dim] (no mixing)."""
        check_space(space, self.latent_spaces, self.kind)
        if space == "z":
            return z
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff)
        return ws[:, 0] if space == "w" else ws

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        mixing_prob: float = 0.0,
        generator: torch.Generator | None = None,
        update_w_avg: bool = False,
        noise_mode: str = "random",
        fused_modconv: bool | None = None,
    ) -> torch.Tensor:
        """z [N, z_dim] (+ labels) -> images [N, C, R, R], random noise as in training (and NVIDIA's
        ``G(z, c)``); see ``mapping`` for the options."""
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff, mixing_prob, generator, update_w_avg)
        return self._synthesis(ws, noise_mode, fused_modconv)

    def synthesize(
        self,
        latents: torch.Tensor,
        space: str = "z",
        c: torch.Tensor | None = None,
        noise_mode: str = "const",
        fused_modconv: bool | None = None,
    ) -> torch.Tensor:
        """Images from latents in ``space`` ('z' needs labels if conditional; 'w' and 'w+' do not)."""
        return self._synthesis(self._ws(latents, space, c), noise_mode, fused_modconv)

    def _synthesis(self, ws: torch.Tensor, noise_mode, fused_modconv: bool | None) -> torch.Tensor:
        return self.synthesis(ws, noise_mode=noise_mode, fused_modconv=fused_modconv)

    def _ws(self, latents: torch.Tensor, space: str, c: torch.Tensor | None) -> torch.Tensor:
        """ws [N, num_ws, w_dim] from latents in ``space`` ('z' needs labels if conditional)."""
        check_space(space, self.latent_spaces, self.kind)
        if space == "z":
            return self.mapping(latents, c)
        if space == "w":
            check_input(latents, [None, self.w_dim], "w")
            return latents.unsqueeze(1).expand(-1, self.num_ws, -1)
        check_input(latents, [None, self.num_ws, self.w_dim], "w+")
        return latents

    def _feature_modules(self) -> dict[str, nn.Module]:
        # The output of every conv layer (after noise, bias and activation): b4.conv1, b8.conv0, ...
        return {name: layer for name, _, layer in self.synthesis.layers() if not name.endswith(".torgb")}

    def _style_modules(self) -> dict[str, nn.Module]:
        return {name: layer.affine for name, _, layer in self.synthesis.layers()}

    def feature_shapes(self) -> dict[str, tuple[int, int, int]]:
        """Feature name -> (channels, height, width)."""
        return {name: (m.out_channels, m.resolution, m.resolution) for name, m in self._feature_modules().items()}

    def ws_layout(self) -> list[list[str]]:
        """W+ row -> the layers whose affine reads it (``len == num_ws``; each layer once; a ToRGB
        shares its row with the next block's first conv)."""
        rows: list[list[str]] = [[] for _ in range(self.num_ws)]
        for name, row, _ in self.synthesis.layers():
            rows[row].append(name)
        return rows

    def style_weights(self) -> dict[str, torch.Tensor]:
        """Layer -> ``affine.weight * affine.weight_gain`` [C_in of the layer, w_dim], detached.

        The style code ``style:<layer>`` is ``w @ weight.T + affine.bias * affine.bias_gain``. A ToRGB
        multiplies its style by a further constant 1 / sqrt(C_in) before modulating, which is not
        included (a constant per-layer scale, like the conv weights' own scale).
        """
        return {
            name: (layer.affine.weight * layer.affine.weight_gain).detach()
            for name, _, layer in self.synthesis.layers()
        }
