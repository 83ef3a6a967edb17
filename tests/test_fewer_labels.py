"""Fewer labels (Lucic et al. 2019): rotations, D's rotation and class heads, label inference,
the variants as presets, and class-conditional generation by name. Known answers throughout."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator

from ganatomy.data.base import ImageDataset
from ganatomy.data.world import WorldDataset
from ganatomy.errors import OptionsError
from ganatomy.generate import generate_class_rows, network_class_names, parse_classes, write_class_rows
from ganatomy.labels import inference
from ganatomy.labels.rotation import (
    NUM_ROTATIONS,
    RotationNet,
    rotate_batch,
    rotated_count,
    rotation_copies,
    train_rotation_net,
)
from ganatomy.labels.variants import LABELS_FILE, LABELS_RECORD, VARIANTS, prepare_labels
from ganatomy.nets.discriminator import LinearHead
from ganatomy.nets.load import load_generator
from ganatomy.runs.checkpoint import load_checkpoint
from ganatomy.train.fewer_labels import CLASS_HEAD, ROTATION_HEAD, projection_labels, rotation_loss
from ganatomy.train.loop import training_loop
from ganatomy.train.objectives import make_objective
from ganatomy.train.options import TrainOptions
from ganatomy.train.phases import DiscriminatorPass
from ganatomy.train.run import run_training
from ganatomy.train.setup import build_networks
from test_train_seams import _opts as tiny_options

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_DCGAN = {"arch": "dcgan", "g_overrides": {"ngf": 8}, "d_overrides": {"ndf": 8}}


def _opts(**tree) -> TrainOptions:
    """The seams tests' tiny resolved options, with a tiny DCGAN and ``tree`` laid over."""
    return tiny_options({"network": TINY_DCGAN}, tree)


class _Planted(ImageDataset):
    """In-memory images (uint8 [N, C, 32, 32]) with labels."""

    resolution, judge = 32, None

    def __init__(self, images: torch.Tensor, labels: np.ndarray, num_classes: int):
        self.images, self.labels, self.num_classes = images, np.asarray(labels, dtype=np.int64), num_classes
        self.channels, self.name = images.shape[1], "planted"

    def __len__(self) -> int:
        return len(self.images)

    def get_images(self, indices):
        return self.images[torch.as_tensor(np.asarray(indices, dtype=np.int64))]


def _corner_images(n: int, channels: int = 1) -> tuple[torch.Tensor, np.ndarray]:
    """Dark images with one bright 6x6 block in a corner; the corner index (0 top-left, then
    counter-clockwise: bottom-left, bottom-right, top-right) is the label."""
    rng = np.random.default_rng(0)
    corners = rng.integers(0, 4, n)
    images = torch.zeros(n, channels, 32, 32, dtype=torch.uint8)
    for i, q in enumerate(corners):
        rows = slice(0, 6) if q in (0, 3) else slice(26, 32)
        cols = slice(0, 6) if q in (0, 1) else slice(26, 32)
        images[i, :, rows, cols] = 255
    return images, corners


def _corner_of(images: torch.Tensor) -> np.ndarray:
    quarters = [images[:, :, :16, :16], images[:, :, 16:, :16], images[:, :, 16:, 16:], images[:, :, :16, 16:]]
    return torch.stack([q.float().sum(dim=(1, 2, 3)) for q in quarters], dim=1).argmax(1).numpy()


# ---------------------------------------------------------------------- rotations
def test_rotating_a_batch_rotates_its_labels():
    images, corners = _corner_images(32)
    assert (_corner_of(images) == corners).all()
    turns = torch.arange(32) % NUM_ROTATIONS
    rotated = rotate_batch(images, turns)
    assert (_corner_of(rotated) == (corners + turns.numpy()) % NUM_ROTATIONS).all()
    # A full turn is the identity, and the copies are the batch turned by their targets.
    assert torch.equal(rotate_batch(rotate_batch(images, turns), (NUM_ROTATIONS - turns) % NUM_ROTATIONS), images)
    copies, targets = rotation_copies(images)
    assert targets.tolist() == [1] * 32 + [2] * 32 + [3] * 32
    assert torch.equal(copies, rotate_batch(images.repeat(3, 1, 1, 1), targets))
    # Gradients pass through (G's rotation loss needs them).
    x = images.float().requires_grad_(True)
    rotate_batch(x, turns).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    with pytest.raises(OptionsError, match="one rotation in 0..3"):
        rotate_batch(images, torch.full((32,), 4))
    assert [rotated_count(32, 0.5), rotated_count(8, 0.5), rotated_count(8, 1e-3)] == [4, 1, 1]


def _upright_images(n: int) -> torch.Tensor:
    """Noise images with a bright bar along the top edge: each of the four rotations is told apart
    by where the bar is."""
    images = torch.randint(0, 100, (n, 3, 32, 32), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    images[:, :, :4] = 255
    return images


def test_rotation_heads_learn_a_tiny_planted_set_to_100_percent():
    images = _upright_images(8)
    # D's rotation head, trained by the loss the objectives use (real images, their copies).
    opts = _opts(labels={"method": "clustering-ss"})
    G, D = build_networks(opts, _Planted(images, np.zeros(8), 4), make_objective(opts))
    assert ROTATION_HEAD in D.heads and D.heads[ROTATION_HEAD].out == NUM_ROTATIONS
    ctx = types.SimpleNamespace(channels_last=False)
    x = images.float() / 127.5 - 1
    opt = torch.optim.Adam(D.parameters(), lr=2e-3)
    for _ in range(60):
        loss, acc = rotation_loss(D, x, share=1.0, ctx=ctx)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():  # D's BatchNorm as in training: batch statistics of each pass
        _, acc = rotation_loss(D, x, share=1.0, ctx=ctx)
    assert acc == 1.0
    # The label-inference rotation net, on the same set.
    planted = _Planted(images, np.zeros(8), 4)
    trained = train_rotation_net(planted, kimg=0.8, batch=8, lr=3e-3, width=8, seed=0)
    assert trained.final_accuracy == 1.0
    with torch.no_grad():
        predicted = trained.net(torch.cat([x, rotation_copies(x)[0]])).argmax(1)
    assert (predicted == torch.arange(4).repeat_interleave(8)).all()
    assert RotationNet(3, 32, 8).features(x).shape == (8, 64)


# ---------------------------------------------------------------------- the class head and the projection
def test_projection_uses_predicted_labels_only_for_unlabelled_images():
    head = LinearHead(feat_dim=3, out=3, equalized=False)
    with torch.no_grad():
        head.weight.copy_(torch.eye(3))
        head.bias.zero_()
    h = torch.tensor([[0.0, 5, 0], [0, 0, 5], [5, 0, 0], [0, 5, 0]], requires_grad=True)
    labels = torch.tensor([2, -1, 0, -1])
    out = projection_labels(labels, head, h)
    assert out.tolist() == [2, 2, 0, 1]  # the true label where given, the head's argmax elsewhere
    assert out.grad_fn is None and h.grad is None

    # Through the objective's hooks: S2GAN-CO's projection labels, and its class loss on the
    # labelled reals alone (mean over them, weight 1).
    opts = _opts(labels={"method": "s2gan-co", "fraction": 0.5})
    objective = make_objective(opts)
    world = WorldDataset(res=32, size=16)
    G, D = build_networks(opts, prepare_labels(opts.labels, world).dataset, objective)
    with torch.no_grad():
        D.heads[CLASS_HEAD].weight.zero_()
        D.heads[CLASS_HEAD].weight[:3, :3] = torch.eye(3) / D.heads[CLASS_HEAD].gain
        D.heads[CLASS_HEAD].bias.zero_()
    h_real = torch.zeros(4, D.feat_dim)
    h_real[:, :3] = h.detach()
    assert objective.real_adv_labels(D, h_real, labels).tolist() == [2, 2, 0, 1]
    stats = types.SimpleNamespace(report=lambda name, value: None)
    ctx = types.SimpleNamespace(stats=stats, channels_last=False)
    p = DiscriminatorPass(torch.zeros(4, 3, 32, 32), labels, None, h_real, None, None, None)
    expected = torch.nn.functional.cross_entropy(D.heads[CLASS_HEAD](h_real[[0, 2]]), torch.tensor([2, 0]))
    torch.testing.assert_close(objective.d_extra_loss(D, p, ctx), expected)


# ---------------------------------------------------------------------- labels: subsets and inference
def test_labelled_subsets_are_class_balanced_reproducible_and_recorded():
    world = WorldDataset(res=32, size=400)
    opts = _opts(labels={"method": "s3gan", "fraction": 0.1, "subset_seed": 3}).labels
    first = prepare_labels(opts, world)
    labels = first.dataset.labels
    assert (labels >= 0).sum() == 40 and np.bincount(labels[labels >= 0]).tolist() == [10, 10, 10, 10]
    assert (labels[labels >= 0] == world.labels[labels >= 0]).all()  # kept labels are the true ones
    assert np.array_equal(prepare_labels(opts, world).dataset.labels, labels)
    other = prepare_labels(_opts(labels={"method": "s3gan", "fraction": 0.1, "subset_seed": 4}).labels, world)
    assert not np.array_equal(other.dataset.labels, labels)
    assert first.record["variant"] == "s3gan" and first.record["subset_seed"] == 3
    assert first.record["label_fraction"] == 0.1 and first.record["labelled_images"] == 40


def test_label_inference_recovers_planted_clusters_and_classes():
    rng = np.random.default_rng(0)
    true = np.repeat(np.arange(4), 50)
    centres = rng.normal(size=(4, 16)) * 10
    features = centres[true] + rng.normal(size=(200, 16))
    clusters = inference.cluster_labels(features, 4, seed=0)
    assert inference.matched_accuracy(clusters, true) == 1.0
    assert inference.matched_accuracy((clusters + 1) % 4, true) == 1.0  # names of clusters do not matter
    assert inference.matched_accuracy(np.zeros(200, dtype=int), true) == 0.25
    subset = np.full(200, -1)
    subset[::10] = true[::10]
    predicted = inference.classifier_labels(features, subset, seed=0)
    assert (predicted == true).all() and inference.accuracy(predicted, true, where=subset < 0) == 1.0


def test_every_variant_sets_its_objective_and_conditioning():
    for name, variant in VARIANTS.items():
        fraction = {"required": 0.1, "full": 1.0, "none": None}[variant.fraction]
        opts = _opts(labels={"method": name, "fraction": fraction})
        assert (opts.objective, opts.network.cond) == (variant.objective, variant.conditional)
    assert len(VARIANTS) == 9


@pytest.mark.parametrize(
    "labels, fragment",
    [
        ({"method": "s4gan", "fraction": 0.1}, "unknown label method 's4gan'; known: clustering"),
        ({"method": "s3gan", "fraction": 0.0}, "labels.fraction must be > 0 and <= 1, got 0.0"),
        ({"method": "s3gan", "fraction": 1.5}, "labels.fraction must be > 0 and <= 1, got 1.5"),
        ({"method": "s3gan"}, "needs --labels FRACTION in (0, 1]"),
        ({"fraction": 0.1}, "needs a --label-method"),
        ({"method": "clustering", "fraction": 0.1}, "uses no labels of the data"),
        ({"method": "supervised", "fraction": 0.5}, "--labels must be 1"),
    ],
)
def test_bad_variant_or_fraction_is_a_one_line_error(labels, fragment):
    with pytest.raises(OptionsError) as e:
        _opts(labels=labels)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_cli_refuses_a_bad_fraction_before_a_run_directory_exists(tmp_path):
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run(
        [str(bin_dir / "ganatomy"), "train", "--label-method", "s3gan", "--labels", "1.2", "--outdir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"OMP_NUM_THREADS": "1", "PATH": str(bin_dir)},
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "labels.fraction must be > 0 and <= 1" in lines[0]
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- runs
def test_an_s3gan_run_records_its_labels_and_resumes_on_them(tmp_path):
    opts = _opts(data="world:32", outdir=str(tmp_path), snapshot_ticks=1, labels={"method": "s3gan", "fraction": 0.1})
    run = run_training(opts)
    record = json.loads((run / LABELS_RECORD).read_text())
    assert (record["variant"], record["label_fraction"], record["subset_seed"]) == ("s3gan", 0.1, 0)
    assert 0.0 <= record["label_accuracy"] <= 1.0 and record["label_accuracy_kimg"] == 0.032
    stored = np.load(run / LABELS_FILE)
    assert (stored >= 0).sum() == 5000 and np.bincount(stored[stored >= 0]).tolist() == [1250] * 4
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert {"loss/rotation_real", "loss/rotation_fake", "loss/class"} <= set(stats[-1])
    snapshot = sorted(run.glob("network-snapshot-*.safetensors"))[-1]
    assert set(load_checkpoint(snapshot)["D"]["config"]["heads"]) == {ROTATION_HEAD, CLASS_HEAD}
    assert network_class_names(str(snapshot)) == ["short", "long", "bun", "fringe"]
    # A resume trains on the stored labels, not on labels drawn again: one label taken out stays out.
    changed = stored.copy()
    changed[np.flatnonzero(stored >= 0)[0]] = -1
    np.save(run / LABELS_FILE, changed)
    run_training(resume_dir=run, kimg=0.048)
    assert np.array_equal(np.load(run / LABELS_FILE), changed)
    assert json.loads((run / LABELS_RECORD).read_text())["label_accuracy_kimg"] == 0.048


@pytest.mark.slow
def test_a_conditional_generator_trained_briefly_on_a_separable_toy_set_makes_the_requested_classes(tmp_path):
    """Three classes of flat images, dark / mid-grey / bright, half of them labelled (S3GAN):
    after a short training G's samples of each class have that class's brightness."""
    n = 600
    classes = np.arange(n) % 3
    levels = torch.tensor([30, 128, 225])[torch.as_tensor(classes)]
    noise = torch.randint(-12, 13, (n, 1, 32, 32))
    images = (levels[:, None, None, None] + noise).clamp(0, 255).to(torch.uint8)
    toy = _Planted(images, classes, 3)
    toy.class_names = ["dark", "grey", "bright"]
    opts = _opts(
        kimg=6.0,
        tick_kimg=2.0,
        batch=32,
        snapshot_ticks=1,
        network={**TINY_DCGAN, "g_overrides": {"ngf": 16}, "d_overrides": {"ndf": 16}},
        labels={"method": "s3gan", "fraction": 0.5},
        loss={"kind": "hinge"},  # the paper's loss; with a higher learning rate than DCGAN's for a brief run
        optim={"g_lr": 1e-3, "d_lr": 1e-3},
    )
    labelled = prepare_labels(opts.labels, toy)
    run = tmp_path / "run"
    run.mkdir()
    training_loop(opts, run, labelled.dataset, Accelerator(cpu=True))
    snapshot = str(sorted(run.glob("network-snapshot-*.safetensors"))[-1])
    names = network_class_names(snapshot)
    assert names == ["dark", "grey", "bright"]
    G = load_generator(snapshot)
    wanted = parse_classes("bright,dark,1", G.c_dim, names)
    assert wanted == [2, 0, 1]
    seeds = list(range(16))
    fakes = generate_class_rows(G, seeds, wanted)
    brightness = (fakes.mean(dim=(1, 2, 3)) + 1) * 127.5  # back to 0..255
    judged = torch.bucketize(brightness, torch.tensor([79.0, 176.0])).reshape(3, len(seeds))
    consistency = (judged == torch.tensor(wanted)[:, None]).float().mean()
    assert consistency >= 0.9, (consistency, brightness.reshape(3, -1).mean(1))
    grid = write_class_rows(tmp_path / "out", seeds, wanted, fakes, names)
    assert grid.is_file() and (tmp_path / "out" / "bright-seed0000.png").is_file()
    with pytest.raises(OptionsError, match="--class purple: not a class"):
        parse_classes("purple", G.c_dim, names)


# ---------------------------------------------------------------------- the benchmark
def test_bench_says_the_pair_is_not_shipped_instead_of_giving_numbers(monkeypatch):
    import ganatomy.zoo
    from ganatomy.bench import fewer_labels

    monkeypatch.setattr(ganatomy.zoo, "ZOO", {})
    result = fewer_labels.run(quick=True)
    keys = ["s3gan10_fd", "supervised_fd", "s3gan10_consistency", "supervised_consistency", "s3gan10_label_acc"]
    assert json.loads(result.to_json()) == dict.fromkeys(keys)
    assert [n.split(":")[0] for n in result.notes] == ["world32-s3gan10", "world32-supervised"]
    assert all("not shipped" in n for n in result.notes)
    assert [(r["model"], r["shipped"], r["fd"]) for r in result.rows] == [
        ("world32-s3gan10", "no", None),
        ("world32-supervised", "no", None),
    ]


def test_the_table_has_the_papers_cells_and_a_rerun_resumes_it(tmp_path, monkeypatch):
    from ganatomy.bench import fewer_labels

    cells = fewer_labels.table_cells("world:32", seeds=[0, 1])
    # 5 unsupervised variants (0%), S2GAN at 4 fractions, S2GAN-CO and S3GAN at 5, supervised at 100%.
    assert len(cells) == 2 * (5 + 4 + 5 + 5 + 1) and len({c.key for c in cells}) == len(cells)
    assert {c.fraction for c in cells if c.variant == "supervised"} == {1.0}
    opts = fewer_labels.cell_options(cells[-3], 10.0, tmp_path, "dcgan")
    assert (opts.max_cpu_minutes, opts.max_minutes, opts.loss.kind) == (10.0, None, "hinge")
    assert opts.labels.method == cells[-3].variant

    # Running order: the cells the paper's claims compare first (the table's rows stay in the paper's order).
    order = fewer_labels.claims_first(cells)
    assert sorted(c.key for c in order) == sorted(c.key for c in cells)
    claimed = {(c.variant, c.fraction) for c in order[:18]}  # 9 (variant, fraction) pairs, 2 seeds
    assert claimed == {(v, None) for v in ("unconditional", "single-label", "clustering")} | {
        (v, f) for v in ("s2gan", "s2gan-co", "s3gan") for f in (0.025, 0.05)
    }
    assert [c.key for c in order[18:]] == [c.key for c in cells if (c.variant, c.fraction) not in claimed]
    # Some rows only (more seeds for one claim's cells); a misspelt variant is named.
    some = fewer_labels.table_cells("world:32", seeds=[2], fractions=[0.05], variants=["s2gan", "s2gan-co"])
    assert [c.key for c in some] == ["world:32/s2gan/0.05/seed2", "world:32/s2gan-co/0.05/seed2"]
    with pytest.raises(OptionsError, match="unknown variant.*s2ganco"):
        fewer_labels.table_cells("world:32", seeds=[0], variants=["s2ganco"])

    ran, stop_at = [], [3]

    class Stopped(Exception):
        pass

    def fake_cell(cell, budget_minutes, outdir, arch, n):
        ran.append(cell.key)
        if len(ran) == stop_at[0]:
            raise Stopped  # the table is stopped during this cell
        return {"key": cell.key, "fd": 1.0}

    monkeypatch.setattr(fewer_labels, "run_cell", fake_cell)
    table = tmp_path / "table.jsonl"
    with pytest.raises(Stopped):
        fewer_labels.run_table(table, seeds=[0, 1])
    assert [r["key"] for r in fewer_labels.read_table(table)] == ran[:2] == [c.key for c in order[:2]]
    ran.clear()
    stop_at[0] = 0  # no more interruptions
    rows = fewer_labels.run_table(table, seeds=[0, 1])
    assert ran == [c.key for c in order[2:]] and [r["key"] for r in rows] == [c.key for c in order]
    ran.clear()
    fewer_labels.run_table(table, seeds=[0, 1])
    assert ran == []  # everything was done: nothing runs again


def _threads_of_the_worker(cell, budget_minutes, outdir, arch, n):
    """A table cell that trains nothing: it says which process ran it and with how many threads."""
    import os

    return {"key": cell.key, "data": cell.data, "pid": os.getpid(), "threads": torch.get_num_threads()}


def test_a_table_with_two_workers_runs_each_cell_once_in_worker_processes(tmp_path):
    import os

    from ganatomy.bench import fewer_labels

    table = tmp_path / "table.jsonl"
    rows = fewer_labels.run_table(table, seeds=[0], workers=2, runner=_threads_of_the_worker)
    keys = [c.key for c in fewer_labels.table_cells("world:32", seeds=[0])]
    assert sorted(r["key"] for r in fewer_labels.read_table(table)) == sorted(keys) == sorted(r["key"] for r in rows)
    assert os.getpid() not in {r["pid"] for r in rows}  # trained in the workers, written here
    assert {r["threads"] for r in rows} == {max(1, (os.cpu_count() or 1) // 2)}
    assert fewer_labels.run_table(table, seeds=[0], workers=2, runner=_threads_of_the_worker) == rows  # all done
    with pytest.raises(OptionsError, match="workers must be >= 1"):
        fewer_labels.run_table(table, seeds=[0], workers=0)


def _slow_cell(cell, budget_minutes, outdir, arch, n):
    """A table cell that takes a fifth of a second."""
    import time

    time.sleep(0.2)
    return {"key": cell.key, "data": cell.data}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_table_starts_no_cell_after_its_deadline_and_finishes_the_running_ones(tmp_path, workers):
    import time

    from ganatomy.bench import fewer_labels

    table = tmp_path / "table.jsonl"
    deadline = time.time() + 0.3
    rows = fewer_labels.run_table(table, seeds=[0], workers=workers, runner=_slow_cell, start_deadline=deadline)
    total = len(fewer_labels.table_cells("world:32", seeds=[0]))
    assert 1 <= len(rows) < total  # (worker processes take longer than the deadline to start: their first cells run)
    assert fewer_labels.read_table(table) == rows  # every started cell finished and was written
    rest = fewer_labels.run_table(table, seeds=[0], workers=workers, runner=_slow_cell)  # the resume
    assert sorted(r["key"] for r in rest) == sorted(c.key for c in fewer_labels.table_cells("world:32", seeds=[0]))


def test_the_table_result_has_a_row_per_dataset_and_variant_in_the_papers_order():
    from ganatomy.bench import fewer_labels

    def row(data, variant, fraction, seed, fd):
        return {"data": data, "variant": variant, "fraction": fraction, "seed": seed, "fd": fd, "consistency": 0.5}

    rows = [
        row("world:32", "s3gan", 0.1, 0, 3.0),
        row("world:32", "unconditional", None, 0, 9.0),
        row("world:32", "s3gan", 0.1, 1, 5.0),
        row("fashion-mnist", "supervised", 1.0, 0, 2.0),
    ]
    result = fewer_labels.table_result(rows, quick=False)
    assert [(r["data"], r["variant"]) for r in result.rows] == [
        ("world:32", "unconditional"),
        ("world:32", "s3gan"),
        ("fashion-mnist", "supervised"),
    ]
    assert result.rows[1]["10%"] == "4.00 ±1.00 / 0.50 (2 seeds)" and result.rows[1]["no labels"] == ""
    assert result.summary["cells"] == 4
    # The budget a note states: the CPU clock of today's cells, the wall clock of older rows.
    rows[0].update(budget_minutes=10.0, budget_clock="cpu")
    rows[1].update(budget_minutes=10.0)
    note = fewer_labels.table_result(rows, quick=False).notes[0]
    assert note.startswith("world:32: 3 cells of 10 CPU-minutes / 10 wall-clock minutes of training each")


def test_the_papers_orderings_are_judged_on_median_fd_and_wait_for_their_cells():
    from ganatomy.bench import fewer_labels

    def row(variant, fraction, seed, fd):
        return {"data": "world:32", "variant": variant, "fraction": fraction, "seed": seed, "fd": fd}

    rows = [row("clustering", None, 0, 5.0), row("clustering", None, 1, 9.0), row("unconditional", None, 0, 8.0)]
    rows += [row("unconditional", None, 1, 6.0), row("single-label", None, 0, 6.5)]
    rows += [row(v, f, 0, fd) for v, fd in (("s2gan", 4.0), ("s2gan-co", 3.0), ("s3gan", 5.0)) for f in (0.025, 0.05)]
    verdicts = fewer_labels.paper_ordering(rows, "world:32")
    # clustering's median 7.0 ties unconditional's 7.0 (a tie is not ahead) and trails single label's 6.5
    assert verdicts["clustering_ahead_of_unconditional"] is False
    assert verdicts["clustering_ahead_of_single_label"] is False
    assert verdicts["s2gan_co_ahead_of_s2gan_at_low_fractions"] is True
    assert verdicts["s3gan_ahead_of_s2gan_at_low_fractions"] is False
    assert all(v is None for v in fewer_labels.paper_ordering(rows[:2], "world:32").values())
    summary = fewer_labels.table_result(rows, quick=False).summary
    assert summary["world:32:s2gan_co_ahead_of_s2gan_at_low_fractions"] is True


def test_extra_seeds_pooled_with_the_table_can_change_a_claims_verdict_and_say_so(tmp_path):
    """Two seeds where one collapsed (fd 16) lose the median; two more seeds of the same cells win it back."""
    from ganatomy.bench import fewer_labels

    def row(variant, fraction, seed, fd):
        return {"data": "world:32", "variant": variant, "fraction": fraction, "seed": seed, "fd": fd}

    rows = [row("s2gan", f, s, 8.3) for f in (0.025, 0.05) for s in (0, 1)]
    rows += [row("s2gan-co", f, 0, 16.0 if f == 0.05 else 8.0) for f in (0.025, 0.05)]
    rows += [row("s2gan-co", f, 1, 8.1) for f in (0.025, 0.05)]
    extra = [row("s2gan-co", f, s, 7.0) for f in (0.025, 0.05) for s in (2, 3)]
    extra += [row("s2gan", f, s, 8.3) for f in (0.025, 0.05) for s in (2, 3)]
    assert fewer_labels.paper_ordering(rows, "world:32")["s2gan_co_ahead_of_s2gan_at_low_fractions"] is False
    notes = fewer_labels.extra_seed_notes(rows, extra, tmp_path / "extra.jsonl")
    assert len(notes) == 2  # the two claims on those cells; the no-label claims are untouched
    assert notes[0].startswith("world:32: the paper's s2gan co ahead of s2gan at low fractions with the extra seeds")
    assert notes[0].endswith("(4 seeds a cell): holds (changed by the extra seeds)")
    assert fewer_labels.extra_seed_notes(rows, [], tmp_path / "extra.jsonl") == []


def test_a_table_without_the_papers_low_shares_judges_the_low_share_claims_at_its_lowest_share():
    """Fashion-MNIST's table has 10% and 100% only: S3GAN against S2GAN is judged at 10%, and says so."""
    from ganatomy.bench import fewer_labels

    def row(variant, fraction, fd):
        return {"data": "fashion-mnist", "variant": variant, "fraction": fraction, "seed": 0, "fd": fd}

    rows = [row("s2gan", 0.1, 0.54), row("s3gan", 0.1, 0.44), row("s2gan-co", 0.1, 0.60), row("s3gan", 1.0, 9.0)]
    assert fewer_labels.low_fractions((0.1, 1.0)) == (0.1,)
    assert fewer_labels.low_fractions(fewer_labels.FRACTIONS) == (0.025, 0.05)
    verdicts = fewer_labels.paper_ordering(rows, "fashion-mnist")
    assert verdicts["s3gan_ahead_of_s2gan_at_low_fractions"] is True
    assert verdicts["s2gan_co_ahead_of_s2gan_at_low_fractions"] is False
    # on the world's five shares the same 10% rows decide nothing: its low shares are 2.5% and 5%
    world = [dict(r, data="world:32") for r in rows]
    assert fewer_labels.paper_ordering(world, "world:32")["s3gan_ahead_of_s2gan_at_low_fractions"] is None
    notes = fewer_labels.table_result(rows, quick=False).notes
    assert "fashion-mnist: the paper's s3gan ahead of s2gan at low fractions (10%): holds" in notes


def test_class_conditional_batchnorm_scales_by_one_plus_the_class_gain():
    """compare_gan's conditional BatchNorm multiplies by Linear(c) alone, so a zero-initialised
    gain zeroes the features; ours multiplies by 1 + Linear(c): with zero class weights the
    conditional DCGAN is exactly the unconditional one, for every class."""
    from ganatomy.nets.dcgan import DCGANGenerator

    torch.manual_seed(0)
    conditional = DCGANGenerator(img_resolution=32, img_channels=1, z_dim=16, ngf=8, c_dim=3).train()
    plain = DCGANGenerator(img_resolution=32, img_channels=1, z_dim=16, ngf=8).train()
    plain.load_state_dict({k: v for k, v in conditional.state_dict().items() if not k.startswith("class_norms")})
    with torch.no_grad():
        for m in conditional.class_norms:
            m.weight.zero_()
        z = torch.randn(8, 16)
        reference = plain(z)
        for c in range(3):
            torch.testing.assert_close(conditional(z, torch.full((8,), c)), reference)
    assert reference.std() > 0.05  # not the constant image a zero scale would give
