"""Reading plugin files from their syntax tree: what a listing shows, and what it refuses."""

from __future__ import annotations

import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from heron.strategy.info import Expression
from heron.strategy.plugin_scan import PluginError, module_file, scan_directory, scan_file

PLUGIN = '''
"""Module docstring: the rules in detail."""
from decimal import Decimal

import heron
from heron import Param
from heron import Strategy as Base

SIDE_EFFECT = open("never-written.txt", "w")  # a listing must not run this


class Breakout(Base):
    """Buy a breakout.

    More words."""

    name = "breakout"
    period: int = Param(20, ge=2, le=500, doc="bars in the channel")
    width = Param(1.5, gt=0.0, lt=10.0)
    mode = Param("long-only", choices=("long-only", "long-short"))
    fraction = Param(Decimal("0.5"), gt=Decimal(0), le=Decimal(1))
    start = Param(compute_start(), ge=-1)


class Faster(Breakout):
    name = "faster"
    period = Param(5, ge=1)


class Plain(heron.Strategy):
    pass


class _Helper(Base):
    """Private: not a strategy of its own."""


class NotAStrategy(dict):
    value = Param(1)
'''


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_scan_file_reads_names_docs_and_params_from_the_source(tmp_path: Path) -> None:
    infos = {i.name: i for i in scan_file(write(tmp_path, "breakout.py", PLUGIN))}
    assert list(infos) == ["breakout", "faster", "plain"]
    breakout = infos["breakout"]
    assert (breakout.source, breakout.class_name) == ("path", "Breakout")
    assert breakout.location == str(tmp_path / "breakout.py")
    assert breakout.summary == "Buy a breakout."
    assert "Module docstring" in breakout.doc
    params = {p.name: p for p in breakout.params}
    assert list(params) == ["period", "width", "mode", "fraction", "start"]
    assert (params["period"].type, params["period"].default) == ("int", 20)
    assert (params["period"].ge, params["period"].le) == (2, 500)
    assert params["period"].doc == "bars in the channel"
    assert params["width"].range_text() == "> 0.0, < 10.0"
    assert params["mode"].choices == ("long-only", "long-short")
    assert params["fraction"].default == Decimal("0.5") and params["fraction"].type == "Decimal"
    assert params["start"].default == Expression("compute_start()")
    assert params["start"].type == "?"
    assert not (tmp_path / "never-written.txt").exists()


def test_scan_file_subclass_in_the_file_inherits_and_overrides_params(tmp_path: Path) -> None:
    faster = next(i for i in scan_file(write(tmp_path, "b.py", PLUGIN)) if i.name == "faster")
    params = {p.name: p for p in faster.params}
    assert params["period"].default == 5 and params["period"].le is None
    assert "width" in params  # inherited from Breakout
    assert faster.summary == "Buy a breakout."


def test_scan_file_strategy_meta_overrides_the_class(tmp_path: Path) -> None:
    text = PLUGIN + '''
STRATEGY_META = {
    "name": "breakout_v2", "class": "Breakout", "doc": "Meta doc.",
    "params": {"period": {"type": "int", "default": 30, "ge": 10, "le": 90}},
}
'''
    infos = {i.name: i for i in scan_file(write(tmp_path, "m.py", text))}
    assert set(infos) == {"breakout_v2", "faster", "plain"}
    meta = infos["breakout_v2"]
    assert meta.class_name == "Breakout" and meta.doc == "Meta doc."
    assert [(p.name, p.default, p.ge, p.le) for p in meta.params] == [("period", 30, 10, 90)]


def test_scan_file_strategy_meta_alone_describes_a_class_it_cannot_see(tmp_path: Path) -> None:
    text = '''
from factory import build
STRATEGY_META = {"name": "built", "params": {"n": {"default": 3, "ge": 1}}}
Built = build("built")
'''
    (info,) = scan_file(write(tmp_path, "f.py", text))
    assert (info.name, info.class_name) == ("built", "")
    assert [(p.name, p.type, p.default) for p in info.params] == [("n", "int", 3)]


@pytest.mark.parametrize(("text", "needle"), [
    ('STRATEGY_META = {"nam": "x"}\n', "unknown keys nam"),
    ('STRATEGY_META = {"doc": "no name"}\n', "needs a 'name' string"),
    ('STRATEGY_META = dict(name="x")\n', "must be a dict literal"),
    ('STRATEGY_META = {"name": "x", "params": {"a": {"default": 1, "max": 2}}}\n',
     "['params'] must map"),
    (PLUGIN + 'STRATEGY_META = {"name": "x"}\n', "add 'class': 'ClassName'"),
])
def test_scan_file_malformed_strategy_meta_is_refused_with_the_fix(
        tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, "bad.py", text)
    with pytest.raises(PluginError) as caught:
        scan_file(path)
    assert str(path) in str(caught.value) and needle in str(caught.value)


def test_scan_file_syntax_error_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.py", "class X(Strategy):\n    name = 'x'\n  oops(\n")
    with pytest.raises(PluginError) as caught:
        scan_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: syntax error on line 3")
    assert "fix the file or move it out of the strategy path" in message


def test_scan_file_binary_and_vanished_and_unreadable_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "blob.py"
    binary.write_bytes(b"\xff\xfe\x00\x01 not text")
    gone = tmp_path / "gone.py"
    gone.symlink_to(tmp_path / "deleted-target.py")
    folder = tmp_path / "folder.py"
    folder.mkdir()
    for path, needle in ((binary, "not Python source"), (gone, "vanished"),
                         (folder, "cannot be read")):
        with pytest.raises(PluginError) as caught:
            scan_file(path)
        assert str(caught.value).startswith(str(path)) and needle in str(caught.value)


def test_scan_directory_lists_good_files_and_reports_bad_ones(tmp_path: Path) -> None:
    write(tmp_path, "good.py", PLUGIN)
    write(tmp_path, "broken.py", "def (:\n")
    write(tmp_path, "_private_helper.py", "def (:\n")  # helpers are not plugins
    write(tmp_path, "notes.txt", "not python")
    infos, problems = scan_directory(tmp_path)
    assert {i.name for i in infos} == {"breakout", "faster", "plain"}
    assert len(problems) == 1 and problems[0].startswith(str(tmp_path / "broken.py"))


def test_scan_directory_missing_folder_is_one_problem(tmp_path: Path) -> None:
    infos, problems = scan_directory(tmp_path / "nope")
    assert infos == [] and len(problems) == 1 and "not a folder" in problems[0]


def test_module_file_finds_a_source_without_importing_it(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "scanpkg_probe"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "mod.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert module_file("scanpkg_probe.sub.mod") == package / "sub" / "mod.py"
    assert module_file("scanpkg_probe.sub.missing") is None
    assert "scanpkg_probe" not in sys.modules
