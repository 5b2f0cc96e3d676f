"""The README's Python examples run as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_readme_python_example_runs(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        namespace: dict[str, object] = {"__name__": "readme"}
        exec(compile(_python_blocks()[index], f"README block {index}", "exec"), namespace)
    finally:
        os.chdir(cwd)
    import heron

    result = namespace.get("result")
    assert isinstance(result, heron.BacktestResult)  # every example ends with a backtest
    assert result.bars == 45031
