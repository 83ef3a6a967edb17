"""Seams for training methods: objectives by name, label policy, D heads in snapshots, priors by name.

Trainings here are tiny (a few steps of 8 images) and run in-process.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn

from ganatomy.data.subsets import with_label_fraction
from ganatomy.data.world import WorldDataset
from ganatomy.errors import OptionsError
from ganatomy.nets.discriminator import register_head_kind
from ganatomy.nets.mapping import LatentPrior, MappingNetwork, build_prior, prior_class, prior_spec, register_prior
from ganatomy.nets.presets import get_preset
from ganatomy.nets.registry import build_generator
from ganatomy.runs.checkpoint import load_checkpoint
from ganatomy.runs.options import merge_options, options_from_dict
from ganatomy.train.loop import training_loop
from ganatomy.train.objectives import OBJECTIVES, Objective, StandardGAN, objective_class, register_objective
from ganatomy.train.options import TrainOptions, resolve_options
from ganatomy.train.setup import build_networks
from ganatomy.train.state import discriminator_from_record, network_record, save_network_snapshot

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_SG2 = {"network": {"channel_base": 256, "channel_max": 32}, "loss": {"r1_interval": 2, "pl_interval": 2}}


def _opts(*trees: dict, **top) -> TrainOptions:
    """Tiny resolved options: the defaults below with ``trees`` (nested dicts) and then ``top`` laid over."""
    tree = {
        "data": "world:32",
        "batch": 8,
        "kimg": 0.032,
        "tick_kimg": 0.016,
        "snapshot_ticks": 0,
        "precision": "fp32",
        "progress": False,
        "tensorboard": False,
        "grid_size": 8,
    }
    for t in (*trees, top):
        tree = merge_options(tree, t)
    return resolve_options(options_from_dict(TrainOptions, tree), 32, on_gpu=False)


def _train(opts: TrainOptions, dataset, run: Path, resume: Path | None = None) -> Path:
    run.mkdir(exist_ok=True)
    training_loop(opts, run, dataset, Accelerator(cpu=True), resume=resume)
    return run


def _snapshot(run: Path) -> dict:
    (path,) = sorted(run.glob("network-snapshot-*.safetensors"))[-1:]
    return load_checkpoint(path)


def _stats(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def _world(size: int = 64) -> WorldDataset:
    return WorldDataset(res=32, size=size)


# ---------------------------------------------------------------------- test objectives and prior
@register_objective
class _Recording(StandardGAN):
    """The standard GAN, remembering the labels its steps were given and D's adversarial logits."""

    name = "test-recording"
    last: _Recording | None = None

    def setup(self, G, D, dataset):
        super().setup(G, D, dataset)
        self.real_c, self.fake_c, self.logits = [], [], []
        type(self).last = self

    def d_extra_loss(self, D, p, ctx):
        with torch.no_grad():  # the same head on the same h as the step: the same logits
            self.logits.append((D.heads["adv"](p.h_real, p.real_adv_c), D.heads["adv"](p.h_fake, p.fake_c)))
        return None

    def d_step(self, nets, real, real_c, fake_c, ctx):
        self.real_c.append(real_c)
        self.fake_c.append(fake_c)
        super().d_step(nets, real, real_c, fake_c, ctx)

    def g_step(self, nets, n, fake_c, ctx):
        self.fake_c.append(fake_c)
        super().g_step(nets, n, fake_c, ctx)


@register_objective
class _CoTraining(StandardGAN):
    """A minimal S2GAN-CO: a class head on D's features learns from the labelled reals, and the
    projection head takes its prediction (without gradient) for the unlabelled ones."""

    name = "test-cotraining"
    accepts_unlabelled = True
    last: _CoTraining | None = None

    def setup(self, G, D, dataset):
        super().setup(G, D, dataset)
        self.initial_cls = D.add_head("cls", {"kind": "linear", "out": self.num_classes}).weight.detach().clone()
        self.unlabelled_seen = 0
        type(self).last = self

    def real_adv_labels(self, D, h_real, real_c):
        predicted = D.heads["cls"](h_real).argmax(dim=1).detach()
        return torch.where(real_c >= 0, real_c, predicted)

    def d_extra_loss(self, D, p, ctx):
        labelled = p.real_c >= 0
        self.unlabelled_seen += int((~labelled).sum())
        assert (p.real_adv_c >= 0).all()
        if not labelled.any():
            return None
        loss = F.cross_entropy(D.heads["cls"](p.h_real[labelled]), p.real_c[labelled])
        ctx.stats.report("loss/cls", loss)
        return loss


@register_prior
class _GeneBank(LatentPrior):
    """A toy StyleGenes prior: z is ``z_dim`` gene indices; w concatenates each gene's chosen variant."""

    kind = "test-genes"
    z_discrete = True

    def __init__(self, z_dim, w_dim, c_dim=0, w_avg_beta=0.995, variants=4):
        super().__init__(z_dim, w_dim, c_dim, w_avg_beta)
        if c_dim or w_dim % z_dim:
            raise OptionsError("test-genes: unconditional, and w_dim must split into z_dim genes")
        self.variants = int(variants)
        self.bank = nn.Parameter(torch.randn(z_dim, self.variants, w_dim // z_dim))

    def sample_z(self, n, generator=None):
        return torch.randint(self.variants, (n, self.z_dim), generator=generator)

    def forward(self, z, c=None):
        genes = torch.arange(self.z_dim, device=z.device)
        return self.bank[genes, z.long()].flatten(1)  # [N, genes, width] -> [N, w_dim]

    def config(self):
        return {"variants": self.variants}


# ---------------------------------------------------------------------- registries
def test_objective_registry_and_option_errors():
    assert OBJECTIVES["gan"] is StandardGAN and TrainOptions().objective == "gan"
    with pytest.raises(OptionsError, match=r"unknown training objective 'no-such-gan'; known: .*\bs3gan\b") as e:
        options_from_dict(TrainOptions, {"objective": "no-such-gan"})
    assert "\n" not in str(e.value)
    assert register_objective(StandardGAN) is StandardGAN  # the same class again: a no-op

    class Other(StandardGAN):
        name = "gan"

    class BadName(StandardGAN):
        name = "My Objective"

    with pytest.raises(OptionsError, match="already registered"):
        register_objective(Other)
    with pytest.raises(OptionsError, match="short lowercase name"):
        register_objective(BadName)
    with pytest.raises(OptionsError, match="not a concrete Objective"):
        register_objective(Objective)
    with pytest.raises(OptionsError, match="not a concrete Objective"):
        register_objective(dict)
    assert objective_class("gan") is StandardGAN


def test_prior_registry_by_name():
    assert prior_class("mapping") is MappingNetwork and not MappingNetwork.z_discrete
    assert prior_class("test-genes") is _GeneBank and _GeneBank.z_discrete
    for kind in ("nope", "ganatomy.nets.mapping:MappingNetwork"):  # module paths are no longer names
        with pytest.raises(OptionsError, match=f"unknown latent prior '{kind}'; known: .*mapping.*register_prior"):
            build_prior({"kind": kind}, 8, 8, 0, 0.995)

    class Unregistered(MappingNetwork):
        kind = "unregistered"

    with pytest.raises(OptionsError, match="not registered"):
        prior_spec(Unregistered(8, 8))
    with pytest.raises(OptionsError, match="not a LatentPrior"):
        register_prior(nn.Linear)
    with pytest.raises(OptionsError, match="already registered"):
        register_prior(type("Impostor", (MappingNetwork,), {"kind": "mapping"}))


def test_prior_option_builds_the_generator_and_is_checked():
    dataset = _world()
    opts = _opts(TINY_SG2, network={"prior": {"kind": "mapping", "num_layers": 1, "lr_mul": 0.1}})
    G, _ = build_networks(opts, dataset)
    assert G.config()["prior"] == {"kind": "mapping", "num_layers": 1, "lr_mul": 0.1}
    assert build_networks(_opts(TINY_SG2), dataset)[0].config()["prior"]["num_layers"] == 2  # None: the preset's
    with pytest.raises(OptionsError, match="unknown latent prior 'nope'"):
        build_networks(_opts(TINY_SG2, network={"prior": {"kind": "nope"}}), dataset)
    with pytest.raises(OptionsError, match="set twice"):
        build_networks(
            _opts(network={"prior": {"kind": "mapping"}, "g_overrides": {"prior": {"kind": "mapping"}}}), dataset
        )
    with pytest.raises(OptionsError, match="applies to stylegan2"):
        build_networks(_opts(network={"arch": "dcgan", "prior": {"kind": "mapping"}}), dataset)
    with pytest.raises(OptionsError, match="needs a 'kind'"):
        _opts(network={"prior": {"num_layers": 2}})


# ---------------------------------------------------------------------- D heads
def _randomize_(module: nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)


@pytest.mark.parametrize("preset, width", [("cpu32", TINY_SG2["network"]), ("dcgan32", {"ndf": 8})])
def test_discriminator_with_heads_reloads_from_a_snapshot(tmp_path, preset, width):
    D = get_preset(preset).build_discriminator(c_dim=3, **width)
    D.add_head("rot", {"kind": "linear", "out": 4})
    D.add_head("cls", {"kind": "linear", "out": 3})
    _randomize_(D)
    G = build_generator("stylegan2", {"z_dim": 8, "w_dim": 8, "channel_base": 64, "channel_max": 8})
    path = save_network_snapshot(tmp_path / "snap.safetensors", G, D, meta={})
    D2 = discriminator_from_record(load_checkpoint(path)["D"])
    assert D2.config() == D.config() and D.config()["heads"] == {
        "rot": {"kind": "linear", "out": 4},
        "cls": {"kind": "linear", "out": 3},
    }
    img, c = torch.randn(6, 3, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        out, out2 = D.eval().run_heads(D.features(img), c), D2.eval().run_heads(D2.features(img), c)
    assert list(out2) == ["adv", "rot", "cls"]
    for name in out:
        assert torch.equal(out[name], out2[name]), name
    assert out["rot"].dtype == torch.float32 and out["cls"].shape == (6, 3)


def test_head_spec_errors():
    D = get_preset("dcgan32").build_discriminator(ndf=8)
    with pytest.raises(OptionsError, match="not a module"):
        D.add_head("rot", nn.Linear(D.feat_dim, 4))
    with pytest.raises(OptionsError, match="unknown head kind 'mlp'; known: .*linear"):
        D.add_head("rot", {"kind": "mlp", "out": 4})
    with pytest.raises(OptionsError, match="'out' must be a positive integer"):
        D.add_head("rot", {"kind": "linear", "out": 0})
    with pytest.raises(OptionsError, match="bad arguments"):
        D.add_head("rot", {"kind": "linear", "out": 4, "hidden": 3})
    with pytest.raises(OptionsError, match="without dots"):
        D.add_head("a.b", {"kind": "linear", "out": 4})
    with pytest.raises(OptionsError, match="already registered"):
        register_head_kind("linear", lambda feat_dim, equalized, out: nn.Linear(feat_dim, out))
    assert "heads" not in D.config()  # nothing was added by the failed calls
    # Heads can also be declared in the constructor config, e.g. through network.d_overrides.
    D3 = get_preset("dcgan32").build_discriminator(ndf=8, heads={"rot": {"kind": "linear", "out": 4}})
    assert list(D3.heads) == ["adv", "rot"]


# ---------------------------------------------------------------------- the loop through objectives
def test_conditional_stylegan2_through_the_loop(tmp_path):
    dataset = _world()
    run = _train(_opts(TINY_SG2, network={"cond": True}), dataset, tmp_path / "run")
    snap = _snapshot(run)
    assert snap["G_ema"]["config"]["c_dim"] == dataset.num_classes == snap["D"]["config"]["c_dim"]
    assert "heads.adv.embed" in snap["D"]["state"]
    stats = _stats(run)
    assert len(stats) == 2 and all(abs(s["loss/D"]) < 10 for s in stats)


def test_conditional_dcgan_through_the_loop(tmp_path):
    dataset = _world()
    run = _train(_opts(network={"arch": "dcgan", "cond": True}, loss={"kind": "hinge"}), dataset, tmp_path / "run")
    snap = _snapshot(run)
    assert snap["G_ema"]["kind"] == "dcgan" and snap["G_ema"]["config"]["c_dim"] == dataset.num_classes
    assert "heads.adv.embed" in snap["D"]["state"]
    G = build_generator(snap["G_ema"]["kind"], snap["G_ema"]["config"])
    G.load_state_dict(snap["G_ema"]["state"])
    z = G.sample_latents(1, seed=0).repeat(dataset.num_classes, 1)
    with torch.no_grad():
        images = G.eval().synthesize(z, c=torch.arange(dataset.num_classes))
    assert (images[1:] - images[:1]).abs().flatten(1).amax(dim=1).min() > 1e-4  # the label changes the image


def test_fake_labels_are_uniform_over_classes_not_the_data_distribution(tmp_path):
    dataset = _world()
    dataset = dataset.with_labels(dataset.labels * 0)  # every real image is class 0
    _train(_opts(TINY_SG2, objective="test-recording", network={"cond": True}), dataset, tmp_path / "run")
    rec = _Recording.last
    assert torch.cat(rec.real_c).eq(0).all()
    fake = torch.cat(rec.fake_c)
    assert len(fake) == 64 and set(fake.tolist()) == set(range(dataset.num_classes))
    counts = torch.bincount(_many_fake_labels(dataset.num_classes), minlength=dataset.num_classes)
    expected = 8000 / dataset.num_classes
    assert (counts.float() - expected).abs().max() < 5 * expected**0.5  # 5 sigma


def _many_fake_labels(num_classes: int) -> torch.Tensor:
    objective = StandardGAN(_opts(network={"cond": True}))
    G = type("StubG", (), {"c_dim": num_classes})()
    objective.setup(G, None, None)
    return objective.fake_labels(8000, torch.Generator().manual_seed(0), "cpu")


def test_dcgan_with_the_hinge_loss_through_the_loop(tmp_path):
    # One step per tick, so that each tick's logged D loss is one step's: check it against its logits.
    opts = _opts(
        objective="test-recording", kimg=0.016, tick_kimg=0.008, network={"arch": "dcgan"}, loss={"kind": "hinge"}
    )
    run = _train(opts, _world(), tmp_path / "run")
    stats, logits = _stats(run), _Recording.last.logits
    assert len(stats) == len(logits) == 2
    for record, (real, fake) in zip(stats, logits):
        hinge = F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        nonsat = F.softplus(-real).mean() + F.softplus(fake).mean()
        assert record["loss/D"] == pytest.approx(float(hinge), rel=1e-5)
        assert abs(float(hinge - nonsat)) > 1e-3  # the two losses are told apart
    assert _snapshot(run)["G_ema"]["kind"] == "dcgan" and "loss/G" in stats[0]


def test_partly_labelled_data_needs_an_objective_that_accepts_it(tmp_path):
    dataset = with_label_fraction(_world(), 0.25, seed=0)
    assert (dataset.labels < 0).sum() == 48
    refusal = (
        r"objective 'gan' with --cond needs every image labelled; world32 has 48 unlabelled of 64 "
        r"\(use an objective that accepts them \(.*test-cotraining"
    )
    with pytest.raises(OptionsError, match=refusal):
        _train(_opts(TINY_SG2, network={"cond": True}), dataset, tmp_path / "refused")
    assert not list((tmp_path / "refused").iterdir())  # refused before anything was written

    opts = _opts(TINY_SG2, objective="test-cotraining", network={"cond": True})
    run = _train(opts, dataset, tmp_path / "run")
    first = _CoTraining.last
    assert first.unlabelled_seen > 0
    snap = _snapshot(run)
    assert snap["D"]["config"]["heads"] == {"cls": {"kind": "linear", "out": dataset.num_classes}}
    trained_cls = snap["D"]["state"]["heads.cls.weight"]
    assert not torch.equal(trained_cls, first.initial_cls)  # the head was in D's optimizer
    assert "loss/cls" in _stats(run)[0]
    D = discriminator_from_record(snap["D"])
    assert torch.equal(D.heads["cls"].weight, trained_cls)
    # A resume rebuilds the head through the objective and continues.
    _train(dataclasses.replace(opts, kimg=0.048), dataset, run, resume=run / "checkpoint.safetensors")
    assert load_checkpoint(run / "checkpoint.safetensors")["counters"]["cur_nimg"] == 48


def test_custom_prior_by_name_trains_and_round_trips_through_a_snapshot(tmp_path):
    prior = {"kind": "test-genes", "variants": 4}
    opts = _opts(TINY_SG2, network={"prior": prior, "g_overrides": {"z_dim": 16}})
    run = _train(opts, _world(), tmp_path / "run")
    snap = _snapshot(run)
    assert snap["G_ema"]["config"]["prior"] == prior  # a name, not a module path
    torch.manual_seed(opts.seed)
    initial_bank = build_networks(opts, _world())[0].prior.bank
    trained = load_checkpoint(run / "checkpoint.safetensors")["G"]["state"]["prior.bank"]
    assert not torch.equal(initial_bank, trained)  # the adversarial loss reached the bank

    G = build_generator(snap["G_ema"]["kind"], snap["G_ema"]["config"])
    G.load_state_dict(snap["G_ema"]["state"])
    assert G.prior.z_discrete and isinstance(G.prior, _GeneBank)
    z = G.sample_latents(3, seed=0)
    assert z.dtype == torch.int64 and z.shape == (3, 16) and 0 <= int(z.min()) and int(z.max()) < 4
    record = network_record(G)
    G2 = build_generator(record["kind"], json.loads(json.dumps(record["config"])))
    G2.load_state_dict(record["state"])
    with torch.no_grad():
        assert torch.equal(G.eval().synthesize(z), G2.eval().synthesize(z))
