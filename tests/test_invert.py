"""GAN inversion against known answers: a linear generator (images linear in W, so every latent is
identifiable) whose latents the encoder and the optimisation must recover; bad input; the CLIs end to end."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.invert import EncoderInverter, OptimizationInverter, generator_images, reconstruction_quality

pytestmark = pytest.mark.usefixtures("one_thread")

# Tolerances, in units of the latent's per-dimension std.
OPTIMISATION_TOLERANCE = 0.02
ENCODER_TOLERANCE = 0.3


class LinearGenerator(nn.Module):
    """w = M z + c; an 8x8 RGB image = 0.1 * sum over W+ rows r of P_r w_r (injective in W and in W+)."""

    kind = "linear-test"
    img_channels, img_resolution, c_dim = 3, 8, 0
    z_dim = w_dim = 6
    num_ws = 2
    latent_spaces = ("z", "w", "w+")
    z_discrete = False

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.seed = seed
        self.register_buffer("M", torch.eye(6) + 0.3 * torch.randn(6, 6, generator=g))
        self.register_buffer("c", 0.5 * torch.randn(6, generator=g))
        self.register_buffer("P", torch.randn(self.num_ws, 3 * 8 * 8, 6, generator=g))

    def latent_shape(self, space):
        return {"z": (6,), "w": (6,), "w+": (self.num_ws, 6)}[space]

    def sample_latents(self, n, seed=None, generator=None):
        g = torch.Generator().manual_seed(seed) if seed is not None else generator
        return torch.randn(n, 6, generator=g)

    def sample_c(self, n, seed=None, generator=None):
        return None

    def to_space(self, z, space, c=None, truncation_psi=1.0):
        if space == "z":
            return z
        w = z @ self.M.T + self.c
        return w if space == "w" else w[:, None].repeat(1, self.num_ws, 1)

    def synthesize(self, latents, space="z", c=None, noise_mode="const"):
        ws = (
            latents
            if space == "w+"
            else self.to_space(latents, "w+")
            if space == "z"
            else latents[:, None].repeat(1, 2, 1)
        )
        flat = torch.einsum("rpd,nrd->np", self.P, ws)
        return 0.1 * flat.reshape(len(latents), 3, 8, 8)

    def latent_stats(self, space, n=10_000, seed=0):
        lat = self.to_space(self.sample_latents(n, seed=seed), space)
        return lat.mean(0), lat.std(0)

    def config(self):
        return {"seed": self.seed}


def relative_error(G, found, true, space):
    _, std = G.latent_stats("z" if space == "z" else "w")
    return float(((found - true) / std).abs().max())


@pytest.mark.parametrize("space", ["z", "w", "w+"])
def test_optimisation_recovers_known_latents(space):
    G = LinearGenerator()
    true = G.to_space(G.sample_latents(16, seed=1), space)
    if space == "w+":
        true[:, 1] = G.to_space(G.sample_latents(16, seed=2), "w")  # rows that differ
    images = G.synthesize(true, space)
    inverter = OptimizationInverter(space=space, refine_steps=800, refine_lr=0.1, prior_weight=1e-6).fit(G)
    assert relative_error(G, inverter.invert(images, G), true, space) < OPTIMISATION_TOLERANCE


def test_encoder_recovers_known_latents_and_refinement_sharpens_them(tmp_path):
    G = LinearGenerator()
    inverter = EncoderInverter(
        space="w", steps=400, batch_size=64, lr=3e-3, n_pairs=2048, image_weight=0.0, perceptual="none", width=16
    ).fit(G, run_dir=tmp_path / "run", checkpoint_every=200)
    true = G.to_space(G.sample_latents(32, seed=3), "w")
    images = G.synthesize(true, "w")
    guess = inverter.invert(images)
    assert relative_error(G, guess, true, "w") < ENCODER_TOLERANCE
    inverter.set_params(refine_steps=200, refine_lr=0.1, prior_weight=1e-6)
    assert relative_error(G, inverter.invert(images, G), true, "w") < OPTIMISATION_TOLERANCE
    assert (tmp_path / "run" / "checkpoint.safetensors").is_file()
    loaded = EncoderInverter.load(inverter.save(tmp_path / "inverter.safetensors"))
    torch.testing.assert_close(loaded.invert(images, G), inverter.invert(images, G))


def test_wplus_encoder_gives_one_latent_row_per_style_input():
    G = LinearGenerator()
    inverter = EncoderInverter(space="w+", steps=20, n_pairs=64, image_weight=0.5, perceptual="none", width=8)
    inverter.fit(G)
    latents = inverter.invert(G.synthesize(G.sample_latents(4, seed=4), "z"))
    assert latents.shape == (4, G.num_ws, G.w_dim) and inverter.space_ == "w+"


def test_bad_images_are_one_line_errors():
    G = LinearGenerator()
    inverter = OptimizationInverter(space="w", refine_steps=1).fit(G)
    cases = [
        (torch.zeros(2, 3, 16, 16), "16x16, the generator makes 8x8"),
        (torch.zeros(2, 1, 8, 8), "1 channels, the generator makes 3"),
        (torch.zeros(3, 8, 8), "a batch"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.int32), "uint8 or float"),
    ]
    for images, message in cases:
        with pytest.raises(OptionsError, match=message) as info:
            inverter.invert(images, G)
        assert "\n" not in str(info.value)
    assert generator_images(torch.full((1, 3, 8, 8), 255, dtype=torch.uint8), G, "x").max() == 1.0


def test_another_generator_and_missing_generator_are_refused():
    G, other = LinearGenerator(0), LinearGenerator(1)
    inverter = OptimizationInverter(space="w", refine_steps=1).fit(G)
    images = G.synthesize(G.sample_latents(2, seed=5), "z")
    with pytest.raises(OptionsError, match="another generator"):
        inverter.invert(images, other)
    with pytest.raises(OptionsError, match="needs the generator"):
        inverter.invert(images)
    with pytest.raises(OptionsError, match="no 'w' space"):
        OptimizationInverter(space="w").fit(type("ZOnly", (), {"kind": "z-only", "latent_spaces": ("z",)})())


def test_identical_reconstructions_score_perfectly():
    from ganatomy.data.world import WorldDataset
    from ganatomy.directions.oracle_access import world_oracle

    images = WorldDataset(32, size=24, seed=3).get_images(np.arange(24)).float() / 127.5 - 1
    quality = reconstruction_quality(images, images.clone(), world_oracle(32))
    assert quality.pixel_mae == 0.0 and quality.min_r2 == pytest.approx(1.0)
    worse = reconstruction_quality(images, images.flip(0), world_oracle(32))
    assert worse.pixel_mae > 0 and worse.min_r2 < 0.5


def test_cli_invert_and_regress_end_to_end(tmp_path):
    from typer.testing import CliRunner

    from ganatomy.cli import app
    from ganatomy.worlds import export_world

    folder = export_world(tmp_path / "world", 40, 32, seed=3)
    meta = json.loads((folder / "dataset.json").read_text())
    names = meta["factors"]["names"]
    values = meta["factors"]["values"]
    labelled = list(values)[:2]
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "head_x"])
        for rel in labelled:
            writer.writerow([rel, values[rel][names.index("head_x")]])
    runner = CliRunner()
    enc = tmp_path / "enc"
    steps = ["--steps", "20", "--pairs", "128", "--no-progress"]
    for args in (
        ["invert", "train", "--network", "world32-stylegan2", "--outdir", str(enc), *steps],
        ["invert", "--encoder", str(enc), "--images", str(folder), "--out", str(tmp_path / "inv")],
        [
            "regress",
            "fit",
            "--encoder",
            str(enc),
            "--images",
            str(folder),
            "--labels",
            str(tmp_path / "labels.csv"),
            "--out",
            str(tmp_path / "reg"),
        ],
        [
            "regress",
            "predict",
            "--model",
            str(tmp_path / "reg"),
            "--images",
            str(folder),
            "--out",
            str(tmp_path / "p.csv"),
        ],
        ["regress", "sort", "--model", str(tmp_path / "reg"), "--images", str(folder), "--out", str(tmp_path / "sort")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    assert np.load(tmp_path / "inv" / "latents.npy").shape == (40, 128)
    for path in ("inv/reconstruction.png", "reg/calibration.png", "reg/predictions.csv", "sort/sorted.png"):
        assert (tmp_path / path).is_file()
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    predicted = {r["file"]: float(r["prediction"]) for r in rows}
    for rel in labelled:  # two labels: the line goes through both
        assert predicted[rel] == pytest.approx(values[rel][names.index("head_x")], abs=1e-4)
