"""A Stable-Baselines3 model's training state as tensors and plain data (what rt-avg
checkpoints may hold: loading one never runs code, unlike SB3's own pickled zip files).

The state is the networks and optimisers (``get_parameters``), SAC's entropy coefficient,
the step and update counters and, for SAC and TD3, the replay buffer's written rows
(restored into a buffer of the same or a larger capacity, :func:`load_replay`).  PPO's
rollout buffer is refilled every rollout and is not kept: a resumed PPO run starts a new
rollout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

REPLAY_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones",
                 "timeouts")


def model_state(model: Any) -> dict[str, Any]:
    """Everything :func:`load_model_state` needs to continue training ``model``."""
    state: dict[str, Any] = {
        "parameters": model.get_parameters(), "num_timesteps": int(model.num_timesteps),
        "n_updates": int(getattr(model, "_n_updates", 0)),
        "episode_num": int(getattr(model, "_episode_num", 0))}
    if getattr(model, "log_ent_coef", None) is not None:
        state["log_ent_coef"] = model.log_ent_coef.detach().clone()
    buffer = getattr(model, "replay_buffer", None)
    if buffer is not None:
        filled = buffer.buffer_size if buffer.full else buffer.pos
        state["replay"] = {"pos": int(buffer.pos), "full": bool(buffer.full),
                           **{k: np.array(getattr(buffer, k)[:filled]) for k in REPLAY_ARRAYS}}
    return state


def load_model_state(model: Any, state: dict[str, Any]) -> None:
    """Restore a state from :func:`model_state` into a model built with the same settings."""
    model.set_parameters(state["parameters"], exact_match=True, device="cpu")
    model.num_timesteps = int(state["num_timesteps"])
    model._n_updates = int(state["n_updates"])
    model._episode_num = int(state["episode_num"])
    if "log_ent_coef" in state:
        with torch.no_grad():
            model.log_ent_coef.copy_(state["log_ent_coef"])
    if "replay" in state:
        load_replay(model.replay_buffer, state["replay"])


def replay_transitions(replay: dict[str, Any]) -> int:
    """How many transitions a saved replay buffer holds."""
    return len(replay["observations"])


def load_replay(buffer: Any, replay: dict[str, Any]) -> None:
    """Fill ``buffer`` with the saved transitions.  Its capacity may differ from the saved
    one (it follows ``run.steps``, which a continued run raises): the same capacity keeps
    the saved layout; another one receives the transitions oldest first, and only what
    was written counts as filled - never rows of zeros.  ValueError if they do not fit."""
    held, capacity = replay_transitions(replay), buffer.buffer_size
    if held > capacity:
        raise ValueError(f"the saved replay buffer holds {held} transitions, more than the "
                         f"{capacity} this one holds")
    # A saved ring buffer that was full has its oldest row at pos; moving into a larger
    # buffer, its rows go first, oldest first, and the rows after them are still free.
    unroll = bool(replay["full"]) and held < capacity
    for key in REPLAY_ARRAYS:
        saved = np.asarray(replay[key])
        if unroll:
            saved = np.concatenate([saved[int(replay["pos"]):], saved[:int(replay["pos"])]])
        getattr(buffer, key)[:held] = saved
    if held == capacity:  # the saved layout as it was
        buffer.pos, buffer.full = int(replay["pos"]) % capacity, True
    else:
        buffer.pos, buffer.full = held, False
