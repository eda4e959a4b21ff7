"""`MLP`, Trax's multilayer perceptron, also the default torso of policy networks."""

from trax_rl.layers import combinators as cb
from trax_rl.layers import core
from trax_rl.layers import initializers as init


def MLP(layer_widths=(128, 64), activation_fn=core.Relu, out_activation=False,  # pylint: disable=invalid-name
        flatten=True, mode="train", kernel_initializer=init.GlorotUniformInitializer(),
        bias_initializer=init.RandomNormalInitializer(1e-6)):
    """`Dense(width), activation_fn()` per width; the last activation only if `out_activation`.

    `flatten` first flattens all but the batch axis. The initializers (not in Trax) let a
    policy network use e.g. orthogonal weights.
    """
    del mode
    layers = []
    for width in layer_widths:
        layers += [core.Dense(width, kernel_initializer=kernel_initializer,
                              bias_initializer=bias_initializer), activation_fn()]
    if layers and not out_activation:
        layers.pop()
    return cb.Serial([core.Flatten()] if flatten else [], layers, name="MLP")
