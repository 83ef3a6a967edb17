"""StyleGenes: the gene-bank prior, the DNA operations and the conditional sampler, with known answers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ganatomy.errors import OptionsError
from ganatomy.genes import GeneStatistics, crossover, format_dna, gene_prior, knock_out, mutate, parse_dna, sweep
from ganatomy.nets import build_generator
from ganatomy.nets.genes import GeneBankPrior

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(img_resolution=8, z_dim=4, w_dim=16, channel_base=64, channel_max=16, up_mode="transposed")


def gene_generator(variants: int = 5, **prior) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_generator("stylegan2", {**TINY, "prior": {"kind": "genes", "variants": variants, **prior}}).eval()


def test_dna_maps_to_a_deterministic_latent_of_concatenated_variants():
    G = gene_generator()
    prior = gene_prior(G)
    dna = torch.tensor([[0, 4, 2, 1]])
    w = G.to_space(dna, "w")
    expected = torch.cat([prior.bank[i, k] for i, k in enumerate(dna[0].tolist())])
    torch.testing.assert_close(w[0], expected)
    torch.testing.assert_close(G.to_space(dna, "w"), w)
    assert G.z_discrete and prior.num_latents() == 5**4
    assert G.sample_latents(3, seed=7).dtype == torch.long
    torch.testing.assert_close(G.sample_latents(3, seed=7), G.sample_latents(3, seed=7))


def test_gradients_reach_only_the_chosen_variants():
    G = gene_generator()
    G.requires_grad_(True)
    dna = torch.tensor([[0, 4, 2, 1], [0, 3, 2, 1]])
    G(dna).square().mean().backward()
    touched = G.prior.bank.grad.abs().sum(-1) > 0  # [n_genes, K]
    chosen = torch.zeros_like(touched)
    for row in dna:
        chosen[torch.arange(4), row] = True
    assert torch.equal(touched, chosen)


def test_truncation_pulls_every_gene_towards_its_bank_mean_with_and_without_the_open_choices():
    for options in ({}, {"shared": True}, {"linear": True}):
        G = gene_generator(**options)
        prior = G.prior
        dna = G.sample_latents(6, seed=1)
        w = G.to_space(dna, "w", truncation_psi=0.25)
        genes = prior.genes_of(dna)
        pulled = prior.bank_means().unsqueeze(0).lerp(genes, 0.25)
        torch.testing.assert_close(w, prior.combine(pulled), rtol=1e-5, atol=1e-5)
        # the exact mean over all DNAs equals the mean over every DNA of a full enumeration (gene by gene)
        all_w = G.to_space(torch.cartesian_prod(*[torch.arange(5)] * 4), "w")
        torch.testing.assert_close(all_w.mean(0), prior.mean_w(), rtol=1e-4, atol=1e-5)


def test_operations_give_the_documented_dnas():
    G = gene_generator()
    prior = G.prior
    dna = torch.tensor([1, 2, 3, 4])
    swept = sweep(prior, dna, gene=2)
    assert swept.shape == (5, 4) and swept[:, 2].tolist() == [0, 1, 2, 3, 4]
    assert (swept[:, [0, 1, 3]] == dna[[0, 1, 3]]).all()
    a, b = torch.tensor([0, 0, 0, 0]), torch.tensor([4, 4, 4, 4])
    child, from_b = crossover(prior, a, b, cut=1)
    assert child.tolist() == [0, 4, 4, 4] and from_b.tolist() == [False, True, True, True]
    child, from_b = crossover(prior, a, b, generator=torch.Generator().manual_seed(3))
    assert torch.equal(child, torch.where(from_b, b, a))
    mutated, changed = mutate(prior, dna, rate=1.0, generator=torch.Generator().manual_seed(0))
    assert changed.all() and (mutated != dna).all()
    same, changed = mutate(prior, dna, rate=0.0)
    assert torch.equal(same, dna) and not changed.any()
    w = knock_out(prior, dna, genes=[1])
    expected = prior.genes_of(dna.unsqueeze(0)).clone()
    expected[:, 1] = prior.bank_means()[1]
    torch.testing.assert_close(w, prior.combine(expected))


def test_dna_text_round_trips_and_bad_dnas_are_one_line_errors():
    dna = torch.tensor([3, 17, 0, 42])
    assert format_dna(dna) == "3.17.0.42"
    assert torch.equal(parse_dna("3.17.0.42", 4, 64), dna)
    for text, message in [
        ("3.17.0", "has 3 genes"),
        ("3.x.0.1", "not a variant index"),
        ("3.99.0.1", "variants 0..63"),
    ]:
        with pytest.raises(OptionsError, match=message):
            parse_dna(text, 4, 64)
    G = gene_generator()
    with pytest.raises(OptionsError, match="lie in"):
        G.to_space(torch.tensor([[0, 5, 0, 0]]), "w")
    with pytest.raises(OptionsError, match="integer variant indices"):
        G.to_space(torch.tensor([[0.5, 1, 0, 0]]), "w")


def test_bad_prior_options_are_one_line_errors():
    with pytest.raises(OptionsError, match="must divide w_dim"):
        GeneBankPrior(z_dim=5, w_dim=16)
    with pytest.raises(OptionsError, match="unconditional only"):
        GeneBankPrior(z_dim=4, w_dim=16, c_dim=3)
    with pytest.raises(OptionsError, match="not a gene-bank prior"):
        gene_prior(build_generator("stylegan2", TINY))


class PlantedJudge:
    """Reads 'planted' = 1 exactly when gene 2 has a variant below 2, from the DNA hidden in the image.

    The generator below writes its DNA into the image's pixels, so the judge can read it back: the
    dependence between gene 2 and the attribute is known exactly.
    """

    def predict(self, images: torch.Tensor) -> SimpleNamespace:
        dna = images[:, 0, 0, :4].round().long()
        on = (dna[:, 2] < 2).numpy()
        probs = np.stack([1.0 - on, on.astype(float)], axis=1)
        return SimpleNamespace(factors={"planted": on.astype(np.int64)}, probs={"planted": probs})


class DNAWriter(torch.nn.Module):
    """A 'generator' with a real gene prior whose image is its DNA written into the first row."""

    kind = "dna-writer"
    img_resolution = 8

    def __init__(self) -> None:
        super().__init__()
        self.prior = GeneBankPrior(z_dim=4, w_dim=16, variants=5)
        self.w_avg = self.prior.w_avg

    def forward(self, dna: torch.Tensor) -> torch.Tensor:
        images = torch.zeros(dna.shape[0], 3, 8, 8)
        images[:, :, 0, :4] = dna.float().unsqueeze(1)
        return images

    def config(self) -> dict:
        return {}


def test_conditional_sampler_reproduces_a_planted_gene_attribute_dependence(tmp_path):
    stats = GeneStatistics(n_samples=2000, batch_size=500, seed=0).fit(DNAWriter(), judge=PlantedJudge())
    # Gene 2 carries all the information; the others none.
    mi = stats.mutual_info_["planted"]
    assert int(np.argmax(mi)) == 2 and mi[2] > 0.5 and np.all(np.delete(mi, 2) < 0.01)
    assert stats.informative_genes("planted", top=1) == [2]
    p = stats.conditional({"planted": 1})
    np.testing.assert_allclose(p[2], [0.5, 0.5, 0, 0, 0], atol=1e-4)  # only variants 0 and 1 give 'on'
    dnas = stats.sample(400, {"planted": "on"}, top_genes=1, seed=1, method="naive-bayes")
    assert (dnas[:, 2] < 2).all()
    assert len(torch.unique(dnas[:, 0])) == 5  # an uninformative gene stays uniform: diversity kept
    # The posterior sampler's softmax regression is L2-regularised, so a deterministic rule stays a
    # near-certainty (logit gap ~5 with M = 2000), not a certainty.
    dnas = stats.sample(400, {"planted": "on"}, seed=1, method="posterior")
    assert (dnas[:, 2] < 2).float().mean() > 0.98 and len(torch.unique(dnas[:, 0])) == 5
    stats.save(tmp_path / "stats.safetensors")
    again = GeneStatistics.load(tmp_path / "stats.safetensors")
    np.testing.assert_allclose(again.conditional({"planted": 1}), p)
    with pytest.raises(OptionsError, match="unknown attribute"):
        stats.sample(4, {"hat": 1})
    with pytest.raises(OptionsError, match="unknown class"):
        stats.sample(4, {"planted": "purple"})


class EitherGeneJudge(PlantedJudge):
    """Reads 'either' = 1 when gene 0 or gene 1 has a variant below 2 (an interaction of two genes)."""

    def predict(self, images: torch.Tensor) -> SimpleNamespace:
        dna = images[:, 0, 0, :4].round().long()
        on = ((dna[:, 0] < 2) | (dna[:, 1] < 2)).numpy()
        return SimpleNamespace(factors={"either": on.astype(np.int64)}, probs={"either": np.eye(2)[on.astype(int)]})


def test_the_posterior_sampler_keeps_the_genes_dependence_that_naive_bayes_loses():
    stats = GeneStatistics(n_samples=4000, batch_size=1000, seed=0).fit(DNAWriter(), judge=EitherGeneJudge())

    def hit_rate(method):
        dna = stats.sample(2000, {"either": 1}, seed=3, method=method)
        return float(((dna[:, 0] < 2) | (dna[:, 1] < 2)).float().mean()), dna

    # Naive Bayes draws genes 0 and 1 independently from their marginals P(s_i < 2 | on) = 0.4 / 0.64:
    # both miss with probability 0.375^2, so it hits 1 - 0.14 = 0.86. The posterior knows that one is enough.
    naive, _ = hit_rate("naive-bayes")
    posterior, dna = hit_rate("posterior")
    assert abs(naive - 0.86) < 0.03 and posterior > 0.97
    assert len(torch.unique(dna[:, 3])) == 5  # a gene the attribute ignores keeps all its variants
    both = float(((dna[:, 0] < 2) & (dna[:, 1] < 2)).float().mean())
    assert 0.1 < both < 0.4  # the true posterior's share of 'both' is 0.16 / 0.64 = 0.25: not collapsed to one way
    with pytest.raises(OptionsError, match="method must be one of"):
        stats.sample(4, {"either": 1}, method="magic")


class GradedJudge(PlantedJudge):
    """Reads 'graded' = 1 with probability GRADED[k] when gene 0 has variant k (a soft, noisy attribute)."""

    GRADED = np.array([0.95, 0.75, 0.5, 0.25, 0.05])

    def predict(self, images: torch.Tensor) -> SimpleNamespace:
        p_on = self.GRADED[images[:, 0, 0, 0].round().long().numpy()]
        probs = np.stack([1 - p_on, p_on], axis=1)
        return SimpleNamespace(factors={"graded": probs.argmax(1)}, probs={"graded": probs})


def test_asking_for_a_hit_rate_picks_the_highest_temperature_forecast_to_reach_it():
    from ganatomy.genes.statistics import TEMPERATURE_STEPS

    stats = GeneStatistics(n_samples=4000, batch_size=1000, seed=0).fit(DNAWriter(), judge=GradedJudge())
    p = GradedJudge.GRADED

    def exact_forecast(t):  # gene 0 drawn from p(s_0 = k | on)^(1/T) under a uniform prior
        q = p ** (1 / t)
        return float((q / q.sum()) @ p)

    assert exact_forecast(1.0) < 0.75  # at T = 1 the request is met on ~71% only
    temperature = stats.temperature_for({"graded": 1}, 0.9)
    assert temperature in [pytest.approx(step) for step in TEMPERATURE_STEPS]
    exact_choice = next(step for step in TEMPERATURE_STEPS if exact_forecast(step) >= 0.9)
    assert exact_choice * 0.8 <= temperature <= exact_choice / 0.8  # the fitted models, within a grid step
    dnas = stats.sample(2000, {"graded": 1}, seed=5, hit_rate=0.9)
    assert p[dnas[:, 0].numpy()].mean() > 0.87  # the judge's own probability on the draws
    assert len(torch.unique(dnas[:, 3])) == 5  # a gene the attribute ignores keeps all its variants
    assert stats.temperature_for({"graded": 1}, 0.6) == 1.0  # already met at the highest temperature
    with pytest.warns(UserWarning, match="no temperature"):
        assert stats.temperature_for({"graded": 1}, 0.999) == pytest.approx(TEMPERATURE_STEPS[-1])
    with pytest.raises(OptionsError, match="hit_rate must lie in"):
        stats.temperature_for({"graded": 1}, 1.5)


class XorJudge(PlantedJudge):
    """Reads 'xor' = 1 when exactly one of genes 0 and 1 has a variant below 2: no gene alone says anything."""

    def predict(self, images: torch.Tensor) -> SimpleNamespace:
        dna = images[:, 0, 0, :4].round().long()
        on = ((dna[:, 0] < 2) ^ (dna[:, 1] < 2)).numpy().astype(int)
        return SimpleNamespace(factors={"xor": on}, probs={"xor": np.eye(2)[on]})


def test_the_posterior_sampler_learns_an_interaction_no_single_gene_reveals():
    stats = GeneStatistics(n_samples=4000, batch_size=1000, seed=0).fit(DNAWriter(), judge=XorJudge())
    # Each gene's marginal q is flat up to sampling noise (P(on | s_0 < 2) = 0.6, P(on | s_0 >= 2) = 0.4),
    # so naive Bayes hits about P(on) = 0.48; the attribute model sees the pair.
    naive = stats.sample(2000, {"xor": 1}, seed=2, method="naive-bayes")
    posterior = stats.sample(2000, {"xor": 1}, seed=2)

    def hits(dna):
        return float(((dna[:, 0] < 2) ^ (dna[:, 1] < 2)).float().mean())

    assert hits(naive) < 0.6 and hits(posterior) > 0.95
    assert abs(stats.expected_hit_rate(posterior, {"xor": 1}) - hits(posterior)) < 0.03
    assert stats.attribute_model("xor").held_out_loss < 0.1  # nats; ln 2 = 0.69 knows nothing


class CoinJudge(PlantedJudge):
    """Reads 'coin' as a fair coin, whatever the image: no DNA says anything about it."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def predict(self, images: torch.Tensor) -> SimpleNamespace:
        on = self.rng.integers(0, 2, len(images))
        return SimpleNamespace(factors={"coin": on}, probs={"coin": np.eye(2)[on]})


def test_the_forecast_does_not_believe_in_noise_at_low_temperature():
    # 4000 coin flips: a model that fits their noise finds 'lucky' variants and, sampling them at a low
    # temperature, forecasts far above the true 0.5. Early stopping on held-out samples keeps it near 0.5.
    stats = GeneStatistics(n_samples=4000, batch_size=1000, seed=0).fit(DNAWriter(), judge=CoinJudge())
    dnas = stats.sample(2000, {"coin": 1}, temperature=0.1, seed=4)
    assert abs(stats.expected_hit_rate(dnas, {"coin": 1}) - 0.5) < 0.05


class NaNJudge(PlantedJudge):
    def predict(self, images: torch.Tensor) -> SimpleNamespace:
        reading = super().predict(images)
        reading.probs["planted"][0] = np.nan
        return reading


def test_a_judge_that_returns_nan_is_a_one_line_error():
    from ganatomy.errors import DataError

    with pytest.raises(DataError, match="not finite on 1 of 100 images"):
        GeneStatistics(n_samples=100, batch_size=100).fit(DNAWriter(), judge=NaNJudge())


def test_a_loaded_statistics_file_samples_the_same_posterior_draws(tmp_path):
    stats = GeneStatistics(n_samples=1000, batch_size=500, seed=3).fit(DNAWriter(), judge=EitherGeneJudge())
    stats.save(tmp_path / "stats.safetensors")
    again = GeneStatistics.load(tmp_path / "stats.safetensors")
    torch.testing.assert_close(again.sample(50, {"either": 1}, seed=1), stats.sample(50, {"either": 1}, seed=1))


def test_gene_checkpoints_round_trip(tmp_path):
    from ganatomy.nets import load_generator
    from ganatomy.zoo.shipped import save_generator

    G = gene_generator(shared=True)
    path = save_generator(tmp_path / "genes.safetensors", G, {"kimg": 0}, dtype=torch.float32)
    again = load_generator(path)
    assert again.prior.config() == G.prior.config() and again.z_discrete
    dna = G.sample_latents(3, seed=5)
    torch.testing.assert_close(again.synthesize(dna, "z"), G.synthesize(dna, "z"))


def test_train_flags_set_the_gene_prior_and_refuse_gene_flags_without_it():
    from typer.testing import CliRunner

    from ganatomy.cli import app

    result = CliRunner().invoke(app, ["train", "--prior", "genes", "--genes", "8", "--variants", "4", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert '"z_dim": 8' in result.output and '"kind": "genes"' in result.output and '"variants": 4' in result.output
    assert '"normalize": "standardize"' in result.output  # standardised banks unless asked otherwise
    for value, shown in (("false", "false"), ("none", '"none"'), ("whiten", '"whiten"')):
        asked = ["train", "--prior", "genes", "--set", f"network.prior.normalize={value}", "--dry-run"]
        result = CliRunner().invoke(app, asked)
        assert result.exit_code == 0 and f'"normalize": {shown}' in result.output, result.output
    result = CliRunner().invoke(app, ["train", "--genes", "8", "--dry-run"])
    assert result.exit_code != 0 and "belong to --prior genes" in str(result.exception or result.output)


def test_normalized_banks_keep_their_spread_and_their_exact_mean():
    G = gene_generator(normalize=True)
    prior = G.prior
    with torch.no_grad():
        prior.bank.mul_(0.01)  # a collapsed bank
    table = prior.variant_table()
    torch.testing.assert_close(table.mean(dim=1), torch.zeros(4, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(table.std(dim=1), torch.ones(4, 4), atol=1e-4, rtol=0)
    all_w = G.to_space(torch.cartesian_prod(*[torch.arange(5)] * 4), "w")
    torch.testing.assert_close(all_w.mean(0), prior.mean_w(), rtol=1e-4, atol=1e-5)
    assert prior.config()["normalize"] == "standardize"  # True, as older files say, is read as standardize


def test_whitened_banks_have_identity_covariance_whatever_the_raw_bank():
    G = gene_generator(variants=12, normalize="whiten")
    prior = G.prior
    with torch.no_grad():  # every gene's raw variants nearly on one line: what standardised banks drifted to
        line = torch.randn(4, 12, 1) * torch.randn(4, 1, 4)
        prior.bank.copy_(line + 1e-3 * torch.randn(4, 12, 4) + 5.0)
    table = prior.variant_table()
    centred = table - table.mean(dim=1, keepdim=True)
    torch.testing.assert_close(table.mean(dim=1), torch.zeros(4, 4), atol=1e-4, rtol=0)
    eye = torch.eye(4).expand(4, 4, 4)
    # to the float32 storage of the raw bank: its thin directions are 1e-3 wide on an offset of 5
    torch.testing.assert_close(centred.transpose(1, 2) @ centred / 11, eye, atol=1e-2, rtol=0)
    table.square().sum().backward()
    assert torch.isfinite(prior.bank.grad).all()
    with torch.no_grad():  # the exact mean of w over every DNA: zero, the whitened banks' mean
        all_w = G.to_space(torch.cartesian_prod(*[torch.arange(12)] * 4), "w")
        torch.testing.assert_close(all_w.mean(0), prior.mean_w(), rtol=0, atol=1e-4)
    torch.testing.assert_close(prior.mean_w(), torch.zeros(16), atol=1e-4, rtol=0)


def test_gene_prior_refuses_an_unknown_normalisation_and_a_bank_too_small_to_whiten():
    with pytest.raises(OptionsError, match="normalize must be one of none, standardize, whiten"):
        gene_generator(normalize="zca")
    with pytest.raises(OptionsError, match="whitening needs more variants than a gene's 4 dimensions"):
        gene_generator(variants=4, normalize="whiten")


def test_genes_sample_refuses_a_hit_rate_outside_0_1_before_judging_anything(tmp_path):
    from typer.testing import CliRunner

    from ganatomy.cli import app

    args = ["genes", "sample", "--attr", "glasses=on", "--hit-rate", "1.5", "--outdir", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, OptionsError) and "--hit-rate 1.5" in str(result.exception)
    assert not (tmp_path / "out").exists()
