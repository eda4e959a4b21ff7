"""Residual networks: `Resnet50` (He et al. 2016, bottleneck blocks) and `WideResnet`
(Zagoruyko & Komodakis 2016), with Trax's signatures, on NHWC images."""

from jax import numpy as jnp

from trax_rl.layers import base
from trax_rl.layers import combinators as cb
from trax_rl.layers import convolution
from trax_rl.layers import core
from trax_rl.layers import normalization


def _to_float():
    return base.Fn("ToFloat", lambda x: jnp.asarray(x, jnp.float32))


def _bottleneck(kernel_size, filters, norm, non_linearity, mode, strides=None):
    """1x1 -> kxk -> 1x1 convolutions with norms; the first one carries `strides`."""
    filters1, filters2, filters3 = filters
    return [
        convolution.Conv(filters1, (1, 1), strides),
        norm(mode=mode),
        non_linearity(),
        convolution.Conv(filters2, (kernel_size, kernel_size), padding="SAME"),
        norm(mode=mode),
        non_linearity(),
        convolution.Conv(filters3, (1, 1)),
        norm(mode=mode),
    ]


def ConvBlock(kernel_size, filters, strides, norm, non_linearity,  # pylint: disable=invalid-name
              mode="train"):
    """Bottleneck block whose shortcut is a strided 1x1 convolution (changes the shape)."""
    main = _bottleneck(kernel_size, filters, norm, non_linearity, mode, strides)
    shortcut = [convolution.Conv(filters[2], (1, 1), strides), norm(mode=mode)]
    return [cb.Residual(main, shortcut=shortcut), non_linearity()]


def IdentityBlock(kernel_size, filters, norm, non_linearity,  # pylint: disable=invalid-name
                  mode="train"):
    """Bottleneck block with an identity shortcut."""
    return [cb.Residual(_bottleneck(kernel_size, filters, norm, non_linearity, mode)),
            non_linearity()]


def Resnet50(d_hidden=64, n_output_classes=1001, mode="train",  # pylint: disable=invalid-name
             norm=normalization.BatchNorm, non_linearity=core.Relu):
    """ResNet-50: images `(B, 224, 224, C)` -> logits; stages of 3, 4, 6, 3 bottlenecks."""
    def stage(n_blocks, width, strides):
        filters = [width, width, 4 * width]
        return [ConvBlock(3, filters, strides, norm, non_linearity, mode)] + [
            IdentityBlock(3, filters, norm, non_linearity, mode) for _ in range(n_blocks - 1)]
    return cb.Serial(
        _to_float(),
        convolution.Conv(d_hidden, (7, 7), (2, 2), "SAME"),  # (B, 112, 112, d)
        norm(mode=mode),
        non_linearity(),
        convolution.MaxPool(pool_size=(3, 3), strides=(2, 2)),  # (B, 55, 55, d)
        stage(3, d_hidden, (1, 1)),                           # (B, 55, 55, 4d)
        stage(4, 2 * d_hidden, (2, 2)),                       # (B, 28, 28, 8d)
        stage(6, 4 * d_hidden, (2, 2)),                       # (B, 14, 14, 16d)
        stage(3, 8 * d_hidden, (2, 2)),                       # (B, 7, 7, 32d)
        convolution.AvgPool(pool_size=(7, 7)),                # (B, 1, 1, 32d)
        core.Flatten(),
        core.Dense(n_output_classes),
        name="Resnet50")


def WideResnetBlock(channels, strides=(1, 1), bn_momentum=0.9, mode="train"):  # pylint: disable=invalid-name
    """Pre-activation block: (BatchNorm, Relu, 3x3 Conv) twice."""
    return [
        normalization.BatchNorm(momentum=bn_momentum, mode=mode),
        core.Relu(),
        convolution.Conv(channels, (3, 3), strides, padding="SAME"),
        normalization.BatchNorm(momentum=bn_momentum, mode=mode),
        core.Relu(),
        convolution.Conv(channels, (3, 3), padding="SAME"),
    ]


def WideResnetGroup(n, channels, strides=(1, 1), bn_momentum=0.9, mode="train"):  # pylint: disable=invalid-name
    """A strided block with a 3x3 convolution shortcut, then n - 1 blocks under one
    identity shortcut (Trax's grouping)."""
    shortcut = [convolution.Conv(channels, (3, 3), strides, padding="SAME")]
    return [
        cb.Residual(WideResnetBlock(channels, strides, bn_momentum, mode), shortcut=shortcut),
        cb.Residual([WideResnetBlock(channels, (1, 1), bn_momentum, mode)
                     for _ in range(n - 1)]),
    ]


def WideResnet(n_blocks=3, widen_factor=1, n_output_classes=10, bn_momentum=0.9,  # pylint: disable=invalid-name
               mode="train"):
    """WRN for 32x32 images `(B, 32, 32, C)` -> logits."""
    return cb.Serial(
        _to_float(),
        convolution.Conv(16, (3, 3), padding="SAME"),
        WideResnetGroup(n_blocks, 16 * widen_factor, bn_momentum=bn_momentum, mode=mode),
        WideResnetGroup(n_blocks, 32 * widen_factor, (2, 2), bn_momentum, mode),   # 16x16
        WideResnetGroup(n_blocks, 64 * widen_factor, (2, 2), bn_momentum, mode),   # 8x8
        normalization.BatchNorm(momentum=bn_momentum, mode=mode),
        core.Relu(),
        convolution.AvgPool(pool_size=(8, 8)),
        core.Flatten(),
        core.Dense(n_output_classes),
        name="WideResnet")
