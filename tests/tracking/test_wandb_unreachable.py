"""wandb switched on but unreachable: the run switches to offline up front, never hangs."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
import time

import pytest

from tracking_runs import tiny_config
from rt_avg.run.inline import train_inline
from rt_avg.run.run_dir import RunDirectory, read_episodes, read_metrics
from rt_avg.run.tracking.wandb_reader import read_finished_run
from rt_avg.run.tracking.wandb_tracker import decide_mode, has_api_key

CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard port: nothing listens, refused at once


@pytest.fixture
def no_wandb_env(monkeypatch, tmp_path):
    """No key, no netrc, a server that refuses connections, no WANDB_MODE from conftest."""
    for var in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_BASE_URL", CLOSED_PORT_URL)


def _check_complete(path, steps=600):
    rd = RunDirectory(path)
    assert rd.load_config().run.steps == steps
    eps = read_episodes(rd)
    assert eps and eps[-1]["step"] <= steps
    assert len(read_metrics(rd)) == steps // 100
    assert (rd.checkpoints / f"step_{steps:010d}.pt").exists()


def test_online_without_key_runs_offline_without_hanging(no_wandb_env, tmp_path, capsys):
    res = train_inline(tiny_config(wandb=True, mode="online"), tmp_path / "run", progress=False)
    assert res.steps == 600 and not res.interrupted
    _check_complete(tmp_path / "run")
    err = capsys.readouterr().err
    assert "wandb: offline mode: no API key" in err and "wandb sync " in err
    # Decided up front: no online start was tried (one would wait for its own timeout).
    assert "online start failed" not in err
    run = read_finished_run(tmp_path / "run")  # the offline copy is complete too
    assert run.series("charts/episode_return")[1] == [
        e["return"] for e in read_episodes(tmp_path / "run")]


def test_online_with_key_but_server_down_runs_offline(no_wandb_env, monkeypatch, tmp_path,
                                                      capsys):
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    res = train_inline(tiny_config(wandb=True, mode="online"), tmp_path / "run", progress=False)
    assert res.steps == 600
    _check_complete(tmp_path / "run")
    err = capsys.readouterr().err
    assert "not reachable" in err  # connection refused
    assert "online start failed" not in err  # decided by the probe, before any online start


@contextlib.contextmanager
def fake_server(status: int | None, body: bytes = b""):
    """A local HTTP server answering every request with ``status`` and ``body``; with
    ``status`` None, a socket that accepts connections and never answers."""
    if status is None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            sock.close()
        return

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status,body,expected", [
    (None, b"", "no answer within 0.5 s"),
    (404, b"not here", "server answered HTTP 404"),
    (401, b"", "API key rejected"),
    (200, b"<html>captive portal</html>", "unexpected answer"),
])
def test_a_server_that_is_not_the_wandb_api_means_offline(no_wandb_env, monkeypatch,
                                                          status, body, expected):
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    with fake_server(status, body) as url:
        monkeypatch.setenv("WANDB_BASE_URL", url)
        t0 = time.monotonic()
        decision = decide_mode("online", probe_timeout_s=0.5)
        elapsed = time.monotonic() - t0
    assert decision.mode == "offline" and expected in decision.reason
    if status is None:  # it waited for an answer as long as the probe's timeout, then gave up
        assert elapsed >= 0.5


def test_a_server_answering_the_api_means_online(no_wandb_env, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    with fake_server(200, json.dumps({"data": {"viewer": {"id": "u1"}}}).encode()) as url:
        monkeypatch.setenv("WANDB_BASE_URL", url)
        assert decide_mode("online", probe_timeout_s=2.0).mode == "online"


def test_mode_decision(no_wandb_env, monkeypatch, tmp_path):
    assert decide_mode("offline").mode == "offline"
    assert decide_mode("disabled").mode == "disabled"
    assert not has_api_key(CLOSED_PORT_URL)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1\n  login user\n  password " + "1" * 40 + "\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert has_api_key(CLOSED_PORT_URL)
    assert not has_api_key("https://api.wandb.ai")
    monkeypatch.setenv("WANDB_MODE", "offline")  # the environment may lower the mode
    decision = decide_mode("online")
    assert decision.mode == "offline" and "WANDB_MODE" in decision.reason


def test_an_online_start_that_fails_falls_back_to_offline(no_wandb_env, monkeypatch, tmp_path,
                                                          capsys):
    import wandb

    real_init = wandb.init

    def init(*args, **kwargs):
        if kwargs.get("mode") == "online":
            raise RuntimeError("upstream request timed out")
        return real_init(*args, **kwargs)

    monkeypatch.setattr(wandb, "init", init)
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    with fake_server(200, json.dumps({"data": {"viewer": {"id": "u1"}}}).encode()) as url:
        monkeypatch.setenv("WANDB_BASE_URL", url)
        res = train_inline(tiny_config(wandb=True, mode="online"), tmp_path / "run",
                           progress=False)
    assert res.steps == 600
    _check_complete(tmp_path / "run")
    err = capsys.readouterr().err
    assert "online start failed" in err and "wandb sync " in err
    assert read_finished_run(tmp_path / "run").series("charts/episode_return")[1]
