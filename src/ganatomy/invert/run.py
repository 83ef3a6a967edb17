"""An inversion's directory: ``invert.json`` (the generator and the settings) and ``inverter.safetensors``.

``ganatomy invert train --outdir DIR`` writes it (with the encoder's ``stats.jsonl`` and training
checkpoint); ``open_inverter(DIR)`` gives the inverter and its generator back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.invert.inverters import EncoderInverter, OptimizationInverter
from ganatomy.utils.atomic import atomic_write_text

INFO_FILE = "invert.json"
INVERTER_FILE = "inverter.safetensors"
METHODS = {"encoder": EncoderInverter, "optimize": OptimizationInverter}


def save_inverter(run_dir: str | os.PathLike, inverter: Any, network: str) -> Path:
    run_dir = Path(run_dir)
    method = next(k for k, cls in METHODS.items() if isinstance(inverter, cls))
    inverter.save(run_dir / INVERTER_FILE)
    info = {"network": network, "method": method, "space": inverter.space_, "params": inverter.get_params()}
    atomic_write_text(run_dir / INFO_FILE, json.dumps(info, indent=2) + "\n")
    return run_dir


def read_info(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(run_dir) / INFO_FILE
    if not path.is_file():
        raise OptionsError(
            f"{run_dir}: not an inversion directory (no {INFO_FILE}; make one with ganatomy invert train)"
        )
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable ({e})") from None
    if info.get("method") not in METHODS or not isinstance(info.get("network"), str):
        raise CheckpointError(f"{path}: names no inversion method and network")
    return info


def open_inverter(run_dir: str | os.PathLike, network: str | None = None, device: str = "cpu") -> tuple[Any, Any, str]:
    """(inverter, generator on ``device``, network name) of an inversion directory; ``network`` overrides
    its own. The inverter works where the generator is."""
    from ganatomy.nets.load import load_generator

    info = read_info(run_dir)
    inverter = METHODS[info["method"]].load(Path(run_dir) / INVERTER_FILE)
    name = network or info["network"]
    G = load_generator(name, device=device)
    inverter.check_same_generator(G)
    return inverter, G, name
