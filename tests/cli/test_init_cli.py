"""``heron init DIR`` makes a project that runs as it is: its backtest config and its
pytest both pass, through real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "data" / "ADABTC-1m-2021-11-27.csv"


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HERON_STRATEGY_PATH",
                                                             "PYTEST_ADDOPTS")}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False, env=env)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("init")
    proc = run("-m", "heron", "init", "tmp/proj", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "heron backtest heron.toml" in proc.stdout
    return work / "tmp" / "proj"


def test_init_writes_config_strategy_test_and_readme(project: Path) -> None:
    files = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert files == [".gitignore", "README.md", "heron.toml", "pyproject.toml",
                     "strategies/channel_breakout.py", "tests/test_channel_breakout.py"]
    assert (project / "out").is_dir()
    config = tomllib.loads((project / "heron.toml").read_text())
    assert config["strategy"] == "channel_breakout"
    assert Path(config["data"]).is_file()  # the bundled bars, by absolute path
    assert "# proj: heron strategies" in (project / "README.md").read_text()


def test_init_project_backtest_config_runs_by_strategy_name(project: Path,
                                                           tmp_path: Path) -> None:
    # from another folder: the config's paths are relative to the config itself
    proc = run("-m", "heron", "backtest", project / "heron.toml", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((project / "out" / "result.json").read_text())
    assert doc["bars"] == 45031 and doc["trades"] > 10
    assert (project / "out" / "report.html").is_file()


def test_init_project_tests_pass(project: Path) -> None:
    proc = run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


def test_init_project_code_is_lint_clean(project: Path) -> None:
    pytest.importorskip("ruff")
    proc = run("-m", "ruff", "check", "--no-cache", "--select", "E,F,W,I,B,UP", ".",
               cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_init_refuses_a_non_empty_folder_naming_it(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    proc = run("-m", "heron", "init", "taken", cwd=tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: taken is not an empty folder")
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]


def test_init_with_data_points_the_config_at_that_file(tmp_path: Path) -> None:
    proc = run("-m", "heron", "init", "p", "--data", SMALL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = tomllib.loads((tmp_path / "p" / "heron.toml").read_text())
    assert config["data"] == str(SMALL)
    missing = run("-m", "heron", "init", "q", "--data", "nope.csv", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.csv: bar file not found" in missing.stderr
    assert not (tmp_path / "q").exists()
