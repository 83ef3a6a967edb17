"""What the explorer computes, with no HTTP in sight: samples, direction edits, the oracle's readout,
gene operations, inversion and LARGE predictions of an uploaded image.

Every method takes already-validated numbers and returns PNG bytes and plain dicts. The generator is
used for inference only (its parameters do not require gradients), so worker threads can share it;
an optimisation inversion differentiates with respect to the latents alone.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganatomy.errors import DataError, OptionsError
from ganatomy.nets.protocol import generator_device
from ganatomy.utils.images import grid_array, png_bytes, to_uint8

# Inversion steps of the default optimisation inverter: about a second for a 32x32 world model on CPU.
DEFAULT_INVERT_STEPS = 60


@dataclasses.dataclass(frozen=True)
class Edit:
    index: int
    shift: float


class Explorer:
    """A generator and what can be shown about it.

    Args:
        G: the generator (protocol: ``seeded_images``, ``synthesize``).
        name: how it was named (a zoo name or a path); shown, never opened again.
        directions: a :class:`~ganatomy.latent.Directions` of G, or None.
        oracle: a world oracle (``predict``) for the factor readout, or None.
        inverter: a fitted inverter of G (``invert``), or None.
        regressor: a fitted LARGE ``LatentRegressor`` in the inverter's space, or None.
        gene_statistics: fitted ``GeneStatistics`` of a gene model (conditional sampling), or None.
        segmenter: a fitted ``KLiSH`` of G (mask overlays at a chosen K), or None.
    """

    def __init__(
        self,
        G: Any,
        name: str,
        directions: Any = None,
        oracle: Any = None,
        inverter: Any = None,
        regressor: Any = None,
        gene_statistics: Any = None,
        segmenter: Any = None,
    ) -> None:
        self.G = G.eval().requires_grad_(False)
        self.name = name
        self.directions = directions
        self.oracle = oracle
        self.inverter = inverter
        self.regressor = regressor
        self.gene_statistics = gene_statistics
        self.segmenter = segmenter
        self.gene_prior = _gene_prior(G)

    # ------------------------------------------------------------------ what there is
    @property
    def shift_range(self) -> float:
        return float(self.directions.meta.get("shift_range", 3.0)) if self.directions is not None else 0.0

    def info(self) -> dict[str, Any]:
        G = self.G
        info: dict[str, Any] = {
            "network": self.name,
            "resolution": int(G.img_resolution),
            "channels": int(G.img_channels),
            "latent_spaces": list(G.latent_spaces),
            "truncation": "w" in G.latent_spaces,
            "directions": None,
            "readout": self.oracle is not None,
            "genes": None,
            "inversion": self.inverter is not None,
            "regression": self.regressor is not None,
            "segment": None,
        }
        if self.segmenter is not None:
            tree = self.segmenter.merge_tree_
            info["segment"] = {"max_k": int(tree.n_leaves), "auto_k": int(self.segmenter.n_clusters_auto_)}
        if self.directions is not None:
            names = list(
                getattr(self.directions, "names", None) or [f"direction {k}" for k in range(len(self.directions))]
            )
            info["directions"] = {"count": len(self.directions), "names": names, "shift_range": self.shift_range}
        if self.gene_prior is not None:
            attributes = {}
            if self.gene_statistics is not None:
                attributes = {
                    a: [str(c) for c in self.gene_statistics.classes_[a]] for a in self.gene_statistics.attributes
                }
            info["genes"] = {
                "genes": self.gene_prior.n_genes,
                "variants": self.gene_prior.variants,
                "attributes": attributes,
            }
        return info

    # ------------------------------------------------------------------ checks a request's numbers cannot make alone
    def check_edits(self, edits: list[Edit]) -> None:
        if not edits:
            return
        if self.directions is None:
            raise OptionsError("edits: this explorer has no directions (start it with --directions DIR)")
        for e in edits:
            if e.index >= len(self.directions):
                raise OptionsError(f"edits: direction {e.index} does not exist; there are {len(self.directions)}")
            if abs(e.shift) > self.shift_range:
                raise OptionsError(f"edits: shift {e.shift} is outside [-{self.shift_range:g}, {self.shift_range:g}]")

    def check_truncation(self, truncation: float) -> None:
        if truncation != 1 and "w" not in self.G.latent_spaces:
            raise OptionsError(f"truncation: {self.G.kind} has no W space; use truncation 1")

    def _require_genes(self) -> Any:
        if self.gene_prior is None:
            raise OptionsError(f"genes: {self.name} is not a gene model (no gene-bank prior)")
        return self.gene_prior

    # ------------------------------------------------------------------ pictures
    def _png(self, images: torch.Tensor, ncols: int | None = None) -> bytes:
        arrays = to_uint8(images.clamp(-1, 1))
        return png_bytes(arrays[0] if len(arrays) == 1 else grid_array(arrays, ncols=ncols))

    def readout(self, images: torch.Tensor) -> list[dict[str, Any]] | None:
        """The oracle's reading of the first image: continuous factors as 0..1 of their range, classes by name."""
        if self.oracle is None:
            return None
        prediction = self.oracle.predict(images[:1].clamp(-1, 1))
        bars = []
        for target in self.oracle.spec.continuous:
            value = float(prediction.factors[target.name][0])
            bars.append(
                {"factor": target.name, "value": value, "fraction": (value - target.low) / (target.high - target.low)}
            )
        for target in self.oracle.spec.categorical:
            probs = prediction.probs[target.name][0]
            best = int(np.argmax(probs))
            bars.append({"factor": target.name, "value": target.classes[best], "fraction": float(probs[best])})
        return bars

    def mask_overlay(self, image: torch.Tensor, latents: torch.Tensor, space: str, k: int) -> bytes:
        """KLiSH's masks at level ``k`` of the image of ``latents``, colour-coded over the image."""
        from ganatomy.segment.show import colour_masks

        if self.segmenter is None:
            raise OptionsError("masks: this explorer has no KLiSH run (start it with --segment DIR)")
        self.segmenter.merge_tree_.check_level(k)
        wanted = self.segmenter.space_
        if space != wanted:
            if not (space == "w" and wanted == "w+"):
                raise OptionsError(f"masks: the KLiSH run works in {wanted!r}, these latents are in {space!r}")
            latents = latents.unsqueeze(1).expand(-1, self.G.num_ws, -1)  # one W row for every layer
        masks = self.segmenter.predict(latents, n_clusters=k, G=self.G)
        colours = colour_masks(self.segmenter, masks, k).astype(np.float32)
        pixels = to_uint8(image.clamp(-1, 1)).astype(np.float32)
        return png_bytes(((pixels + colours) / 2).round().astype(np.uint8)[0])

    @torch.no_grad()
    def sample(self, seed: int, truncation: float, edits: list[Edit], mask_k: int | None = None) -> dict[str, Any]:
        """The image of one seed, moved along the given directions, with the oracle's readout
        and, with ``mask_k``, KLiSH's masks at that K over it."""
        from ganatomy.latent.sampling import default_space, seeded_latents

        self.check_truncation(truncation)
        self.check_edits(edits)
        space = self.directions.space if self.directions is not None else default_space(self.G)
        base = seeded_latents(self.G, [seed], space=space, truncation_psi=truncation)
        latents = base.latents
        for e in edits:
            latents = self.directions.apply(latents, e.index, e.shift)
        image = self.G.synthesize(latents, space, c=base.c, noise_mode="const")
        mask = self.mask_overlay(image, latents, space, mask_k) if mask_k is not None else None
        return {"png": self._png(image), "readout": self.readout(image), "mask_png": mask}

    @torch.no_grad()
    def _dna_images(self, dnas: torch.Tensor, ncols: int) -> bytes:
        return self._png(self.G.synthesize(dnas, "z"), ncols=ncols)

    def gene_sweep(self, seed: int, gene: int) -> dict[str, Any]:
        from ganatomy.genes import format_dna, sweep

        prior = self._require_genes()
        if gene >= prior.n_genes:
            raise OptionsError(f"gene {gene} does not exist; the model has genes 0..{prior.n_genes - 1}")
        dnas = sweep(prior, self.G.sample_latents(1, seed=seed)[0].cpu(), gene)
        return {"png": self._dna_images(dnas, ncols=min(len(dnas), 16)), "dnas": [format_dna(d) for d in dnas]}

    def gene_mutate(self, seed: int, rate: float, n: int, mutation_seed: int) -> dict[str, Any]:
        from ganatomy.genes import format_dna, mutate

        prior = self._require_genes()
        parent = self.G.sample_latents(1, seed=seed)[0].cpu()
        generator = torch.Generator().manual_seed(mutation_seed)
        dnas = torch.stack([parent] + [mutate(prior, parent, rate, generator)[0] for _ in range(n)])
        return {"png": self._dna_images(dnas, ncols=len(dnas)), "dnas": [format_dna(d) for d in dnas]}

    def gene_sample(self, attribute: str, value: str, n: int, temperature: float, seed: int) -> dict[str, Any]:
        from ganatomy.genes import format_dna

        self._require_genes()
        if self.gene_statistics is None:
            raise OptionsError("genes: conditional sampling needs gene statistics (start with --gene-samples N > 0)")
        dnas = self.gene_statistics.sample(n, {attribute: value}, temperature, None, seed)
        return {"png": self._dna_images(dnas, ncols=min(n, 8)), "dnas": [format_dna(d) for d in dnas]}

    # ------------------------------------------------------------------ an uploaded image
    def decode_upload(self, data: bytes, max_side: int) -> torch.Tensor:
        """PNG or JPEG bytes to one image [1, C, R, R] in [-1, 1] at G's size (decoded in memory)."""
        try:
            with Image.open(io.BytesIO(data)) as img:
                if img.format not in ("PNG", "JPEG"):
                    raise DataError(f"upload: a PNG or JPEG image is needed, got {img.format or 'an unknown format'}")
                if max(img.size) > max_side:
                    raise DataError(f"upload: {img.size[0]}x{img.size[1]} pixels is larger than {max_side} on a side")
                img = img.convert("RGB" if self.G.img_channels == 3 else "L")
                res = int(self.G.img_resolution)
                img = img.resize((res, res), Image.Resampling.BILINEAR)
                array = np.asarray(img, dtype=np.uint8)
        except (OSError, Image.DecompressionBombError, ValueError, SyntaxError) as e:
            raise DataError(f"upload: not a readable image ({type(e).__name__})") from None
        if array.ndim == 2:
            array = array[:, :, None]
        return torch.from_numpy(array.copy()).permute(2, 0, 1).unsqueeze(0).float() / 127.5 - 1.0

    def invert(self, image: torch.Tensor) -> dict[str, Any]:
        """The image's inversion, the oracle's readout of it and, with a regressor, its LARGE prediction."""
        if self.inverter is None:
            raise OptionsError("invert: this explorer has no inverter")
        latents = self.inverter.invert(image, self.G)
        with torch.no_grad():
            recon = self.G.synthesize(latents.to(generator_device(self.G)), self.inverter.space_, noise_mode="const")
        out: dict[str, Any] = {
            "input_png": self._png(image),
            "reconstruction_png": self._png(recon),
            "readout": self.readout(recon),
            "prediction": None,
        }
        if self.regressor is not None:
            out["prediction"] = float(self.regressor.predict_latents(latents)[0])
        return out

    def sort(self, images: torch.Tensor) -> dict[str, Any]:
        """Uploaded images [N, C, R, R] inverted and ordered by the regressor's attribute (LARGE's sort),
        with the prediction of each: a contact sheet, low to high."""
        if self.inverter is None or self.regressor is None:
            raise OptionsError("sort: this explorer has no regressor (start it with --regressor DIR)")
        latents = self.inverter.invert(images, self.G)
        predictions = np.asarray(self.regressor.predict_latents(latents), dtype=np.float64)
        order = np.argsort(predictions, kind="stable")
        return {
            "png": self._png(images[torch.from_numpy(order)], ncols=len(order)),
            "order": order.tolist(),
            "predictions": predictions[order].tolist(),
        }


def _gene_prior(G: Any) -> Any:
    from ganatomy.nets.genes import gene_prior

    try:
        return gene_prior(G)
    except OptionsError:
        return None


def open_explorer(
    network: str,
    directions: str | Path | None = None,
    regressor: str | Path | None = None,
    gene_samples: int = 2000,
    invert_steps: int = DEFAULT_INVERT_STEPS,
    readout: bool | None = None,
    segment: str | Path | None = None,
    device: str = "cpu",
) -> Explorer:
    """An explorer from the command line's names: the network, a directions run or file, a regressor dir.

    ``readout`` (default: when the network's name says world) loads the shipped world oracle; gene
    statistics of ``gene_samples`` judged samples are fitted for a gene model when the oracle is there.
    The generator (and with it the inversion) runs on ``device``.
    """
    from ganatomy.nets.load import load_generator

    G = load_generator(network, device=device)
    found = None
    if directions is not None:
        from ganatomy.directions.io import load

        found = load(directions, G)
    oracle = None
    if readout if readout is not None else "world" in str(network):
        from ganatomy.directions.oracle_access import world_oracle

        oracle = world_oracle(G.img_resolution)
    inverter, reg = None, None
    if regressor is not None:
        inverter, reg = _open_regressor(Path(regressor), network, device)
    else:
        from ganatomy.invert import OptimizationInverter

        inverter = OptimizationInverter(refine_steps=invert_steps).fit(G, name=network)
    stats = None
    if _gene_prior(G) is not None and oracle is not None and gene_samples > 0:
        from ganatomy.genes import GeneStatistics

        stats = GeneStatistics(n_samples=gene_samples).fit(G, name=network)
    segmenter = None
    if segment is not None:
        from ganatomy.segment import KLiSH

        path = Path(segment)
        segmenter = KLiSH.load(path / "estimator.safetensors" if path.is_dir() else path)
        segmenter.check_same_generator(G)
    return Explorer(G, network, found, oracle, inverter, reg, stats, segmenter)


def _open_regressor(model: Path, network: str, device: str) -> tuple[Any, Any]:
    """The inverter and regressor of a ``ganatomy regress fit`` directory, checked to belong to ``network``."""
    import json

    from ganatomy.cli.regress import INFO_FILE, MODEL_FILE
    from ganatomy.invert.run import open_inverter
    from ganatomy.regress import LatentRegressor

    info_path = model / INFO_FILE
    if not info_path.is_file():
        raise OptionsError(f"--regressor {model}: not a regressor directory (no {INFO_FILE})")
    info = json.loads(info_path.read_text())
    inverter, G, _ = open_inverter(info["encoder"], network, device)
    return inverter, LatentRegressor.load(model / MODEL_FILE).set_params(inverter=inverter, generator=G)
