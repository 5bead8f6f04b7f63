"""The driver copies its actors' output from Ray's worker log files (no log monitor)."""

import io

from rt_avg.actors.worker_output import WorkerOutput


def test_lines_are_copied_once_with_the_role_and_without_ray_markers(tmp_path):
    err = tmp_path / "worker-ab12-01000000-4242.err"
    other = tmp_path / "worker-cd34-01000000-999.err"  # another process: not ours
    err.write_bytes(b":job_id:01000000\n:actor_name:EnvActor\nstall at step 3\nhalf a li")
    other.write_bytes(b"not ours\n")
    out = io.StringIO()
    relay = WorkerOutput(tmp_path, {"env": 4242}, out=out)
    relay.copy_new()
    assert out.getvalue() == "(env) stall at step 3\n"
    with open(err, "ab") as f:
        f.write(b"ne\n")
    (tmp_path / "worker-ab12-01000000-4242.out").write_bytes(b"printed\n")
    relay.copy_new()
    relay.copy_new()
    assert out.getvalue().splitlines() == ["(env) stall at step 3", "(env) half a line",
                                           "(env) printed"]


def test_the_thread_copies_until_stopped(tmp_path):
    log = tmp_path / "worker-ab12-01000000-7.out"
    log.write_bytes(b"")
    out = io.StringIO()
    relay = WorkerOutput(tmp_path, {"learner": 7}, out=out, period_s=0.01).start()
    log.write_bytes(b"one\n")
    relay.stop()
    assert out.getvalue() == "(learner) one\n"
