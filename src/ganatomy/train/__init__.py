"""GAN training: options, losses, EMA, the loop on Accelerate, resume."""
