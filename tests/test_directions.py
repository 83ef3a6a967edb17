"""Directions: apply moves exactly the planted coordinate, W+ layer rows, shape errors, files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.latent.directions import Directions
from ganatomy.nets import ShapeError
from ganatomy.runs.checkpoint import load_checkpoint, save_checkpoint
from ganatomy.worlds import FACTORS

pytestmark = pytest.mark.usefixtures("one_thread")

F = len(FACTORS)


def _w_matrix(seed: int = 0) -> torch.Tensor:
    """A well-conditioned random F x F matrix (rotation times a diagonal scale)."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(F, F, generator=g, dtype=torch.float64))
    return q * (0.5 + torch.rand(F, generator=g, dtype=torch.float64))


def _one_line(excinfo, *words):
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    for word in words:
        assert word in msg, msg


def test_z_direction_moves_exactly_the_planted_factor(planted):
    G = planted()
    smile = G.factor_index("smile")
    d = Directions(torch.eye(F, dtype=torch.float64), "z", method="planted", names=[f.name for f in FACTORS])
    z = G.sample_latents(6, seed=1)
    moved = d.apply(z, smile, 0.3)
    expected = z.clone()
    expected[:, smile] += 0.3
    assert torch.equal(moved, expected)  # the coordinate moves by the shift, every other one is untouched
    before, after = G.factors_of(z), G.factors_of(moved)
    assert [n for n in before if not np.array_equal(before[n], after[n])] == ["smile"]
    assert (after["smile"] > before["smile"]).all()


def test_w_direction_of_the_planted_linear_space(planted):
    A = _w_matrix()
    G = planted(w_matrix=A)
    j = G.factor_index("head_x")
    d = Directions(torch.stack([G.planted_direction(i, "w") for i in range(F)]), "w")
    w = G.to_space(G.sample_latents(5, seed=2), "w")
    dz = G.to_z(d.apply(w, j, -0.7), "w") - G.to_z(w, "w")
    expected = torch.zeros_like(dz)
    expected[:, j] = -0.7
    assert torch.allclose(dz, expected, atol=1e-12, rtol=0)


def test_per_sample_index_and_shift():
    vectors = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    d = Directions(vectors, "w")
    w = torch.zeros(4, 4)
    index, shift = torch.tensor([2, 0, 1, 2]), torch.tensor([1.0, -1.0, 0.5, 0.0])
    assert torch.equal(d.apply(w, index, shift), shift[:, None] * vectors[index])
    assert torch.equal(d.apply(w, 1, shift), shift[:, None] * vectors[1])
    shift = torch.ones(4, requires_grad=True)  # differentiable in the shift (Voynov's reconstructor needs it)
    d.apply(w, index, shift).sum().backward()
    assert torch.equal(shift.grad, vectors[index].sum(dim=1))


def test_w_plus_layer_range_moves_only_those_rows(planted):
    A = _w_matrix(1)
    G = planted(w_matrix=A, num_ws=4)
    rows_moved = [1, 2]
    for layers in (range(1, 3), [2, 1], [False, True, True, False], torch.tensor([False, True, True, False])):
        d = Directions(torch.randn(3, F, dtype=torch.float64), "w+", layers=layers, num_ws=4)
        assert d.layers == (1, 2)
        wp = G.to_space(G.sample_latents(3, seed=3), "w+")
        moved = d.apply(wp, 2, 1.5)
        assert torch.equal(moved[:, [0, 3]], wp[:, [0, 3]])
        assert torch.equal(moved[:, rows_moved], wp[:, rows_moved] + 1.5 * d.vectors[2])
    # through the planted generator: the factors owned by rows 0 and 3 do not move at all
    j = G.factor_index("smile")
    assert G.factor_row(j) in rows_moved
    d = Directions(G.planted_direction(j, "w")[None], "w+", layers=rows_moved)
    wp = G.to_space(G.sample_latents(4, seed=4), "w+")
    before, after = G.to_z(wp, "w+"), G.to_z(d.apply(wp, 0, 0.4), "w+")
    untouched = [i for i in range(F) if G.factor_row(i) not in rows_moved]
    assert untouched and torch.equal(after[:, untouched], before[:, untouched])
    assert torch.allclose(after[:, j] - before[:, j], torch.full((4,), 0.4, dtype=torch.float64), atol=1e-12)
    # without layers every row moves
    every = Directions(torch.ones(1, F), "w+").apply(wp, 0, 1.0)
    assert torch.allclose(every - wp, torch.ones_like(wp))


def test_latents_of_the_wrong_shape_are_a_one_line_shape_error():
    cases = [
        (Directions(torch.eye(3), "z"), torch.zeros(2, 4), "z latents"),
        (Directions(torch.eye(3), "w"), torch.zeros(2, 3, 3), "w latents"),
        (Directions(torch.eye(3), "w+"), torch.zeros(2, 3), "w+ latents"),
        (Directions(torch.eye(3), "w+", num_ws=4), torch.zeros(2, 5, 3), "w+ latents"),
        (Directions(torch.eye(3), "w+", layers=[6]), torch.zeros(2, 5, 3), "row 6"),
    ]
    for d, latents, words in cases:
        with pytest.raises(ShapeError) as excinfo:
            d.apply(latents, 0, 1.0)
        _one_line(excinfo, words)
    d = Directions(torch.eye(3), "w")
    with pytest.raises(ShapeError) as excinfo:
        d.apply(torch.zeros(4, 3), torch.tensor([0, 1]), 1.0)
    _one_line(excinfo, "index", "[4]")
    with pytest.raises(ShapeError) as excinfo:
        d.apply(torch.zeros(4, 3), 0, torch.ones(3))
    _one_line(excinfo, "shift")


def test_bad_arguments_are_one_line_options_errors():
    for kwargs, words in [
        ({"space": "x"}, "'x'"),
        ({"space": "w", "layers": [0]}, "W+ rows"),
        ({"space": "w+", "layers": [0, 4], "num_ws": 4}, "layer 4"),
        ({"space": "w+", "layers": [False, False]}, "no W+ row"),
        ({"space": "w+", "layers": [True, False], "num_ws": 3}, "num_ws"),
        ({"names": ["one"]}, "names"),
    ]:
        with pytest.raises(OptionsError) as excinfo:
            Directions(torch.eye(2), **kwargs)
        _one_line(excinfo, words)
    with pytest.raises(ShapeError):
        Directions(torch.ones(3))
    with pytest.raises(OptionsError, match="NaN"):
        Directions(torch.tensor([[float("nan"), 0.0]]))
    d = Directions(torch.eye(2))
    for index in (2, -3, torch.tensor([0, 2])):
        with pytest.raises(OptionsError) as excinfo:
            d.apply(torch.zeros(2, 2), index, 1.0)
        _one_line(excinfo, "directions")


def test_normalise_select_and_len():
    d = Directions(torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0]]), "w", names=["a", "b", "c"])
    assert len(d) == 3 and d.dim == 2
    unit = d.normalized()
    assert torch.allclose(unit.norms(), torch.ones(3)) and torch.allclose(unit.vectors[0], torch.tensor([0.6, 0.8]))
    assert torch.equal(d.vectors[0], torch.tensor([3.0, 4.0]))  # a copy; the original is unchanged
    picked = d.select([2, 0])
    assert picked.names == ["c", "a"] and torch.equal(picked.vectors, d.vectors[[2, 0]])
    with pytest.raises(OptionsError, match="zero"):
        Directions(torch.zeros(1, 2)).normalized()


def test_save_load_round_trip_and_bad_files(tmp_path):
    d = Directions(
        torch.randn(4, 6, dtype=torch.float64),
        "w+",
        layers=[3, 0],
        num_ws=5,
        method="sefa",
        names=["a", "b", "c", "d"],
        meta={"generator": {"kind": "stylegan2"}, "k": 4},
    )
    path = d.save(tmp_path / "dirs.safetensors")
    e = Directions.load(path)
    assert torch.equal(e.vectors, d.vectors) and e.vectors.dtype == torch.float64
    assert (e.space, e.layers, e.num_ws, e.method, e.names, e.meta) == (
        "w+",
        (0, 3),
        5,
        "sefa",
        ["a", "b", "c", "d"],
        {"generator": {"kind": "stylegan2"}, "k": 4},
    )
    save_checkpoint(tmp_path / "other.safetensors", {"format": "ganatomy-oracle"})
    with pytest.raises(CheckpointError) as excinfo:
        Directions.load(tmp_path / "other.safetensors")
    _one_line(excinfo, "other.safetensors", "not a directions file")
    tree = load_checkpoint(path)
    tree["version"] = 99
    save_checkpoint(tmp_path / "future.safetensors", tree)
    with pytest.raises(CheckpointError) as excinfo:
        Directions.load(tmp_path / "future.safetensors")
    _one_line(excinfo, "version 99")
    (tmp_path / "cut.safetensors").write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError):
        Directions.load(tmp_path / "cut.safetensors")


def test_the_planted_generator_is_a_generator_with_known_answers(planted):
    from ganatomy.nets.protocol import Generator
    from ganatomy.worlds import PART_LABELS

    A = _w_matrix(2)
    G = planted(w_matrix=A, num_ws=3)
    assert isinstance(G, Generator) and G.latent_spaces == ("z", "w", "w+")
    z = G.sample_latents(4, seed=5)
    for space in ("w", "w+"):
        latents = G.to_space(z, space)
        assert torch.allclose(G.to_z(latents, space), z, atol=1e-12)
    assert torch.allclose(G.to_space(z, "w"), z @ A.T) and G.to_space(z, "w+").shape == (4, 3, F)
    assert sorted({G.factor_row(j) for j in range(F)}) == [0, 1, 2]  # every row owns some factors
    images = G.synthesize(z)
    assert images.shape == (4, 3, 32, 32) and torch.equal(images, G(z))
    parts = G.features(z, ["parts"])["parts"]
    assert parts.shape == (4, len(PART_LABELS), 32, 32) and torch.equal(parts.sum(dim=1), torch.ones(4, 32, 32))
    image, feats = G.features(z, "parts", return_image=True)
    assert torch.equal(image, images) and torch.equal(feats["parts"], parts)
    assert G.feature_shapes() == {"parts": tuple(parts.shape[1:])} and G.latent_shape("w+") == (3, F)
    assert sum(G.ws_layout(), []) == [f.name for f in FACTORS]
    assert torch.allclose(G.style_weights()["factors"].double() @ A, torch.eye(F, dtype=torch.float64), atol=1e-6)
    mean, std = G.latent_stats("w", n=4000)
    assert mean.abs().max() < 0.1 and torch.allclose(std, (A**2).sum(1).sqrt().float(), rtol=0.05)  # w = A z
    assert planted().ws_layout() == [] and planted().sample_c(2) is None
    assert planted(conditional=True).sample_c(3, seed=0).shape == (3, 4)
