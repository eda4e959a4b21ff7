"""`trax_rl.models`: an alias of `trax_rl.layers.models`, the model zoo (Trax's `trax.models`).

The alias is the same module object, so `trax_rl.models.X is trax_rl.layers.models.X`.
"""

import sys

from trax_rl.layers import models as _models

sys.modules[__name__] = _models
