"""Recording episodes from a running ``BatchEnv`` and replaying recordings in the simulator.

``EpisodeTap`` watches one env of a batch while a trainer or evaluator steps it, so recording needs no extra
simulation; ``replay`` re-runs a recording's actions from its task and seed and returns a fresh recording, which
is identical to the original when the simulator is deterministic (it is, on one machine and build).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.game import task_from_json, task_to_json
from worlds.episodes.recording import Episode, EpisodeRecorder


class EpisodeTap:
    """Records the episodes of env ``env_index`` of ``env``: call ``start()`` after a reset, then ``after_step``
    after every ``env.step``. Finished episodes accumulate in ``episodes``."""

    def __init__(self, env: BatchEnv, env_index: int = 0, max_episodes: int = 1):
        self.env = env
        self.env_index = env_index
        self.max_episodes = max_episodes
        self.episodes: list[Episode] = []
        self._recorder: EpisodeRecorder | None = None

    @property
    def done(self) -> bool:
        return len(self.episodes) >= self.max_episodes

    def start(self, seed: int = -1) -> None:
        """Begin recording the episode env ``env_index`` is in now (its first step must not have happened)."""
        task = self.env.tasks[self.env_index]
        assert task is not None, "start() needs a reset env"
        self._recorder = EpisodeRecorder(task_to_json(task), seed, self.env.config.to_dict())

    def after_step(self, actions: np.ndarray, reward: np.ndarray, info: dict[str, Any], poses: dict[str, np.ndarray]) -> None:
        """Add the step just taken. ``poses`` are the poses after the step and before any auto-reset: pass
        ``info["poses"]`` from ``env.step``."""
        if self._recorder is None or self.done:
            return
        e = self.env_index
        self._recorder.add(
            player_pos=poses["player_pos"][e],
            player_yaw=poses["player_yaw"][e],
            object_pos=poses["object_pos"][e],
            object_quat=poses["object_quat"][e],
            held=poses["held"][e],
            actions=np.asarray(actions)[e],
            rewards=reward[e],
            truth=info["truth"][e],
            unsafe=info["unsafe"][e],
        )
        final = info.get("final")
        if final is not None and e in final["env"]:
            self.episodes.append(self._recorder.finish())
            self._recorder = None
            if not self.done:
                self.start()


def run_recorded(env: BatchEnv, actions: list[np.ndarray], env_index: int = 0, seed: int = -1) -> Episode:
    """Step ``env`` (already reset) through ``actions`` and return the recording of env ``env_index``'s episode,
    ending when the actions run out or the episode ends."""
    tap = EpisodeTap(env, env_index)
    tap.start(seed)
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        tap.after_step(a, reward, info, info["poses"])
        if tap.done:
            break
    if not tap.done and tap._recorder is not None and len(tap._recorder):
        tap.episodes.append(tap._recorder.finish())
    return tap.episodes[0]


def replay(episode: Episode) -> Episode:
    """Re-simulate a recording: the same task, the recorded actions, in a fresh one-env BatchEnv."""
    config = EnvConfig.from_dict({**episode.env_config, "num_envs": 1})
    env = BatchEnv(config)
    env.load_tasks([task_from_json(episode.task_json)])
    actions = episode.arrays["actions"]
    if config.action_type == "discrete":
        actions = actions.astype(np.int64)
    return run_recorded(env, [a[None] for a in actions], 0, episode.seed)
