"""The procedural ground-truth world: face-like images with their factors, class and part masks.

    from ganatomy.worlds import FaceWorld
    batch = FaceWorld(res=64).render_seeds(range(16))   # .images, .masks, .factors

See ``ganatomy.worlds.factors`` for the factor and part-label registries (names, kinds, ranges).
"""

from ganatomy.worlds.export import export_world
from ganatomy.worlds.factors import (
    FACTORS,
    FACTORS_BY_NAME,
    LABEL_FACTOR,
    PART_LABELS,
    PARTS,
    Factor,
    PartLabel,
    factor,
    part_index,
    part_palette,
)
from ganatomy.worlds.grids import colorize_masks, overlay_masks, write_world_grids
from ganatomy.worlds.render import RESOLUTIONS, FaceWorld, WorldBatch, image_seeds, part_colors

__all__ = [
    "FACTORS",
    "FACTORS_BY_NAME",
    "LABEL_FACTOR",
    "PART_LABELS",
    "PARTS",
    "RESOLUTIONS",
    "FaceWorld",
    "Factor",
    "PartLabel",
    "WorldBatch",
    "colorize_masks",
    "export_world",
    "factor",
    "image_seeds",
    "overlay_masks",
    "part_colors",
    "part_index",
    "part_palette",
    "write_world_grids",
]
