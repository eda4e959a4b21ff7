"""`AtariCnn` (Mnih et al. 2015's convolutional torso, Trax's layout): pixel frames ->
features, for policy networks on pixel observations."""

from jax import numpy as jnp

from trax_rl.layers import attention
from trax_rl.layers import base
from trax_rl.layers import combinators as cb
from trax_rl.layers import convolution
from trax_rl.layers import core


def FrameStack(n_frames):  # pylint: disable=invalid-name
    """`(B, T, ..., C) -> (B, T, ..., C * n_frames)`: each step sees the n_frames - 1 before it.

    Frame k of the stack is the input shifted right by k along T (zeros before the start).
    Trax writes the shift as `[ShiftRight(k)] * k`, which shifts by k * k; this shifts by k.
    """
    if n_frames < 1:
        raise ValueError(f"FrameStack needs n_frames >= 1, got {n_frames}")
    if n_frames == 1:
        return []
    return [
        cb.Branch(*[attention.ShiftRight(k) if k else None for k in range(n_frames)]),
        cb.Concatenate(n_items=n_frames, axis=-1),
    ]


def AtariCnn(n_frames=4, hidden_sizes=(32, 64, 64), output_size=512,  # pylint: disable=invalid-name
             mode="train"):
    """Pixel sequences `(B, T, H, W, C)` of bytes -> features `(B, T, output_size)`."""
    del mode
    return cb.Serial(
        base.Fn("ToFloat", lambda x: jnp.asarray(x, jnp.float32) / 255.0),
        FrameStack(n_frames),                                      # (B, T, H, W, C * n_frames)
        convolution.Conv(hidden_sizes[0], (5, 5), (2, 2), "SAME"),
        core.Relu(),
        convolution.Conv(hidden_sizes[1], (5, 5), (2, 2), "SAME"),
        core.Relu(),
        convolution.Conv(hidden_sizes[2], (5, 5), (2, 2), "SAME"),
        core.Relu(),
        core.Flatten(n_axes_to_keep=2),                            # (B, T, rest)
        core.Dense(output_size),
        core.Relu(),
        name="AtariCnn")
