"""``evaluate_generator`` and ``ganatomy evaluate``: records with their protocol, class consistency of
a generator that draws the requested class (and of one that draws the wrong one), disentanglement
of a planted generator (latents = world factors) vs a rotated one."""

from __future__ import annotations

import json

import pytest
import torch
from scipy.stats import ortho_group
from typer.testing import CliRunner

from conftest import PlantedGenerator as WorldGenerator  # latents are world factors
from ganatomy.cli import app
from ganatomy.data.world import WorldDataset
from ganatomy.errors import OptionsError
from ganatomy.metrics.evaluate import evaluate_generator, parse_metric_names
from ganatomy.metrics.generator import to_uint8_images
from ganatomy.nets.protocol import Generator
from ganatomy.worlds import FACTORS, LABEL_FACTOR


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)


def test_stub_implements_the_protocol():
    assert isinstance(WorldGenerator(), Generator)


def test_a_metric_does_not_depend_on_the_batch_size():
    from ganatomy.metrics.compute import compute_metrics
    from ganatomy.metrics.evaluate import generator_sampler
    from ganatomy.metrics.extractors import ModuleExtractor
    from ganatomy.nets import StyleGAN2Generator

    torch.manual_seed(0)  # a tiny conditional G: its labels come from the seeds too
    G = StyleGAN2Generator(img_resolution=16, z_dim=16, w_dim=16, c_dim=3, channel_base=256, channel_max=32).eval()
    source = generator_sampler(G)
    real = source.images_for_seeds(range(10_000, 11_000))  # other samples of the same G
    quadrant_colours = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    ext = ModuleExtractor(quadrant_colours, name="tiny", feature_dim=12)

    def fd(fake, batch_size):
        (record,) = compute_metrics("fd1k_tiny", real, fake, {"tiny": ext}, use_cache=False, batch_size=batch_size)
        return record

    by_7, by_32 = fd(source, 7), fd(source, 32)
    assert by_7["value"] == pytest.approx(by_32["value"], rel=1e-6)
    assert by_7["protocol"]["fake"]["seeds"] == "0+image index"
    # One seed per batch (the plain-callable convention) makes another set: the comparison has power.
    per_batch = fd(lambda n, seed: source.images_for_seeds([seed] * n), 32)
    assert per_batch["value"] > 2 * by_32["value"] > 0
    assert per_batch["protocol"]["fake"]["seeds"] == "0+batch index"


def test_metric_names_include_generator_kinds():
    names = [p.kind for p in parse_metric_names("fd1k_oracle, cc2k_fmnist,dis1k_oracle")]
    assert names == ["fd", "cc", "dis"]
    with pytest.raises(OptionsError, match="unknown kind"):
        parse_metric_names("xx1k_oracle")
    with pytest.raises(OptionsError, match="needs extractor oracle"):
        parse_metric_names("dis1k_effnet")
    with pytest.raises(OptionsError, match="repeated"):
        parse_metric_names("fd1k_oracle,fd1k_oracle")


def test_uint8_quantisation_inverts_the_data_mapping():
    u = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    assert torch.equal(to_uint8_images(u.float() / 127.5 - 1.0), u)


def test_class_consistency_of_a_generator_that_draws_the_requested_class():
    real = WorldDataset(32, size=64)
    right = evaluate_generator(WorldGenerator(conditional=True), ["cc1k_oracle"], real, use_cache=False)[0]
    assert right["metric"] == "cc1k_oracle" and right["label"] == "CC-world32"
    assert right["value"] > 0.97 and right["values"]["class_consistency_balanced"] > 0.97
    judge = right["protocol"]["judge"]
    assert judge["name"] == "world32" and judge["heldout"]["accuracy"][LABEL_FACTOR] > 0.95
    wrong = evaluate_generator(
        WorldGenerator(conditional=True, class_offset=1), ["cc1k_oracle"], real, use_cache=False
    )[0]
    assert wrong["value"] < 0.03
    with pytest.raises(OptionsError, match="class-conditional"):
        evaluate_generator(WorldGenerator(), ["cc1k_oracle"], real, use_cache=False)


def test_disentanglement_planted_high_rotated_low():
    real = WorldDataset(32, size=64)
    planted = evaluate_generator(WorldGenerator(), ["dis1k_oracle"], real, use_cache=False)[0]
    mixing = ortho_group.rvs(len(FACTORS), random_state=0)
    rotated = evaluate_generator(WorldGenerator(mixing=mixing), ["dis1k_oracle"], real, use_cache=False)[0]
    p, r = planted["values"], rotated["values"]
    assert p["mig"] > 0.4 and r["mig"] < 0.15, (p, r)
    assert p["dci_disentanglement"] > 0.7 and r["dci_disentanglement"] < 0.4, (p, r)
    assert p["sap"] > 0.3 and r["sap"] < 0.15, (p, r)
    assert planted["value"] == p["mig"] and planted["values"]["constant_factors"] == []
    assert planted["results"]["dis1k_oracle_sap"] == p["sap"]


def test_a_registered_generator_metric_kind_runs_through_evaluate(monkeypatch):
    from ganatomy.metrics.generator import generate
    from ganatomy.metrics.registry import GENERATOR_METRIC_KINDS, GeneratorMetricKind, register_metric_kind

    def requested_class_share(G, judge, num, seed, batch_size):
        images, _, labels = generate(G, range(seed, seed + num))
        return {"share": float((judge.classify(images).argmax(axis=1) == labels.numpy()).mean()), "images": num}

    kind = GeneratorMetricKind(
        "share",
        requested_class_share,
        "share",
        lambda ext, label: f"Share-{label}",
        extractors=("oracle",),
        protocol=lambda G: {"classes": f"{G.c_dim} drawn per seed"},
    )
    monkeypatch.setitem(GENERATOR_METRIC_KINDS, "share", kind)  # removed again after the test
    (record,) = evaluate_generator(
        WorldGenerator(conditional=True), "share1k_oracle", WorldDataset(32, size=8), use_cache=False
    )
    assert record["label"] == "Share-world32" and record["value"] == record["values"]["share"] > 0.97
    assert record["protocol"]["classes"] == "4 drawn per seed" and record["protocol"]["judge"]["name"] == "world32"
    assert record["results"] == {"share1k_oracle": record["value"], "share1k_oracle_images": 1000}
    with pytest.raises(OptionsError, match="needs extractor oracle"):
        parse_metric_names("share1k_effnet")
    # one name is one kind across the distribution and generator registries
    with pytest.raises(OptionsError, match="'fd' is already registered"):
        register_metric_kind(GeneratorMetricKind("fd", requested_class_share, "share", lambda e, lab: lab))
    with pytest.raises(OptionsError, match="lowercase letters"):
        register_metric_kind(GeneratorMetricKind("my_kind", requested_class_share, "share", lambda e, lab: lab))


def test_evaluate_rejects_a_resolution_mismatch():
    with pytest.raises(OptionsError, match="64x64"):
        evaluate_generator(WorldGenerator(res=64), ["fd1k_oracle"], WorldDataset(32, size=8), use_cache=False)


def test_cli_evaluate_writes_metrics_jsonl(tmp_path):
    from ganatomy.nets.presets import get_preset
    from ganatomy.train.state import save_network_snapshot

    preset = get_preset("cpu32")
    G = preset.build_generator(channel_base=256, channel_max=32)
    D = preset.build_discriminator(channel_base=256, channel_max=32)
    snapshot = tmp_path / "network-snapshot-000000.safetensors"
    save_network_snapshot(snapshot, G, D, {"options": {"data": "world:32"}, "kimg": 0})
    outdir = tmp_path / "eval"
    args = [
        "evaluate",
        "--network",
        str(snapshot),
        "--metrics",
        "fd1k_oracle,pr1k_oracle",
        "--outdir",
        str(outdir),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (outdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["metric"] for r in records] == ["fd1k_oracle", "pr1k_oracle"]
    fd, pr = records
    assert fd["data"] == "world:32" and fd["network"] == str(snapshot)  # the data came from the snapshot
    assert fd["value"] > 0 and fd["label"] == "FD-Oracle"
    proto = fd["protocol"]
    assert proto["num"] == proto["num_real"] == proto["num_fake"] == 1000
    assert proto["extractor"]["name"] == "oracle" and len(proto["extractor"]["weights_sha256"]) == 64
    assert proto["extractor"]["config"]["oracle"] == "world32" and proto["real"]["cache"] == "miss"
    assert proto["fake"]["network"] == str(snapshot) and proto["seed"] == 0
    assert {"ganatomy_version", "torch_version", "timestamp"} <= set(fd)
    assert 0 <= pr["values"]["precision"] <= 1 and pr["results"]["pr1k_oracle_recall"] == pr["values"]["recall"]
    assert "FD-Oracle" in result.output

    # a second run appends, reads the real features from the cache and gives the same number
    result = CliRunner().invoke(app, args[:4] + ["fd1k_oracle"] + args[5:])
    assert result.exit_code == 0, result.output
    again = [json.loads(line) for line in (outdir / "metrics.jsonl").read_text().splitlines()]
    assert len(again) == 3 and again[2]["protocol"]["real"]["cache"] == "hit"
    assert again[2]["value"] == pytest.approx(fd["value"], rel=1e-9)

    # a zoo name or a file without recorded data needs --data
    save_network_snapshot(tmp_path / "bare.safetensors", G, D, {})
    result = CliRunner().invoke(
        app, ["evaluate", "--network", str(tmp_path / "bare.safetensors"), "--outdir", str(outdir)]
    )
    assert isinstance(result.exception, OptionsError) and "--data" in str(result.exception)


def test_real_vs_real_reference_of_bench_quality_is_near_perfect(tmp_path, monkeypatch):
    # The floor bench quality prints beside a run: two disjoint sets of real world images.
    from ganatomy.bench.reference import real_vs_real

    monkeypatch.setenv("GANATOMY_CACHE", str(tmp_path))
    ref = real_vs_real(["fd1k_oracle", "pr1k_oracle"], "world:32", 1000)
    assert set(ref) == {"fd1k_oracle", "pr1k_oracle", "pr1k_oracle_precision", "pr1k_oracle_recall"}
    assert 0 <= ref["fd1k_oracle"] < 5
    assert ref["pr1k_oracle"] > 0.8 and ref["pr1k_oracle_recall"] > 0.8
