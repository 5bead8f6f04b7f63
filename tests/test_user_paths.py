"""Paths given on the command line that the system cannot use - a read-only file system,
an immutable folder, a dangling symbolic link, a name over 255 bytes, a path over 4096, a
file where a folder is expected - are refused with one line naming the flag, the path and
the cause (exit 2) before anything starts; an OSError once work is under way is one line
too (exit 1)."""

import errno
import os
import shutil
import subprocess

import pytest

from helpers import quick_config, run_cli
from rt_avg import cli
from rt_avg.run.inline import train_inline
from test_checkpoint import snapshot


def _tiny_run(path):
    train_inline(quick_config(100, agent={"hidden_sizes": [16, 16]},
                              run={"checkpoint_every": 100}), path, progress=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A folder holding a finished run: input for report and sweep-summary."""
    root = tmp_path_factory.mktemp("runs")
    _tiny_run(root / "run")
    return root


@pytest.fixture
def read_only(tmp_path):
    """A folder on a read-only file system (a tmpfs, remounted read-only) holding a
    finished run; without the right to mount, a folder without write permission."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        _tiny_run(path / "run")
        for p in (path, path / "run"):
            p.chmod(0o555)
        yield path, "Permission denied"
        for p in (path, path / "run"):
            p.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        _tiny_run(path / "run")
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path, "read-only file system"
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def immutable(tmp_path):
    """An immutable folder (chattr +i: not even root may add to it)."""
    path = tmp_path / "immutable"
    path.mkdir()
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a folder immutable here")
    yield path
    subprocess.run(["chattr", "-i", str(path)], check=True)


def _refused(args, names, code=2):
    """Run the command line; it must end with ``code`` and one line naming all of
    ``names``."""
    res = run_cli(*args)
    assert res.returncode == code, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rt-avg: "), res.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


OUTPUTS = {  # command line with {out} for the folder it writes, the flag named
    "train --run-dir": (["train", "--run-dir", "{out}", "--steps", "10", "--quiet"], "--run-dir"),
    "report --out": (["report", "{any}", "--out", "{out}"], "--out"),
    "sweep-summary --out": (["sweep-summary", "{any}", "--out", "{out}"], "--out"),
    "study --out": (["study", "incremental", "--steps", "100", "--seeds", "1", "--out", "{out}"],
                    "--out"),
    "sweep --sweep-dir": (["sweep", "smoke", "--sweep-dir", "{out}"], "--sweep-dir"),
}


def _fill(args, **paths):
    return [a.format(**paths) for a in args]


@pytest.mark.parametrize("command", list(OUTPUTS))
def test_an_output_on_a_read_only_file_system(read_only, runs, command):
    ro, cause = read_only
    args, flag = OUTPUTS[command]
    _refused(_fill(args, out=ro / "new", any=runs), [flag, str(ro), cause])


@pytest.mark.parametrize("command", ["train --run-dir", "study --out", "sweep --sweep-dir"])
def test_an_output_in_an_immutable_folder(immutable, runs, command):
    args, flag = OUTPUTS[command]
    _refused(_fill(args, out=immutable / "new", any=runs), [flag, str(immutable), "immutable"])
    assert not any(immutable.iterdir())


@pytest.mark.parametrize("command", ["study --out", "sweep --sweep-dir", "report --out"])
def test_an_output_that_is_a_file(tmp_path, runs, command):
    args, flag = OUTPUTS[command]
    (tmp_path / "a_file").write_text("not a folder\n")
    _refused(_fill(args, out=tmp_path / "a_file", any=runs), [flag, "is a file"])
    assert (tmp_path / "a_file").read_text() == "not a folder\n"


def test_resume_on_a_read_only_file_system_is_refused_and_eval_works(read_only):
    ro, cause = read_only
    before = snapshot(ro / "run")
    _refused(["train", "--resume", str(ro / "run"), "--steps", "200", "--quiet"],
             ["--resume", str(ro / "run"), cause])
    res = run_cli("eval", str(ro / "run"), "--episodes", "1")  # reading needs no writing
    assert res.returncode == 0, res.stderr
    assert snapshot(ro / "run") == before


LONG_NAME = "n" * 300
LONG_PATH = "/".join(["p" * 200] * 25)  # 5,024 bytes


@pytest.mark.parametrize("args, names", [
    (["train", "--run-dir", "{tmp}/dangling", "--steps", "10", "--quiet"],
     ["--run-dir", "dangling", "symbolic link", "does not exist"]),
    (["train", "--resume", "{tmp}/dangling", "--quiet"], ["--resume", "symbolic link"]),
    (["eval", "{tmp}/dangling"], ["run_dir", "symbolic link", "does not exist"]),
    (["train", "--run-dir", "{tmp}/" + LONG_NAME, "--steps", "10", "--quiet"],
     ["--run-dir", "300 bytes long", "up to 255 bytes"]),
    (["train", "--resume", "{tmp}/" + LONG_NAME, "--quiet"], ["--resume", "300 bytes"]),
    (["eval", "{tmp}/" + LONG_NAME], ["run_dir", "300 bytes"]),
    (["report", "{tmp}/" + LONG_NAME], ["RUN_DIR", "300 bytes"]),
    (["train", "--run-dir", "{tmp}/" + LONG_PATH, "--steps", "10", "--quiet"],
     ["--run-dir", "the path is", "up to 4095 bytes"]),
    (["study", "incremental", "--out", "{tmp}/" + LONG_PATH], ["--out", "up to 4095 bytes"]),
], ids=["run-dir dangling", "resume dangling", "eval dangling", "run-dir name > 255",
        "resume name > 255", "eval name > 255", "report name > 255", "run-dir path > 4096",
        "study path > 4096"])
def test_paths_the_system_cannot_take(tmp_path, args, names):
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    before = sorted(p.name for p in tmp_path.iterdir())
    line = _refused(_fill(args, tmp=tmp_path), names)
    assert len(line) < 600  # a very long path is shortened, not printed whole
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_os_error_once_under_way_is_one_line(tmp_path, monkeypatch, capsys):
    """A failure after the checks (here: the report's folder made read-only meanwhile)."""
    from rt_avg.analysis import report

    def fail(run_dirs, out):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / "out" / "a.png"))

    monkeypatch.setattr(report, "main_report", fail)
    assert cli.main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines == [f"rt-avg: error: {tmp_path / 'out' / 'a.png'}: Read-only file system"]
