"""The shared U-Net: shapes per configuration, config round trip, input checks, the oracle's use of it."""

from __future__ import annotations

import pytest
import torch

from ganatomy.errors import OptionsError
from ganatomy.nets import ShapeError
from ganatomy.nets.unet import UNet, UNetDecoder, UNetEncoder, unet_widths
from ganatomy.oracle import load_oracle

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"skip": "concat", "pool": "max", "decoder_convs": 2},
        {"norm": "none", "encoder_convs": 1},
    ],
)
def test_shapes(options):
    net = UNet(3, 5, widths=[4, 8, 16], **options).eval()
    x = torch.randn(2, 3, 16, 32)  # not square: only divisibility by 2^(depth-1) matters
    with torch.no_grad():
        skips = net.encode(x)
        out = net(x)
    assert [tuple(s.shape) for s in skips] == [(2, 4, 16, 32), (2, 8, 8, 16), (2, 16, 4, 8)]
    assert out.shape == (2, 5, 16, 32)
    has_norm = any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert has_norm == (options.get("norm", "batch") == "batch")


def test_without_a_head_forward_gives_the_decoder_features():
    net = UNet(1, None, widths=[6, 12]).eval()
    assert net.head is None and net(torch.randn(3, 1, 8, 8)).shape == (3, 6, 8, 8)


def test_config_round_trip_rebuilds_the_same_network():
    net = UNet(2, 3, widths=unet_widths(3, 4, max_width=12), skip="concat", decoder_convs=2).eval()
    assert net.config() == {
        "in_channels": 2,
        "out_channels": 3,
        "widths": [4, 8, 12],
        "encoder_convs": 2,
        "decoder_convs": 2,
        "skip": "concat",
        "pool": "avg",
        "norm": "batch",
    }
    twin = UNet(**net.config()).eval()
    twin.load_state_dict(net.state_dict())  # same names and shapes
    x = torch.randn(2, 2, 16, 16)
    with torch.no_grad():
        assert torch.equal(twin(x), net(x))
    config = net.config()
    config["widths"].append(99)
    assert net.config()["widths"] == [4, 8, 12]  # a copy


def test_bad_inputs_and_options_are_one_line_errors():
    net = UNet(3, 1, widths=[4, 8, 8])
    for x, words in [(torch.zeros(1, 1, 16, 16), "U-Net input"), (torch.zeros(1, 3, 10, 16), "divisible by 4")]:
        with pytest.raises(ShapeError) as excinfo:
            net(x)
        assert "\n" not in str(excinfo.value) and words in str(excinfo.value)
    for kwargs, words in [
        ({"widths": []}, "widths"),
        ({"widths": [4, 0]}, "widths"),
        ({"skip": "sum"}, "skip"),
        ({"pool": "min"}, "pool"),
        ({"norm": "layer"}, "norm"),
        ({"out_channels": 0}, "out_channels"),
        ({"decoder_convs": 0}, "convs"),
    ]:
        with pytest.raises(OptionsError) as excinfo:
            UNet(**kwargs)
        assert "\n" not in str(excinfo.value) and words in str(excinfo.value)


def test_the_world_oracle_is_built_from_the_same_blocks():
    """The shipped oracle's encoder and decoder are the U-Net's: a U-Net given its weights reads the same masks."""
    oracle = load_oracle("world32").net
    assert isinstance(oracle.encoder, UNetEncoder) and isinstance(oracle.decoder, UNetDecoder)
    widths = oracle.config()["widths"]
    net = UNet(3, oracle.spec.num_parts, widths=widths).eval()
    state = {k: v for k, v in oracle.state_dict().items() if k.startswith(("encoder.", "decoder."))}
    state.update(
        {k.replace("mask_head.", "head."): v for k, v in oracle.state_dict().items() if k.startswith("mask_head.")}
    )
    net.load_state_dict(state)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(net(x), oracle(x)["mask_logits"])
