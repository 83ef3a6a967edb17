"""Shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def real_fashion_mnist():
    """The real Fashion-MNIST files (Debian's dataset-fashion-mnist, which .ci/run installs)."""
    from ganatomy.data import fashion_mnist as fm

    if not (fm.DEFAULT_ROOT / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST is not installed at {fm.DEFAULT_ROOT} (apt-get install dataset-fashion-mnist)")
    return fm.DEFAULT_ROOT
