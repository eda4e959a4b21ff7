"""Supervised training and decoding with Trax's API: `from trax_rl.supervised import
training`; `trax_rl.supervised.decoding.autoregressive_sample` (the seed's spelling).
"""

from trax_rl.supervised import decoding as decoding

from trax_rl.supervised import training as training
