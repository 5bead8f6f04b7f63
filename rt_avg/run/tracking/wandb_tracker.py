"""Weights & Biases tracker: mirrors a run directory into one wandb run.

Only the logging process owns one (the inline runner, or the LoggerActor): one
``wandb.init`` per run, never in the env or learner process.  The run directory stays the
record; wandb is a view of it, so a wandb failure never stops a run: every call is wrapped,
the first failure prints one warning to stderr and the tracker turns into a no-op.

The mode is decided up front, before ``wandb.init`` can hang on a dead network:
``cfg.tracking.mode`` (``online``/``offline``/``disabled``), lowered by a ``WANDB_MODE``
environment variable set to ``offline`` or ``disabled``, and ``online`` becomes ``offline``
when no API key is configured (``WANDB_API_KEY``, ``WANDB_IDENTITY_TOKEN_FILE`` or a
``.netrc`` entry for the server), or the server does not answer an API request
(``{ viewer { id } }`` on ``<base url>/graphql``, with the key) within ``probe_timeout_s``,
or rejects the key.  A TCP connect is not enough of a test: proxies and sandboxes accept
connections to anywhere.  An offline run prints the ``wandb sync`` command that uploads it later.

Logged: the resolved config plus the code version (``code/version``: git commit, or the
package version); ``charts/episode_return`` and ``charts/episode_length`` against
``env_step``; metric rows as given (``losses/...``, ``timing/...``) against ``env_step``;
the timing summary (timing.json) into the run summary; at the end a learning-curve figure.
"""

from __future__ import annotations

import base64
import json
import math
import netrc
import os
import secrets
import string
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO
from urllib.parse import urlparse

import numpy as np

from rt_avg.core.config import Config, to_dict

DEFAULT_BASE_URL = "https://api.wandb.ai"
STEP_METRIC = "env_step"
NAMESPACES = ("charts", "losses", "timing", "eval")
PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ModeDecision:
    mode: str
    """online, offline or disabled: what wandb.init will be asked for."""
    reason: str = ""
    """Why the configured mode was changed (empty when it was not)."""


def base_url() -> str:
    return os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL


def find_api_key(url: str) -> str | None:
    """The API key wandb would use for ``url`` without prompting ("" when an identity token
    file stands in for a key), or None."""
    if key := os.environ.get("WANDB_API_KEY"):
        return key
    if os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return ""
    host = urlparse(url).hostname or ""
    # Like wandb: $NETRC when set, else the usual places.
    candidates = [os.environ["NETRC"]] if os.environ.get("NETRC") else ["~/.netrc", "~/_netrc"]
    for name in candidates:
        path = Path(name).expanduser()
        if not path.is_file():
            continue
        try:
            auth = netrc.netrc(str(path)).authenticators(host)
        except (netrc.NetrcParseError, OSError):
            continue
        if auth and auth[2]:
            return auth[2]
    return None


def has_api_key(url: str) -> bool:
    return find_api_key(url) is not None


def _ask_server(url: str, api_key: str, timeout_s: float) -> str | None:
    if not api_key:  # identity token: only check that the server answers
        req = urllib.request.Request(url.rstrip("/") + "/healthz")
    else:
        token = base64.b64encode(f"api:{api_key}".encode()).decode()
        req = urllib.request.Request(
            url.rstrip("/") + "/graphql", data=json.dumps({"query": "{ viewer { id } }"}).encode(),
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            body = resp.read(65536)
    except urllib.error.HTTPError as exc:
        return "API key rejected" if exc.code in (401, 403) else f"server answered HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"not reachable ({getattr(exc, 'reason', exc)})"
    if api_key:
        try:
            if "data" not in json.loads(body):
                return "unexpected answer from the server"
        except ValueError:
            return "unexpected answer from the server (not the W&B API)"
    return None


def check_server(url: str, api_key: str, timeout_s: float) -> str | None:
    """None when the W&B server at ``url`` answers the API (and accepts the key) within
    ``timeout_s``; else why not.  Runs in a helper thread so that no step (DNS included)
    can block longer than the timeout."""
    result: list[str | None] = []
    # The join below is the one clock that decides; the request's own timeout is longer,
    # so that a silent server always reads "no answer" rather than either of two racing
    # reasons.  The daemon thread ends on its own later.
    worker = threading.Thread(
        target=lambda: result.append(_ask_server(url, api_key, timeout_s + 1.0)),
        name="wandb-probe", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not result:
        return f"no answer within {timeout_s:g} s"
    return result[0]


def decide_mode(configured: str, probe_timeout_s: float = 3.0) -> ModeDecision:
    """The wandb mode to use, decided without wandb (see the module docstring)."""
    env_mode = (os.environ.get("WANDB_MODE") or "").lower()
    if configured == "disabled" or env_mode == "disabled":
        return ModeDecision("disabled", "WANDB_MODE=disabled" if configured != "disabled" else "")
    if configured == "offline":
        return ModeDecision("offline")
    if env_mode in ("offline", "dryrun"):
        return ModeDecision("offline", f"WANDB_MODE={env_mode}")
    url = base_url()
    api_key = find_api_key(url)
    if api_key is None:
        return ModeDecision("offline", f"no API key for {url}; set WANDB_API_KEY or run "
                                       "`wandb login`")
    if (problem := check_server(url, api_key, probe_timeout_s)) is not None:
        return ModeDecision("offline", f"{url}: {problem}")
    return ModeDecision("online")


def code_version(project_dir: Path = PROJECT_DIR) -> str:
    """``git:<commit>`` (``+dirty`` with uncommitted changes) or ``rt-avg==<version>``."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_dir, text=True,
                                capture_output=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=project_dir, text=True, capture_output=True, timeout=5,
                               check=True).stdout.strip()
        if commit:
            return f"git:{commit}" + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        from importlib.metadata import version

        return f"rt-avg=={version('rt-avg')}"
    except Exception:
        return "unknown"


def _number(value: Any) -> float | int | None:
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.number):
        return value.item()
    return None


def _flatten(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(_flatten(value, name))
        elif (num := _number(value)) is not None:
            out[name] = num
        elif isinstance(value, str):
            out[name] = value
    return out


def sync_command(run_dir: Path) -> str | None:
    """``wandb sync <dir>`` for the newest offline run under ``<run_dir>/wandb`` that has not
    been uploaded yet (``wandb sync`` leaves a ``.synced`` marker), or None.  For callers
    whose terminal does not see the logging process's stderr (the LoggerActor's)."""
    runs = sorted(Path(run_dir).glob("wandb/offline-run-*"))
    if not runs or any(runs[-1].glob("*.wandb.synced")):
        return None
    return f"wandb sync {runs[-1]}"


class WandbTracker:
    """Implements :class:`rt_avg.run.tracking.tracker.Tracker` with one wandb run per run directory."""

    def __init__(self, cfg: Config, run_dir: Path, *, stream: TextIO | None = None,
                 probe_timeout_s: float = 3.0) -> None:
        self.run_dir = Path(run_dir)
        self.stream = stream or sys.stderr
        self.run: Any = None
        self.failed = False
        self._warned = False
        self._timing_logged = False
        self.decision = decide_mode(cfg.tracking.mode, probe_timeout_s)
        if self.decision.reason:
            self._say(f"wandb: {self.decision.mode} mode: {self.decision.reason}")
        if self.decision.mode == "online":
            try:
                self._init(cfg)
                return
            except Exception as exc:  # the probe passed but the start did not: keep a copy
                self._say(f"wandb: online start failed ({type(exc).__name__}: {exc}); "
                          "logging offline instead")
                self.decision = ModeDecision("offline", f"online start failed: {exc}")
        if self.decision.mode == "offline":
            self._guard("init", self._init, cfg)

    # ------------------------------------------------------------------ Tracker protocol

    def log_episode(self, step: int, episode: int, ret: float, length: int) -> None:
        self._guard("log", self._log, {STEP_METRIC: int(step), "charts/episode": int(episode),
                                       "charts/episode_return": float(ret),
                                       "charts/episode_length": int(length)})

    def log_metrics(self, step: int, row: dict[str, Any]) -> None:
        data: dict[str, Any] = {STEP_METRIC: int(step)}
        for key, value in row.items():
            num = _number(value)
            if key == "step" or num is None:
                continue
            data[key if "/" in key else f"charts/{key}"] = num
        self._guard("log", self._log, data)

    def log_timing(self, summary: dict[str, Any]) -> None:
        self._guard("summary", self._summary, summary)
        self._timing_logged = True

    def finish(self, run_dir: Path) -> None:
        run = self.run
        if run is None:
            return
        sync_dir = self._sync_dir(run) if self.decision.mode == "offline" else None
        self._guard("finish", self._finish, Path(run_dir))
        # Close the run even when the end-of-run figure failed: what was logged stays.
        self.run = None
        try:
            run.finish()
        except Exception as exc:
            self._warn("finish", exc)
            return
        if sync_dir is not None:
            self._say(f"wandb: offline run saved; upload it with: wandb sync {sync_dir}")

    # ------------------------------------------------------------------ wandb calls

    def _init(self, cfg: Config) -> None:
        import wandb

        self.run_dir.mkdir(parents=True, exist_ok=True)
        t = cfg.tracking
        config = to_dict(cfg)
        config["code"] = {"version": code_version()}
        # One wandb run per run directory: a resumed run (rt-avg train --resume) continues
        # the same wandb run instead of starting a new one.
        id_file = self.run_dir / "wandb" / "run_id"
        run_id = (id_file.read_text().strip() if id_file.exists() else
                  "".join(secrets.choice(string.ascii_lowercase + string.digits)
                          for _ in range(8)))
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(run_id)
        self.run = wandb.init(
            project=t.project, entity=t.entity, group=t.group, tags=list(t.tags) or None,
            name=self.run_dir.name, job_type=cfg.run.mode, config=config,
            dir=str(self.run_dir), mode=self.decision.mode, id=run_id, resume="allow",
            settings=wandb.Settings(
                # The run directory is the record: no console capture (it would wrap the
                # process's stdout under the live progress line), no code snapshot.
                console="off", save_code=False, silent=True, init_timeout=60.0,
                reinit="create_new"))
        self.run.define_metric(STEP_METRIC)
        for ns in NAMESPACES:
            self.run.define_metric(f"{ns}/*", step_metric=STEP_METRIC)

    def _log(self, data: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.log(data)

    def _summary(self, summary: dict[str, Any]) -> None:
        if self.run is not None:
            flat = _flatten(summary, "")
            self.run.summary.update({k if k.startswith("timing/") else f"timing/{k}": v
                                     for k, v in flat.items()})

    def _finish(self, run_dir: Path) -> None:
        import wandb

        from rt_avg.analysis.plots import plot_run
        from rt_avg.analysis.runs import load_run
        from rt_avg.analysis.stats import learning_curve

        timing = run_dir / "timing.json"
        if not self._timing_logged and timing.exists():
            self._summary(json.loads(timing.read_text()))
        run = load_run(run_dir)
        if run.returns.size:
            if math.isfinite(run.final_return):
                self.run.summary["charts/final_return"] = run.final_return
            png = plot_run(run.steps, run.returns,
                           learning_curve(run.steps, run.returns, run.total_steps),
                           f"{run.name} ({run.env_id}, {run.mode}, seed {run.seed})",
                           run_dir / "wandb" / "learning_curve.png")
            self.run.log({"charts/learning_curve": wandb.Image(str(png)),
                          STEP_METRIC: int(run.steps[-1])})

    # ------------------------------------------------------------------ failure handling

    def _guard(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        if self.failed or (self.run is None and what != "init"):
            return
        try:
            fn(*args)
        except Exception as exc:  # wandb must never stop a run
            self.failed = True
            self._warn(what, exc)
            if what == "init":
                self.run = None

    def _warn(self, what: str, exc: BaseException) -> None:
        if self._warned:
            return
        self._warned = True
        self._say(f"wandb: {what} failed ({type(exc).__name__}: {exc}); wandb logging is off "
                  f"for this run, the run directory {self.run_dir} stays the record")

    def _sync_dir(self, run: Any) -> Path | None:
        try:
            return Path(run.dir).parent  # <run_dir>/wandb/offline-run-<time>-<id>
        except Exception:
            found = sorted(self.run_dir.glob("wandb/offline-run-*"))
            return found[-1] if found else None

    def _say(self, text: str) -> None:
        try:
            print(text, file=self.stream, flush=True)
        except Exception:
            pass
