"""``[data_files]`` in a backtest config: several instruments from one TOML file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
ADA = ROOT / "data" / "ADABTC-1m-2021-11-27.csv"


def heron(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heron", *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False)


def write_config(folder: Path, body: str) -> Path:
    path = folder / "run.toml"
    path.write_text(body)
    return path


def test_data_files_table_runs_every_instrument(tmp_path: Path) -> None:
    (tmp_path / "bars").mkdir()
    (tmp_path / "bars" / "ada.csv").write_bytes(ADA.read_bytes())  # a relative path
    config = write_config(tmp_path, f"""
strategy = "sma_cross"
json = "r.json"
[data_files]
BTC-PERP = "{BTC}"
ADABTC = "bars/ada.csv"
[params]
fast = 2
slow = 4
""")
    proc = heron("backtest", config, "--quiet")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["bars"] == 45031 + 10  # both files, the relative one found beside the config
    assert doc["fills"] > 0


def test_data_flag_replaces_the_data_files_table(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"""
strategy = "sma_cross"
[data_files]
BTC-PERP = "{BTC}"
""")
    proc = heron("backtest", config, "--data", ADA, "--quiet", "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["bars"] == 10


def test_data_and_data_files_together_are_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"""
strategy = "sma_cross"
data = "{ADA}"
[data_files]
BTC-PERP = "{BTC}"
""")
    proc = heron("backtest", config, "--quiet")
    assert proc.returncode == 2
    assert "both data and [data_files]" in proc.stderr and "Traceback" not in proc.stderr
