"""Supervised training with Trax's API: `from trax_rl.supervised import training`."""

from trax_rl.supervised import training as training
