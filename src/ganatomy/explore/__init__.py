"""The explorer: a local web app to see what a GAN knows (``ganatomy explore --network NET``).

- :class:`~ganatomy.explore.explorer.Explorer`: the computations (seeded samples with truncation,
  direction edits, the world oracle's factor readout, gene sweeps / mutations / conditional samples,
  inversion and LARGE prediction of an uploaded image); ``open_explorer`` builds one from CLI names;
- :func:`~ganatomy.explore.app.create_app`: the FastAPI app serving one static page of plain
  JavaScript (``static/``) and a validated JSON API, its work on a bounded worker pool.
"""

from ganatomy.explore.app import create_app
from ganatomy.explore.explorer import Edit, Explorer, open_explorer
from ganatomy.explore.pool import BoundedPool, PoolFull

__all__ = ["BoundedPool", "Edit", "Explorer", "PoolFull", "create_app", "open_explorer"]
