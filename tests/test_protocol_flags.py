"""Flags of the generator protocol that analyses check before they move latents: ``z_discrete``."""

from __future__ import annotations

from ganatomy.nets import DCGANGenerator, Generator, StyleGAN2Generator
from ganatomy.nets.mapping import MappingNetwork, register_prior
from ganatomy.nets.reference import StyleGAN2RefGenerator


@register_prior
class _DiscreteFlagPrior(MappingNetwork):
    """The mapping network declared discrete: only the flag matters here, not the draws."""

    kind = "discrete-flag-test"
    z_discrete = True


def _tiny_stylegan2(prior: dict | None = None) -> StyleGAN2Generator:
    return StyleGAN2Generator(img_resolution=8, z_dim=8, w_dim=8, channel_base=64, channel_max=16, prior=prior)


def test_z_discrete_echoes_the_prior_and_is_false_elsewhere():
    assert _tiny_stylegan2().z_discrete is False
    discrete = _tiny_stylegan2({"kind": "discrete-flag-test", "num_layers": 1, "lr_mul": 0.01})
    assert discrete.z_discrete is True and isinstance(discrete, Generator)
    reference = StyleGAN2RefGenerator(
        z_dim=8, w_dim=8, img_resolution=8, mapping_layers=1, channel_base=64, channel_max=16
    )
    assert reference.z_discrete is False and isinstance(reference, Generator)
    assert DCGANGenerator(img_resolution=32, z_dim=8, ngf=4).z_discrete is False
    # the flag travels with the config: a rebuilt generator says the same
    rebuilt = StyleGAN2Generator(**discrete.config())
    assert rebuilt.z_discrete is True
