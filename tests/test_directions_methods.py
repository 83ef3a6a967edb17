"""Known-answer tests of ganatomy.directions: Voynov & Babenko, GANSpace, SeFa, InterFaceGAN, alignment, files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from ganatomy.directions import (
    Deformator,
    GANSpaceDirections,
    InterFaceGANDirections,
    SeFaDirections,
    VoynovDirections,
    factor_alignment,
    load,
    world_purity_ceiling,
)
from ganatomy.errors import GanatomyError, OptionsError
from ganatomy.latent import Directions

pytestmark = pytest.mark.usefixtures("one_thread")


def orthogonal(d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def matched_cosines(found: torch.Tensor, planted: torch.Tensor) -> np.ndarray:
    """|cos| of the best one-to-one matching of found rows to planted rows (sign and order free)."""
    found = found / found.norm(dim=1, keepdim=True)
    planted = planted / planted.norm(dim=1, keepdim=True)
    cos = (found.double() @ planted.double().T).abs().numpy()
    rows, cols = linear_sum_assignment(-cos)
    return cos[rows, cols]


class BandGenerator:
    """A differentiable planted generator: z unit j sets the brightness of vertical band j as cos(1.5 z_j).

    W = M z with M orthogonal, so the planted direction of band j in W is column j of M. The map is
    not monotone, so a mixed direction changes every band with a sign that varies from sample to
    sample; only a planted direction changes exactly one band, which is what makes it the
    reconstructor's easiest signal.
    """

    kind = "planted-bands"
    img_channels = 3
    c_dim = 0
    z_discrete = False
    latent_spaces = ("z", "w", "w+")

    def __init__(self, dim: int = 4, res: int = 8, seed: int = 1, num_ws: int = 2):
        self.z_dim = self.w_dim = dim
        self.img_resolution, self.num_ws = res, num_ws
        self.mixing = orthogonal(dim, seed + 1000).float()
        columns = torch.arange(res)
        self.bands = torch.stack([((columns * dim) // res == j).float() for j in range(dim)])  # [F, R]

    def planted(self, space: str = "w") -> torch.Tensor:
        """Planted directions as rows."""
        return torch.eye(self.z_dim) if space == "z" else self.mixing.T.clone()

    def latent_shape(self, space):
        return (self.num_ws, self.w_dim) if space == "w+" else (self.z_dim,)

    def sample_latents(self, n, seed=None, generator=None):
        g = torch.Generator().manual_seed(seed) if seed is not None else generator
        return torch.randn(n, self.z_dim, generator=g)

    def sample_c(self, n, seed=None, generator=None):
        return None

    def to_space(self, z, space, c=None, truncation_psi=1.0):
        if space == "z":
            return z
        w = z.float() @ self.mixing.T
        return w if space == "w" else w[:, None].repeat(1, self.num_ws, 1)

    def latent_stats(self, space, n=10_000, seed=0):
        x = self.to_space(self.sample_latents(n, seed=seed), space)
        return x.mean(0), x.std(0)

    def synthesize(self, latents, space="z", c=None, noise_mode="const"):
        if space == "w+":
            latents = latents.mean(dim=1)
        z = latents.float() if space == "z" else latents.float() @ self.mixing
        row = torch.cos(1.5 * z) @ self.bands  # [N, R]
        return row[:, None, None, :].expand(-1, 3, self.img_resolution, -1).contiguous()

    def config(self):
        return {"dim": self.z_dim, "res": self.img_resolution}


class LinearGenerator(nn.Module):
    """A linear generator with known weights: feature "h" = B z, style weights {"h": B}; image from h."""

    kind = "planted-linear"
    img_channels = 1
    img_resolution = 4
    c_dim = 0
    z_discrete = False
    latent_spaces = ("z",)
    num_ws = 1
    w_dim = 0
    feature_names = ("h",)

    def __init__(self, B: torch.Tensor):
        super().__init__()
        self.z_dim = B.shape[1]
        self.B = nn.Parameter(B.float().clone(), requires_grad=False)

    def latent_shape(self, space):
        return (self.z_dim,)

    def sample_latents(self, n, seed=None, generator=None):
        g = torch.Generator().manual_seed(seed) if seed is not None else generator
        return torch.randn(n, self.z_dim, generator=g)

    def sample_c(self, n, seed=None, generator=None):
        return None

    def to_space(self, z, space, c=None, truncation_psi=1.0):
        return z

    def latent_stats(self, space, n=10_000, seed=0):
        z = self.sample_latents(n, seed=seed)
        return z.mean(0), z.std(0)

    def features(self, latents, names, space="z", c=None, return_image=False):
        return {"h": (latents.float() @ self.B.T)[:, :, None, None]}

    def synthesize(self, latents, space="z", c=None, noise_mode="const"):
        h = latents.float() @ self.B.T
        return torch.tanh(h[:, :16]).reshape(-1, 1, 4, 4)

    def style_weights(self):
        return {"h": self.B.detach()}

    def ws_layout(self):
        return []

    def config(self):
        return {"shape": list(self.B.shape)}


def known_matrix(rows: int, cols: int, singular: list[float], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """B = U diag(s) Vᵀ with known right singular vectors V (returned as rows)."""
    U, V = orthogonal(rows, seed)[:, : len(singular)], orthogonal(cols, seed + 1)[:, : len(singular)]
    return (U * torch.tensor(singular, dtype=torch.float64)) @ V.T, V.T


# ---------------------------------------------------------------------- Voynov & Babenko
def test_voynov_recovers_planted_directions_and_rca_nears_one():
    G = BandGenerator()
    settings = {
        "n_directions": 4,
        "space": "w",
        "steps": 300,
        "lr": 3e-3,
        "deformator_gain": 10.0,
        "shift_range": 3.0,
        "min_shift": 0.2,
        "bf16": False,
    }
    learned = VoynovDirections(deformator="ortho", **settings).fit(G)
    cosines = matched_cosines(learned.directions_.vectors, G.planted("w"))
    assert cosines.min() > 0.95, cosines
    assert learned.rca_ > 0.9
    coordinate = VoynovDirections(deformator="coordinate", **settings).fit(G)
    assert learned.rca_ > coordinate.rca_
    # the found directions are unit vectors x the shift unit, and edit moves latents along them
    w = G.to_space(G.sample_latents(3, seed=0), "w")
    moved = learned.edit(w, 1, 2.0)
    torch.testing.assert_close(moved - w, 2.0 * learned.directions_.vectors[1].expand(3, -1))


def test_voynov_on_wplus_rows_moves_only_those_rows():
    G = BandGenerator(num_ws=3)
    est = VoynovDirections(n_directions=2, space="w+", layers=[1], steps=5, bf16=False).fit(G)
    wp = G.to_space(G.sample_latents(4, seed=0), "w+")
    delta = est.edit(wp, torch.tensor([0, 1, 0, 1]), torch.tensor([1.0, -1.0, 2.0, 0.5])) - wp
    assert delta[:, [0, 2]].abs().max() == 0 and delta[:, 1].abs().min() > 0


def test_fixed_deformators_need_no_gradient_through_the_generator(planted):
    # The world-rendering planted generator is not differentiable: the baselines train R alone.
    est = VoynovDirections(n_directions=3, deformator="coordinate", space="z", steps=3, batch_size=4, bf16=False).fit(
        planted()
    )
    assert 0 <= est.rca_ <= 1
    torch.testing.assert_close(est.directions_.vectors / est.directions_.meta["shift_unit"], torch.eye(11)[:3])


def test_voynov_estimator_round_trips(tmp_path):
    G = BandGenerator()
    est = VoynovDirections(n_directions=3, space="w", steps=4, bf16=False).fit(G, name="bands")
    path = est.save(tmp_path / "voynov.safetensors")
    back = VoynovDirections.load(path)
    torch.testing.assert_close(back.directions_.vectors, est.directions_.vectors)
    torch.testing.assert_close(back.deformator_.vectors(), est.deformator_.vectors())
    assert back.rca_ == est.rca_ and back.get_params() == est.get_params()
    assert 0 <= back.score(G, batches=2) <= 1


# ---------------------------------------------------------------------- the deformator
@pytest.mark.parametrize("k", [16, 5])
def test_ortho_deformator_stays_orthonormal(k):
    A = Deformator(k, 16, "ortho", seed=3, gain=10.0)
    opt = torch.optim.Adam(A.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(0)
    target = torch.randn(k, 16, generator=g)
    for _ in range(50):
        opt.zero_grad()
        (A.vectors() - target).square().sum().backward()
        opt.step()
    V = A.vectors().detach().double()
    assert (V @ V.T - torch.eye(k, dtype=torch.float64)).abs().max() < 1e-5


def test_deformator_variants():
    assert torch.equal(Deformator(3, 5, "coordinate").vectors(), torch.eye(5)[:3])
    R = Deformator(4, 6, "random", seed=1).vectors()
    torch.testing.assert_close(R @ R.T, torch.eye(4), atol=1e-6, rtol=0)
    assert not Deformator(4, 6, "random").trainable
    P = Deformator(9, 4, "proj").vectors()  # more directions than dimensions: allowed for proj/linear
    torch.testing.assert_close(P.norm(dim=1), torch.ones(9))
    assert Deformator(9, 4, "linear").vectors().shape == (9, 4)
    shift = Deformator(3, 5, "coordinate")(torch.tensor([2, 0]), torch.tensor([1.5, -2.0]))
    torch.testing.assert_close(shift, torch.tensor([[0, 0, 1.5, 0, 0], [-2.0, 0, 0, 0, 0]]))
    for kind in ("ortho", "coordinate", "random"):
        with pytest.raises(OptionsError, match="at most 4"):
            Deformator(5, 4, kind)


# ---------------------------------------------------------------------- closed forms
def test_sefa_matches_its_closed_form():
    B, V = known_matrix(20, 6, [4.0, 3.0, 2.0, 1.0])
    est = SeFaDirections(n_directions=4).fit(LinearGenerator(B))
    assert matched_cosines(est.directions_.vectors, V).min() > 1 - 1e-5
    # in order: the largest singular value first, eigenvalues of BᵀB = s²
    assert (est.directions_.vectors[0].double() / est.directions_.meta["shift_unit"] @ V[0]).abs() > 1 - 1e-5
    torch.testing.assert_close(est.eigenvalues_, torch.tensor([16.0, 9.0, 4.0, 1.0]), atol=1e-4, rtol=0)


def test_sefa_on_the_planted_w_matches_the_inverse_map(planted):
    A = orthogonal(11, 5) * torch.linspace(0.5, 3.0, 11, dtype=torch.float64)  # columns scaled: A = Q diag(s)
    est = SeFaDirections(n_directions=11).fit(planted(w_matrix=A, num_ws=2))
    Ainv = torch.linalg.inv(A)
    values, vectors = torch.linalg.eigh(Ainv.T @ Ainv)
    assert matched_cosines(est.directions_.vectors, vectors.T).min() > 1 - 1e-5
    torch.testing.assert_close(est.eigenvalues_.double(), values.flip(0), rtol=1e-4, atol=1e-6)


def test_ganspace_matches_the_covariance_eigenvectors(planted):
    # w = A z with A = Q diag(s): Cov(w) = Q diag(s²) Qᵀ, so the principal directions are Q's columns.
    s = torch.tensor([3.0, 2.2, 1.6, 1.2] + [0.5] * 7, dtype=torch.float64)
    Q = orthogonal(11, 7)
    est = GANSpaceDirections(n_directions=4, space="w", n_samples=20_000).fit(planted(w_matrix=Q * s))
    assert matched_cosines(est.directions_.vectors, Q[:, :4].T).min() > 0.99
    torch.testing.assert_close(est.explained_variance_.double(), s[:4].square(), rtol=0.05, atol=0)


def test_ganspace_of_a_feature_regresses_back_to_the_latent():
    # h = B z: the activations' principal coordinates are U_kᵀ B z, whose latent basis is B's right vectors.
    B, V = known_matrix(24, 6, [5.0, 3.0, 2.0])
    est = GANSpaceDirections(n_directions=3, feature="h", n_samples=3000).fit(LinearGenerator(B))
    assert matched_cosines(est.directions_.vectors, V).min() > 0.99
    torch.testing.assert_close(est.explained_variance_ratio_.sum(), torch.tensor(1.0), atol=0.02, rtol=0)


# ---------------------------------------------------------------------- InterFaceGAN
def test_interfacegan_recovers_a_planted_hyperplane(planted):
    A = orthogonal(11, 3) * torch.linspace(0.5, 2.0, 11, dtype=torch.float64)
    G = planted(w_matrix=A)
    z = G.sample_latents(3000, seed=0)
    w = G.to_space(z, "w")
    smile = G.factors_of(w, "w")["smile"]  # monotone in z_smile = row "smile" of A⁻¹ · w
    normal = torch.randn(11, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    labels = {"smile": smile, "planted": (w @ normal > 0.2).double().numpy()}
    est = InterFaceGANDirections(space="w").fit(G, labels=labels, latents=w)
    expected = torch.stack([torch.linalg.inv(A)[G.factor_index("smile")], normal])
    found = est.directions_.vectors.double()
    cos = (found / found.norm(dim=1, keepdim=True) * (expected / expected.norm(dim=1, keepdim=True))).sum(1)
    assert cos.min() > 0.98, cos  # same sign too: the normal points to the positive side
    assert est.directions_.names == ["smile", "planted"] and min(est.accuracy_.values()) > 0.95


# ---------------------------------------------------------------------- alignment with the world
def test_alignment_finds_the_factor_each_planted_coordinate_moves(planted):
    G = planted()
    coordinates = Directions(torch.eye(11), space="z")
    names = ["head_x", "background_hue", "hair_hue", "smile"]
    indices = [G.factor_index(n) for n in names]
    result = factor_alignment(G, coordinates, indices=indices, n=24, shift=1.0)
    for name, k in zip(names, indices):
        assert result.top_factor(indices.index(k))[0] == name
        assert result.best_direction[name] == k
    assert result.purity["background_hue"] > 0.7 and result.purity["head_x"] > 0.7


def test_pooled_alignment_picks_each_factor_from_whichever_set_moves_it_purely():
    from ganatomy.directions import Alignment, pool_alignments, purity_from_changes

    factors, continuous = ["a", "b", "c"], ["a", "b"]

    def alignment(changes):
        changes = np.array(changes, dtype=float)
        rows, purity = purity_from_changes(changes, factors)
        best = {f: [3, 7][k] for f, k in rows.items()}  # as factor_alignment: direction indices, not rows
        return Alignment(factors, continuous, [3, 7], changes, best, purity)

    coarse = alignment([[1.0, 1.0, 0.0], [0.0, 0.1, 0.9]])  # "a" only mixed with "b" here
    fine = alignment([[0.9, 0.05, 0.05], [0.0, 1.0, 1.0]])  # a pure "a" here
    pooled = pool_alignments({"coarse": coarse, "fine": fine})
    assert pooled.changes.shape == (4, 3) and pooled.names == ["coarse 3", "coarse 7", "fine 3", "fine 7"]
    assert pooled.direction_name(pooled.best_direction["a"]) == "fine 3"
    assert pooled.purity["a"] == pytest.approx(0.9) and pooled.covered == ["a"]
    assert pooled.purity["b"] == pytest.approx(0.5)  # coarse 3 and fine 7 tie at a half
    assert coarse.direction_name(coarse.best_direction["a"]) == "3"
    with pytest.raises(OptionsError, match="nothing to pool"):
        pool_alignments({})


def test_layer_groups_split_the_rows_into_coarse_middle_and_fine_thirds():
    from ganatomy.latent import layer_groups

    assert layer_groups(8) == {"coarse": (0, 1), "middle": (2, 3, 4), "fine": (5, 6, 7)}
    groups = layer_groups(14)
    assert sorted(r for rows in groups.values() for r in rows) == list(range(14))
    with pytest.raises(OptionsError, match="at least 3 W\\+ rows"):
        layer_groups(2)


def test_the_oracle_ceiling_reads_each_factor_moved_alone_as_that_factor():
    from ganatomy.worlds import FACTORS

    ceiling = world_purity_ceiling(res=32, n=16, move=0.15)
    assert set(ceiling) == {f.name for f in FACTORS if not f.is_categorical}
    # the renderer moved only that factor: the oracle must put most of the change on it
    assert min(ceiling.values()) > 0.5, ceiling
    with pytest.raises(OptionsError, match="0 < move < 0.5"):
        world_purity_ceiling(move=0.5)


# ---------------------------------------------------------------------- files and errors
def test_directions_files_round_trip_and_refuse_another_generator(tmp_path):
    B, _ = known_matrix(20, 6, [4.0, 3.0, 2.0])
    G = LinearGenerator(B)
    est = SeFaDirections(n_directions=3).fit(G, name="linear-b")
    path = est.save_directions(tmp_path / "sefa.safetensors")
    back = load(path, G)
    torch.testing.assert_close(back.vectors, est.directions_.vectors)
    assert back.method == "sefa" and back.meta["generator"]["name"] == "linear-b"
    other = LinearGenerator(B * 1.01)
    with pytest.raises(OptionsError, match="another generator .*weights differ"):
        load(path, other)
    with pytest.raises(OptionsError, match="another generator"):
        est.check_same_generator(other)
    saved = SeFaDirections.load(est.save(tmp_path / "est.safetensors"))
    torch.testing.assert_close(saved.edit(torch.zeros(2, 6), 0, 1.0), est.edit(torch.zeros(2, 6), 0, 1.0))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: VoynovDirections(n_directions=0, space="z"), "n_directions must be an integer >= 1"),
        (lambda: VoynovDirections(space="q"), "unknown latent space 'q'"),
        (lambda: VoynovDirections(space="w"), "has no 'w' space"),
        (lambda: VoynovDirections(space="z", shift_range=0.0), "shift_range must be > 0"),
        (lambda: VoynovDirections(space="z", shift_range=-1.0), "shift_range must be > 0"),
        (lambda: VoynovDirections(space="z", deformator="fc"), "unknown variant 'fc'"),
        (lambda: VoynovDirections(n_directions=12, space="z"), "at most 11"),
        (lambda: VoynovDirections(space="z", final_lr=1.5), "final_lr must lie in \\[0, 1\\]"),
        (lambda: GANSpaceDirections(n_directions=0), "n_directions must be an integer >= 1"),
        (lambda: GANSpaceDirections(space="w+"), "has no 'w\\+' space"),
        (lambda: SeFaDirections(n_directions=-1), "n_directions must be an integer >= 1"),
        (lambda: InterFaceGANDirections(space="w"), "has no 'w' space"),
    ],
)
def test_bad_input_is_one_line(planted, make, match):
    with pytest.raises(GanatomyError, match=match) as info:
        make().fit(planted())
    assert "\n" not in str(info.value)


def test_layers_need_wplus(planted):
    G = planted(w_matrix=np.eye(11), num_ws=4)
    with pytest.raises(OptionsError, match="space is 'w'"):
        VoynovDirections(space="w", layers=[0]).fit(G)
    with pytest.raises(OptionsError, match="W\\+ rows in \\[0, 4\\)"):
        GANSpaceDirections(space="w+", layers=[7]).fit(G)


# ---------------------------------------------------------------------- the command line
def test_cli_fit_and_show(tmp_path):
    import typer
    from typer.testing import CliRunner

    from ganatomy.cli.directions import register
    from ganatomy.zoo import ZOO

    if not ZOO["digiface-dcgan64"].installed():
        pytest.skip("digiface-dcgan64 is not installed")
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "directions",
            "fit",
            "--network",
            "digiface-dcgan64",
            "--method",
            "sefa",
            "--k",
            "3",
            "--outdir",
            str(tmp_path),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    (run,) = tmp_path.glob("00000-directions-sefa-*")
    assert {p.name for p in run.iterdir()} >= {"options.json", "directions.safetensors", "estimator.safetensors"}
    result = runner.invoke(app, ["directions", "show", str(run), "--seeds", "0-1", "--shifts", "3", "--indices", "0"])
    assert result.exit_code == 0, result.output
    assert (run / "show" / "direction-000.png").is_file() and (run / "show" / "direction-000.gif").is_file()


def test_every_generated_bad_directions_option_is_a_one_line_error():
    """The directions run's options go through the same generated checks as the training options."""
    from ganatomy.bench.faults import option_candidates
    from ganatomy.directions.run import DirectionsFitOptions
    from ganatomy.errors import OptionsError
    from ganatomy.runs.options import merge_options, nested_option, options_from_dict

    base = {"network": "world32-stylegan2"}
    candidates = list(option_candidates(DirectionsFitOptions))
    bad = [c for c in candidates if c.bad and c.key != "network"]
    assert len(bad) > 20
    for c in bad:
        with pytest.raises(OptionsError) as e:
            options_from_dict(DirectionsFitOptions, merge_options(base, nested_option(c.key, c.value)))
        assert "\n" not in str(e.value), (c, str(e.value))
    for c in (c for c in candidates if not c.bad and c.key not in ("network", "min_shift")):
        options_from_dict(DirectionsFitOptions, merge_options(base, nested_option(c.key, c.value)))
