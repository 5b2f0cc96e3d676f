"""``heron init DIR``: a new strategy project that runs as it is.

The project holds a backtest config (``heron.toml``), an example strategy in
``strategies/`` found through the config's ``strategy_path``, a pytest test of it, a
README and an ``out/`` folder for results. The files are copied from
``heron/cli/project_template/`` (``*.tmpl``); the config points at heron's bundled
one-minute BTC bars by absolute path, or at the bar file given with ``--data``.
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from heron.errors import InvalidConfiguration

BUNDLED_BARS = "btc-perp-20211231-20220201_1m.csv.gz"
#: template file name -> the name it gets in the project (default: without ``.tmpl``)
RENAMED = {"gitignore.tmpl": ".gitignore"}

out = Console()


def init_command(
    folder: Annotated[Path, typer.Argument(help="new (or empty) folder for the project")],
    data: Annotated[Path | None, typer.Option(
        help="bar file the config backtests (default: heron's bundled BTC bars)")] = None,
) -> None:
    """Create a strategy project: config, example strategy, its test, README."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidConfiguration(f"{folder} is not an empty folder; give heron init a new "
                                   "or empty folder")
    bars = _bar_file(data)
    written = write_project(folder, bars)
    out.print(f"created {escape(str(folder))}: " + ", ".join(escape(p) for p in written),
              highlight=False, soft_wrap=True)
    out.print(f"next: cd {escape(str(folder))} && heron backtest heron.toml && pytest",
              highlight=False, soft_wrap=True)


def write_project(folder: Path, bars: Path) -> list[str]:
    """Copy the template into ``folder`` with the bar file filled in; the paths written."""
    tokens = {"@DATA@": json.dumps(str(bars)),  # a TOML basic string: JSON's escapes fit
              "@NAME@": folder.resolve().name}
    root = resources.files("heron.cli").joinpath("project_template")
    written = []
    for relative, source in _template_files(root, ""):
        text = source.read_text(encoding="utf-8")
        for token, value in tokens.items():
            text = text.replace(token, value)
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(relative)
    (folder / "out").mkdir(exist_ok=True)
    return sorted(written)


def _template_files(node: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    """``(path in the project, template)`` for every ``*.tmpl`` under ``node``."""
    found: list[tuple[str, Traversable]] = []
    for child in node.iterdir():
        if child.is_dir():
            found += _template_files(child, f"{prefix}{child.name}/")
        elif child.name.endswith(".tmpl"):
            name = RENAMED.get(child.name, child.name.removesuffix(".tmpl"))
            found.append((prefix + name, child))
    return found


def _bar_file(data: Path | None) -> Path:
    """The bar file the config will name, absolute so the project can live anywhere."""
    if data is not None:
        if not data.is_file():
            raise InvalidConfiguration(f"{data}: bar file not found; check the --data path")
        return data.resolve()
    import heron

    bundled = Path(heron.__file__).resolve().parents[2] / "data" / BUNDLED_BARS
    if not bundled.is_file():
        raise InvalidConfiguration("heron's bundled bars are not installed here (only a "
                                   "source checkout has data/); pass --data PATH to a bar file")
    return bundled
