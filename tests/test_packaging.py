"""What is installed: one import namespace (rt_avg), every package listed, and the library
kept free of the Ray layer."""

import ast
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from helpers import HANG_S, ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
# Modules above the library: they may import Ray and the Ray layer (rt_avg.actors).
# Entry points (the command line and the Python API) start the runners, so they sit above
# the library and may import Ray.
ABOVE_LIBRARY = ("cli.py", "api.py", "bench", "sweeps", "studies")


def _package_folders() -> dict[str, Path]:
    """Import name -> folder of every package, through the package-dir mapping."""
    found = {}
    for name, folder in PYPROJECT["package-dir"].items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found[".".join([name, *rel.parts])] = init.parent
    return found


def test_every_package_folder_is_installed():
    missing = sorted(set(_package_folders()) - set(PYPROJECT["packages"]))
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _library_modules():
    for folder in (ROOT / "rt_avg", ROOT / "envs"):
        for path in folder.rglob("*.py"):
            rel = path.relative_to(ROOT / "rt_avg") if folder.name == "rt_avg" else None
            if rel is not None and rel.parts[0] in ABOVE_LIBRARY:
                continue
            yield path


def test_library_does_not_import_the_ray_layer():
    offenders = []
    for path in _library_modules():
        bad = [m for m in _imports(path)
               if m == "ray" or m.startswith(("ray.", "rt_avg.actors"))]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {', '.join(sorted(bad))}")
    assert not offenders, "library modules importing Ray:\n" + "\n".join(offenders)


def test_nothing_imports_the_folders_by_their_own_names():
    """actors/, envs/, configs/ are rt_avg.actors, rt_avg.envs, rt_avg.configs when
    installed: an ``import envs`` works only from a checkout."""
    offenders = []
    for folder in ("rt_avg", "actors", "envs", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            bad = [m for m in _imports(path) if m.split(".")[0] in ("actors", "envs", "configs")]
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {', '.join(sorted(bad))}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.slow
def test_wheel_installs_only_the_rt_avg_namespace(tmp_path):
    """Built and installed non-editable: only rt_avg/ lands in site-packages, `import envs`
    fails, the console script works and finds the ready configs."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(ROOT)], check=True, timeout=HANG_S)
    wheel = next((tmp_path / "dist").glob("rt_avg-*.whl"))
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"rt_avg", wheel.name.split("-py")[0] + ".dist-info"}, tops
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, timeout=HANG_S)
    assert sorted(p.name for p in site.iterdir() if not p.name.endswith(".dist-info")) == \
        ["bin", "rt_avg"]
    env = dict(os.environ, PYTHONPATH=str(site))
    outside = tmp_path  # not the checkout: nothing importable from the working directory
    for name in ("envs", "actors", "configs"):
        r = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=outside, env=env,
                           capture_output=True, text=True)
        assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr, name
    r = subprocess.run([sys.executable, "-c", "import rt_avg.envs, rt_avg.actors.driver; "
                        "from rt_avg.core.config import config_dir; print(config_dir())"],
                       cwd=outside, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).resolve() == (site / "rt_avg" / "configs").resolve()
    r = subprocess.run([str(site / "bin" / "rt-avg"), "train", "--help"], cwd=outside, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0 and "hopper" in r.stdout, r.stderr


def test_the_top_of_the_package_shows_the_architecture():
    """A newcomer opening rt_avg/ sees a dozen entries: the API and command line, then one
    package per layer (vocabulary, maths, algorithms, runners, real-time, tooling)."""
    entries = sorted(p.name for p in (ROOT / "rt_avg").iterdir()
                     if p.name != "__pycache__" and (p.suffix == ".py" or p.is_dir()))
    assert len(entries) <= 12, entries
    for package in (p for p in (ROOT / "rt_avg").iterdir() if p.is_dir()
                    and p.name != "__pycache__"):
        assert (package / "__init__.py").exists(), f"{package.name} is not a package"
