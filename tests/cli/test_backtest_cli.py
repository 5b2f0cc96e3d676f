"""``heron backtest`` end to end, through the real command in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from heron.node.replay import replay_journal

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
SMALL = ROOT / "data" / "ADABTC-1m-2021-11-27.csv"


def heron(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heron", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def run_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli")
    proc = heron("backtest", "--strategy", "sma_cross", "--data", DATA, "--symbol", "BTC-PERP",
                 "--param", "fast=10", "--param", "slow=50", "--json", out / "r.json",
                 "--report", out / "r.html", "--journal", out / "r.sqlite")
    assert proc.returncode == 0, proc.stderr
    assert "final equity" in proc.stdout
    return out


def test_backtest_json_has_documented_fields(run_outputs: Path) -> None:
    doc = json.loads((run_outputs / "r.json").read_text())
    for key in ("bars", "orders", "fills", "trades", "final_equity", "return_pct", "metrics",
                "fills_list", "journal_sha256"):
        assert key in doc
    for key in ("sharpe", "sortino", "max_drawdown_pct", "win_rate", "profit_factor",
                "exposure_pct"):
        assert key in doc["metrics"]
    assert doc["bars"] == 45031
    assert doc["fills"] == len(doc["fills_list"]) > 0
    first = doc["fills_list"][0]
    assert set(first) >= {"ts", "side", "qty", "price", "fee"}
    assert Decimal(first["price"]) > 0 and Decimal(first["fee"]) > 0
    equity = Decimal(doc["final_equity"])  # exact decimal string, not a float
    assert doc["return_pct"] == pytest.approx(float((equity / 100000 - 1) * 100))


def test_backtest_journal_replays_to_json_final_equity(run_outputs: Path) -> None:
    doc = json.loads((run_outputs / "r.json").read_text())
    replayed = replay_journal(run_outputs / "r.sqlite")
    assert replayed.sha256 == doc["journal_sha256"]
    pf = replayed.portfolio
    # flat at the end or not, the balance + positions are the journaled truth
    if all(p.qty == 0 for p in pf.positions.values()):
        assert pf.money(pf.balance) == Decimal(doc["final_equity"])
    assert len(replayed.orders.orders) == doc["orders"]


def test_backtest_report_is_one_self_contained_html(run_outputs: Path) -> None:
    html = (run_outputs / "r.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "<script src=\"http" not in html
    assert "Equity" in html and "Drawdown" in html


def test_backtest_from_toml_config_with_flag_override(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(
        f'strategy = "sma_cross"\ndata = "{SMALL}"\ncash = "1000"\njson = "out.json"\n'
        "[params]\nfast = 2\nslow = 3\n")
    proc = heron("backtest", tmp_path / "run.toml", "--cash", "2000", "--quiet")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "out.json").read_text())  # relative to the config file
    assert doc["bars"] == 10
    assert doc["starting_cash"] == "2000"


def _bad_csv(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


HEADER = "timestamp,open,high,low,close,volume\n"
ROW = "2022-01-01T00:0{m}:00Z,{p},{p},{p},{p},1\n"


def _rows(*minutes_prices: tuple[int, str]) -> str:
    return HEADER + "".join(ROW.format(m=m, p=p) for m, p in minutes_prices)


BAD_INPUTS = {
    "missing": (None, "not found"),
    "garbage": ("\x00\x01binary junk", ""),
    "columns": ("when,price\n2022-01-01,1\n", "column"),
    "unsorted": (_rows((1, "1"), (0, "1"), (2, "1")), "sorted"),
    "duplicate": (_rows((0, "1"), (0, "1"), (2, "1")), "duplicate"),
    "nan": (_rows((0, "1"), (1, "nan"), (2, "1")), ""),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_backtest_bad_data_exits_2_with_one_line_and_writes_nothing(tmp_path: Path,
                                                                    case: str) -> None:
    body, needle = BAD_INPUTS[case]
    path = tmp_path / "missing.csv" if body is None else _bad_csv(tmp_path, "b.csv", body)
    proc = heron("backtest", "--data", path, "--json", tmp_path / "o.json",
                 "--report", tmp_path / "o.html", "--journal", tmp_path / "o.sqlite")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert needle.lower() in lines[0].lower()
    assert not any(p.name.startswith("o.") or p.name.startswith(".o.")
                   for p in tmp_path.iterdir())


@pytest.mark.parametrize(("args", "needle"), [
    (["--strategy", "nope"], "unknown strategy"),
    (["--param", "fsat=3"], "did you mean 'fast'"),
    (["--param", "fast=50", "--param", "slow=10"], "must be below slow"),
    (["--param", "fast=abc"], "not a valid int"),
    (["--param", "fast"], "key=value"),
    (["--fill", "open"], "next-open or close"),
    (["--cash", "-5"], "must be positive"),
    (["--json", "/nonexistent-dir/x.json"], "does not exist"),
])
def test_backtest_bad_settings_exit_2_with_the_fix(args: list[str], needle: str) -> None:
    proc = heron("backtest", "--data", SMALL, *args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert needle in proc.stderr


def test_backtest_unknown_config_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(f'data = "{SMALL}"\nfee_bsp = "10"\n')
    proc = heron("backtest", tmp_path / "run.toml")
    assert proc.returncode == 2
    assert "fee_bsp" in proc.stderr


def test_version_prints_number() -> None:
    proc = heron("version", "--short")
    assert proc.returncode == 0
    assert proc.stdout.strip().count(".") == 2


def test_journal_verify_replays_a_good_journal(run_outputs: Path) -> None:
    proc = heron("journal", "verify", run_outputs / "r.sqlite")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((run_outputs / "r.json").read_text())
    assert doc["journal_sha256"] in proc.stdout
    assert "ok: the journal is whole" in proc.stdout


def test_journal_verify_names_a_damaged_journal(tmp_path: Path, run_outputs: Path) -> None:
    damaged = tmp_path / "cut.sqlite"
    data = (run_outputs / "r.sqlite").read_bytes()
    damaged.write_bytes(data[: len(data) // 3])
    proc = heron("journal", "verify", damaged)
    assert proc.returncode == 2
    assert str(damaged) in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_option_is_a_usage_error() -> None:
    proc = heron("backtest", "--bogus")
    assert proc.returncode == 2
    assert "No such option" in proc.stderr


def test_example_config_runs(tmp_path: Path) -> None:
    (ROOT / "out").mkdir(exist_ok=True)
    proc = heron("backtest", ROOT / "examples" / "sma_cross.toml", "--quiet",
                 "--json", tmp_path / "ex.json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "ex.json").read_text())
    assert doc["trades"] > 0
    assert Decimal(doc["fees"]) > 0


def test_funding_flag_reads_a_funding_file(tmp_path: Path) -> None:
    shared = ROOT.parent / "shared" / "data" / "bars"
    bars = shared / "freqtrade_XRP_USDT_perp_5m_futures_2021-11.feather"
    funding = shared / "freqtrade_XRP_USDT_perp_8h_funding_rate_2021-11.feather"
    if not bars.exists() or not funding.exists():
        pytest.skip("shared freqtrade futures data not present")
    proc = heron("backtest", "--data", bars, "--kind", "perp", "--funding", funding,
                 "--param", "mode=long-short", "--lot-size", "0.1", "--quiet",
                 "--json", tmp_path / "f.json")
    assert proc.returncode == 0, proc.stderr
    assert Decimal(json.loads((tmp_path / "f.json").read_text())["funding"]) != 0
