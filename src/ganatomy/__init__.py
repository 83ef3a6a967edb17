"""ganatomy: take a GAN apart and find what it knows, with few or no labels."""

__version__ = "0.1.0"
