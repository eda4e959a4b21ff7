"""trax_rl.agents: REINFORCE, A2C, PPO and AWR, and the pure math they share.

`train(algo, env, ...)` trains any of them in one call, on a JAX env or a Gymnasium id.
The algorithms are modules (`a2c`, `awr`, `ppo`, `reinforce`, and LSTM PPO in
`recurrent`), each with a `Config`, `make_learner` and `make_train`; their shared parts
are `training` (the run), `rollout` (acting through the `networks.Policy` contract),
`actor_critic` (A2C's and REINFORCE's learner) and `updates` (targets and epochs). Below them: advantage estimators over one
stream (`advantages`), action distributions (`distributions`), pure losses (`losses`)
and minibatch reshaping (`minibatch`).
"""

from trax_rl.agents import a2c as a2c
from trax_rl.agents import actor_critic as actor_critic
from trax_rl.agents import networks as networks
from trax_rl.agents import recurrent as recurrent
from trax_rl.agents.api import TrainResult as TrainResult
from trax_rl.agents.api import train as train
from trax_rl.agents.networks import Policy as Policy
from trax_rl.agents import awr as awr
from trax_rl.agents import ppo as ppo
from trax_rl.agents import reinforce as reinforce
from trax_rl.agents import training as training
from trax_rl.agents import updates as updates
from trax_rl.agents.advantages import batched as batched
from trax_rl.agents.advantages import discounted_returns as discounted_returns
from trax_rl.agents.advantages import gae as gae
from trax_rl.agents.advantages import td_lambda as td_lambda
from trax_rl.agents.distributions import Categorical as Categorical
from trax_rl.agents.distributions import Gaussian as Gaussian
from trax_rl.agents.losses import awr_policy_loss as awr_policy_loss
from trax_rl.agents.losses import entropy_loss as entropy_loss
from trax_rl.agents.losses import explained_variance as explained_variance
from trax_rl.agents.losses import normalize as normalize
from trax_rl.agents.losses import policy_gradient_loss as policy_gradient_loss
from trax_rl.agents.losses import ppo_clip_loss as ppo_clip_loss
from trax_rl.agents.losses import value_loss as value_loss
from trax_rl.agents.minibatch import flatten_time_batch as flatten_time_batch
from trax_rl.agents.minibatch import shuffle_minibatches as shuffle_minibatches
