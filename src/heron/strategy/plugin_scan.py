"""Reading strategy plugin files without running them (``ast``).

A folder on the strategy path (``--strategy-path DIR`` or ``HERON_STRATEGY_PATH``) holds
code heron has not vetted. Listing it must not execute it, so each ``*.py`` file is
parsed with :mod:`ast` and only literal values are read; the file is imported only
when one of its strategies is chosen for a run. What a listing takes from a file:

* classes that derive from ``Strategy`` (by that name, ``heron.Strategy``, an alias
  from ``from heron... import Strategy as Base``, or another such class in the same
  file): the class attribute ``name = "..."`` (else the class name in lower case,
  as :class:`~heron.strategy.base.Strategy` does), the docstring, and every
  ``x = Param(default, ge=..., le=..., gt=..., lt=..., choices=..., doc=...)``
  (``Decimal("0.5")`` counts as a literal; any other expression is shown as code);
* a module-level ``STRATEGY_META = {...}`` dict literal with the keys ``name``,
  ``class``, ``doc`` and ``params`` (``{"fast": {"type": "int", "default": 10,
  "ge": 2}}``), which overrides what the class says; it is the way to describe a
  strategy whose class the reader cannot follow (built by a factory, derived from a
  base in another module).

A file that cannot be listed (unreadable, vanished, a syntax error, a malformed
``STRATEGY_META``) raises :class:`PluginError` with a line naming the file and the
fix; :func:`scan_directory` collects those lines and carries on with the other files.
"""

from __future__ import annotations

import ast
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

from heron.strategy.info import Expression, ParamInfo, Source, StrategyInfo, full_doc

META_NAME = "STRATEGY_META"
META_KEYS = frozenset({"name", "class", "doc", "params"})
PARAM_KEYS = frozenset({"type", "default", "ge", "le", "gt", "lt", "choices", "doc"})
_MOVE_IT = "fix the file or move it out of the strategy path"


class PluginError(Exception):
    """A plugin file that cannot be listed; the message names the file and the fix."""


def scan_directory(folder: Path) -> tuple[list[StrategyInfo], list[str]]:
    """Strategies described by the ``*.py`` files of ``folder``, and a line per bad file.

    Files whose name starts with ``_`` or ``.`` are helpers, not plugins, and are skipped.
    """
    if not folder.is_dir():
        return [], [f"{folder}: strategy path is not a folder; create it or fix "
                    "--strategy-path / HERON_STRATEGY_PATH"]
    infos: list[StrategyInfo] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith(("_", ".")):
            continue
        try:
            infos.extend(scan_file(path))
        except PluginError as exc:
            problems.append(str(exc))
    return infos, problems


def scan_file(path: Path, source: Source = "path", location: str = "") -> list[StrategyInfo]:
    """Strategies described by one file, read from its syntax tree only."""
    tree = _parse(path)
    where = location or str(path)
    module_doc = ast.get_docstring(tree) or ""
    classes = _strategy_classes(tree, source, where, module_doc)
    meta = _read_meta(path, tree)
    if meta is None:
        return classes
    return _apply_meta(path, meta, classes, source, where)


def module_file(module: str) -> Path | None:
    """The ``.py`` file of ``module`` as found on ``sys.path``, without importing anything.

    None when it is not a plain source file on the path (an extension module, a zip,
    a module served by an import hook): the caller then has to import it.
    """
    search: list[str] | None = None
    spec = None
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):
        try:
            spec = PathFinder.find_spec(".".join(parts[:depth]), search)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        search = list(spec.submodule_search_locations or [])
    origin = spec.origin if spec is not None else None
    return Path(origin) if origin and origin.endswith(".py") else None


def _parse(path: Path) -> ast.Module:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise PluginError(f"{path}: the file vanished (deleted, or a broken link); restore "
                          "it or remove it from the strategy path") from None
    except OSError as exc:
        raise PluginError(f"{path}: cannot be read ({exc.strerror or exc}); fix its "
                          "permissions or move it out of the strategy path") from None
    try:
        return ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        if exc.lineno is None:  # NUL bytes, an undecodable file: not source at all
            raise PluginError(f"{path}: not Python source ({exc.msg}); {_MOVE_IT}") from None
        raise PluginError(f"{path}: syntax error on line {exc.lineno} ({exc.msg}); "
                          f"{_MOVE_IT}") from None
    except ValueError as exc:  # NUL bytes on the Pythons that report them so
        raise PluginError(f"{path}: not Python source ({exc}); {_MOVE_IT}") from None


def literal(node: ast.expr | None) -> Any:
    """The value of a literal expression (``Decimal("x")`` included); else its code."""
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(node, ast.Tuple | ast.List):
        items = [literal(e) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    if isinstance(node, ast.Dict):
        return {literal(k) if k is not None else Expression("**"): literal(v)
                for k, v in zip(node.keys, node.values, strict=True)}
    decimal = _decimal_call(node)
    return decimal if decimal is not None else Expression(ast.unparse(node))


def _decimal_call(node: ast.expr) -> Decimal | None:
    """``Decimal("0.5")`` / ``Decimal(2)`` as its value; None for anything else."""
    if not (isinstance(node, ast.Call) and _name_of(node.func) == "Decimal"
            and len(node.args) == 1 and not node.keywords):
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str | int) \
            and not isinstance(arg.value, bool):
        try:
            return Decimal(arg.value)
        except InvalidOperation:
            return None
    return None


def _name_of(expr: ast.expr) -> str:
    """``Strategy`` for ``Strategy``, ``heron.Strategy`` or ``base.Strategy``."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return ""


def _assignment(stmt: ast.stmt) -> tuple[str, ast.expr | None, ast.expr | None]:
    """``(target, value, annotation)`` of ``x = v`` or ``x: T = v``; ``("", ...)`` else."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
            and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value, None
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id, stmt.value, stmt.annotation
    return "", None, None


def _strategy_aliases(tree: ast.Module) -> set[str]:
    """Names the base class goes by in this file: ``Strategy`` and its import aliases."""
    names = {"Strategy"}
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").split(".")[0] == "heron":
            names.update(a.asname for a in stmt.names if a.name == "Strategy" and a.asname)
    return names


def _strategy_classes(tree: ast.Module, source: Source, where: str,
                      module_doc: str) -> list[StrategyInfo]:
    """One info per public class deriving from ``Strategy``, in definition order."""
    bases = _strategy_aliases(tree)
    found: dict[str, StrategyInfo] = {}
    for stmt in tree.body:
        if not isinstance(stmt, ast.ClassDef):
            continue
        parents = [found[n] for b in stmt.bases if (n := _name_of(b)) in found]
        if not parents and not any(_name_of(b) in bases for b in stmt.bases):
            continue
        found[stmt.name] = _read_class(stmt, parents[0] if parents else None, source, where,
                                       module_doc)
    return [info for cls, info in found.items() if not cls.startswith("_")]


def _read_class(node: ast.ClassDef, parent: StrategyInfo | None, source: Source, where: str,
                module_doc: str) -> StrategyInfo:
    """A class's name, docstring and params; a parent in the same file lends its own."""
    name = parent.name if parent is not None else ""
    params = {p.name: p for p in parent.params} if parent is not None else {}
    for stmt in node.body:
        target, value, annotation = _assignment(stmt)
        if target == "name" and isinstance(value, ast.Constant) and isinstance(value.value, str):
            name = value.value
        elif target and isinstance(value, ast.Call) and _name_of(value.func) == "Param":
            params[target] = _param_info(target, value, annotation)
    own = ast.get_docstring(node)
    doc = full_doc(own, module_doc) if own or parent is None else parent.doc
    return StrategyInfo(name=name or node.name.lower(), source=source, location=where,
                        doc=doc, params=tuple(params.values()), class_name=node.name)


def _param_info(name: str, call: ast.Call, annotation: ast.expr | None) -> ParamInfo:
    default = literal(call.args[0]) if call.args else Expression("?")
    given = {k.arg: literal(k.value) for k in call.keywords if k.arg}
    choices = given.get("choices")
    doc = given.get("doc", "")
    return ParamInfo(name=name, type=_type_name(default, annotation), default=default,
                     ge=given.get("ge"), le=given.get("le"), gt=given.get("gt"),
                     lt=given.get("lt"),
                     choices=tuple(choices) if isinstance(choices, list | tuple) else None,
                     doc=doc if isinstance(doc, str) else str(doc))


def _type_name(default: Any, annotation: ast.expr | None) -> str:
    """What ``Param`` would convert to: the default's type (as at run time)."""
    if isinstance(default, Expression) or default is None:
        return ast.unparse(annotation) if annotation is not None else "?"
    return type(default).__name__


def _read_meta(path: Path, tree: ast.Module) -> dict[str, Any] | None:
    """The file's ``STRATEGY_META`` literal, checked; None when it has none."""
    for stmt in tree.body:
        target, value, _ = _assignment(stmt)
        if target != META_NAME:
            continue
        meta = literal(value)
        if not isinstance(meta, dict):
            raise PluginError(f"{path}: {META_NAME} must be a dict literal; {_MOVE_IT}")
        _check_meta(path, meta)
        return meta
    return None


def _check_meta(path: Path, meta: dict[Any, Any]) -> None:
    unknown = sorted(str(k) for k in meta if k not in META_KEYS)
    if unknown:
        raise PluginError(f"{path}: {META_NAME} has unknown keys {', '.join(unknown)}; "
                          f"use {', '.join(sorted(META_KEYS))}")
    if not isinstance(meta.get("name"), str) or not meta["name"] \
            or isinstance(meta["name"], Expression):
        raise PluginError(f"{path}: {META_NAME} needs a 'name' string (what users type)")
    params = meta.get("params", {})
    if not isinstance(params, dict) or not all(
            isinstance(spec, dict) and set(spec) <= PARAM_KEYS for spec in params.values()):
        raise PluginError(f"{path}: {META_NAME}['params'] must map each parameter name to a "
                          f"dict with keys among {', '.join(sorted(PARAM_KEYS))}")


def _apply_meta(path: Path, meta: dict[str, Any], classes: list[StrategyInfo],
                source: Source, where: str) -> list[StrategyInfo]:
    """``STRATEGY_META`` laid over the class it describes (named, or the only one)."""
    wanted = meta.get("class")
    if wanted is not None:
        target = next((c for c in classes if c.class_name == wanted), None)
    elif len(classes) <= 1:
        target = classes[0] if classes else None
    else:
        names = ", ".join(c.class_name for c in classes)
        raise PluginError(f"{path}: {META_NAME} could describe any of {names}; add "
                          "'class': 'ClassName' to it")
    base = target or StrategyInfo(name=meta["name"], source=source, location=where,
                                  class_name=str(wanted or ""))
    params = base.params
    if "params" in meta:
        params = tuple(_meta_param(str(n), spec) for n, spec in meta["params"].items())
    info = replace(base, name=meta["name"], doc=str(meta.get("doc", base.doc)), params=params)
    return [info, *(c for c in classes if c is not target)]


def _meta_param(name: str, spec: dict[str, Any]) -> ParamInfo:
    default = spec.get("default")
    choices = spec.get("choices")
    return ParamInfo(name=name, type=str(spec.get("type") or _type_name(default, None)),
                     default=default, ge=spec.get("ge"), le=spec.get("le"), gt=spec.get("gt"),
                     lt=spec.get("lt"),
                     choices=tuple(choices) if isinstance(choices, list | tuple) else None,
                     doc=str(spec.get("doc", "")))
