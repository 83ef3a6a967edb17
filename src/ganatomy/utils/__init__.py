"""Small shared helpers: atomic file writes, image grids, seed lists."""
