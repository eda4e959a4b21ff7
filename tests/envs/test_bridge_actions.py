"""The bridge makes agents' actions valid for Gymnasium and bounds every episode
(issue #12 items 2 and 5)."""

import gymnasium
import numpy as np
import pytest

from trax_rl import envs
from trax_rl.envs import gymnasium_bridge


class _ShiftedActions(gymnasium.Env):
    """Actions Discrete(3, start=-1); the observation echoes the last action."""

    observation_space = gymnasium.spaces.Box(-5.0, 5.0, (1,), np.float32)
    action_space = gymnasium.spaces.Discrete(3, start=-1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        assert self.action_space.contains(action), f"invalid action {action}"
        return np.full(1, action, np.float32), 0.0, False, False, {}


gymnasium.register("TraxRlTest/ShiftedActions-v0", entry_point=_ShiftedActions,
                   max_episode_steps=10)


def test_discrete_actions_with_a_start_are_zero_based_on_our_side():
    vec = envs.make_gymnasium_vec("TraxRlTest/ShiftedActions-v0", 3)
    assert vec.action_space.n == 3 and vec.action_space.start == 0
    vec.reset()
    obs, *_ = vec.step(np.array([0, 1, 2], np.int32))
    np.testing.assert_array_equal(obs[:, 0], [-1, 0, 1])


def test_gaussian_actions_are_clipped_to_the_box():
    vec = envs.make_gymnasium_vec("MountainCarContinuous-v0", 2)
    vec.reset()
    _, reward, *_ = vec.step(np.array([[5.0], [-0.5]], np.float32))
    # Gymnasium's reward is -0.1 * action**2 of the action it received.
    np.testing.assert_allclose(reward, [-0.1, -0.025], rtol=1e-5)


def test_tuple_observations_are_flattened():
    vec = envs.make_gymnasium_vec("Blackjack-v1", 2)
    assert isinstance(vec.observation_space, envs.Box)
    assert vec.observation_space.shape == (32 + 11 + 2,)
    obs = vec.reset()
    assert obs.shape == (2, 45) and obs.sum(axis=1).tolist() == [3, 3]  # Three one-hots.


@pytest.mark.parametrize("override, expected", [(None, 1000), (7, 7)])
def test_envs_without_a_time_limit_get_a_step_bound(override, expected):
    assert gymnasium.registry["CliffWalking-v1"].max_episode_steps is None
    vec = envs.make_gymnasium_vec("CliffWalking-v1", 1, max_episode_steps=override)
    vec.reset()
    for step in range(1, expected + 1):  # Always "up": never reaches the goal.
        _, _, terminated, truncated, info = vec.step(np.array([0], np.int32))
    assert truncated[0] and not terminated[0] and info["episode_length"][0] == expected
    assert gymnasium_bridge.max_episode_steps("CartPole-v1") == 500


class _FakeVec:
    """Env 0's episodes last 1 step, env 1's last 5; each step pays 1."""

    num_envs = 2

    def reset(self):
        self.t = np.zeros(2, int)
        return np.zeros((2, 1), np.float32)

    def step(self, actions):
        self.t += 1
        done = self.t >= np.array([1, 5])
        returns = self.t.astype(np.float32)
        self.t[done] = 0
        no = np.zeros(2, bool)
        return np.zeros((2, 1), np.float32), None, done, no, {"episode_return": returns}


def test_bridge_evaluation_takes_a_fixed_number_of_episodes_per_env():
    from trax_rl.agents import distributions, host_loop, networks

    def apply(params, obs):
        return distributions.Categorical(np.zeros((obs.shape[0], 2), np.float32)), None

    policy = networks.feed_forward_policy(apply)
    returns = host_loop.evaluate(policy, None, _FakeVec(), 4, lambda o: o)
    # The first 4 episodes to end would be four 1-step ones (mean 1); fairly: 2 + 2.
    np.testing.assert_array_equal(returns, [1, 1, 5, 5])
    np.testing.assert_array_equal(host_loop.episode_quota(5, 2), [3, 2])
