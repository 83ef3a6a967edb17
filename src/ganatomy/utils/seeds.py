"""Seed lists in NVIDIA's vocabulary: ``0-9``, ``1,5,7``, ``0-3,10``."""

from __future__ import annotations

from ganatomy.errors import OptionsError


def parse_seeds(text: str | list[int]) -> list[int]:
    """Parse ``"0-3,10"`` into ``[0, 1, 2, 3, 10]``; ranges are inclusive."""
    if isinstance(text, list):
        return [int(s) for s in text]
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if not part.startswith("-") else (part, "")
                lo_i, hi_i = int(lo), int(hi)
                if hi_i < lo_i:
                    raise ValueError
                seeds.extend(range(lo_i, hi_i + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise OptionsError(f"--seeds: cannot read {part!r}; use a list like 0-9 or 1,5,7") from None
    if not seeds:
        raise OptionsError(f"--seeds: {text!r} names no seed; use a list like 0-9 or 1,5,7")
    return seeds
