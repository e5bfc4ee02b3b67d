"""The RAM actions the deployed code calls, computed from its source (never listed by hand).

The functions' entry points (``functions/*/index.py``) and the runtime library are parsed with
``ast``. A call graph is built by name (a function that reads ``x.claim`` or ``claim``, to call it or to
pass it on, reaches every ``def claim``: an over-approximation, the safe side for "what may the
code call"), and walked from each ``handler``. In every reachable function, a call into an
official SDK is an API action:

* ECS: a string literal naming an ``alibabacloud_ecs20140526`` client operation (the library
  calls the SDK as ``getattr(sdk, f"{operation}_with_options")``) -> ``ecs:<Operation>``;
* Tablestore: ``x.<method>(...)`` where ``<method>`` is an ``OTSClient`` method, in a module that
  imports ``tablestore`` -> ``ots:<Method>``;
* OSS: ``x.<method>(...)`` where ``<method>`` is an ``oss2.Bucket`` method, in a module that
  imports ``oss2`` -> ``oss:<Method>``;
* MNS: ``x.<method>(...)`` where ``<method>`` is a message operation of ``mns.queue.Queue`` (one
  its ``MNSClient`` sends as such), in a module that imports ``mns`` -> ``mns:<Method>``.

RAM action names are the API names in CamelCase (ECS API reference, e.g.
https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-createsnapshot ;
Tablestore RAM actions https://www.alibabacloud.com/help/en/tablestore/user-guide/custom-ram-policies ;
OSS actions https://www.alibabacloud.com/help/en/oss/user-guide/ram-policy-overview; MNS actions are
the API names, e.g. ``mns:BatchReceiveMessage`` https://help.aliyun.com/en/mns/developer-reference/batchreceivemessage).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "layers/snapstack/python/snapstack"


def camel(snake: str) -> str:
    """``create_snapshot`` -> ``CreateSnapshot``."""
    return "".join(part.capitalize() for part in snake.split("_"))


def _public_methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, callable) if not name.startswith("_")}


def _sdk_vocabulary() -> tuple[set[str], set[str], set[str], set[str]]:
    from alibabacloud_ecs20140526.client import Client as EcsSdk

    ecs = {n[: -len("_with_options")] for n in dir(EcsSdk) if n.endswith("_with_options")}
    import oss2
    import tablestore
    from mns.mns_client import MNSClient
    from mns.queue import Queue

    mns = _public_methods(MNSClient) & _public_methods(Queue)
    return ecs, _public_methods(tablestore.OTSClient), _public_methods(oss2.Bucket), mns


@dataclass
class _Def:
    module: Path
    node: ast.FunctionDef | ast.AsyncFunctionDef
    imports: frozenset[str]
    calls: set[str] = field(default_factory=set)


def _imports(tree: ast.Module) -> frozenset[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return frozenset(names)


def _defs(paths: list[Path]) -> Iterator[_Def]:
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        imports = _imports(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found = _Def(path, node, imports)
                called = {id(c.func) for c in ast.walk(node) if isinstance(c, ast.Call)}
                local = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)} | {
                    n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
                }
                for ref in ast.walk(node):
                    # A bare name (not one the function binds itself) is a call or a callback
                    # passed on; ``x.attr`` reaches a method when called, and a property (or a
                    # bound method) when only read.
                    if isinstance(ref, ast.Name) and ref.id not in local:
                        found.calls.add(ref.id)
                    elif isinstance(ref, ast.Attribute):
                        found.calls.add(ref.attr if id(ref) in called else f".{ref.attr}")
                yield found


def _is_property(decorator: ast.expr) -> bool:
    name = decorator.id if isinstance(decorator, ast.Name) else getattr(decorator, "attr", "")
    return name in {"property", "cached_property"}


def _actions_in(found: _Def, ecs: set[str], ots: set[str], oss: set[str], mns: set[str]) -> set[str]:
    actions: set[str] = set()
    for node in ast.walk(found.node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ecs:
            actions.add(f"ecs:{camel(node.value)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if "tablestore" in found.imports and node.func.attr in ots:
                actions.add(f"ots:{camel(node.func.attr)}")
            if "oss2" in found.imports and node.func.attr in oss:
                actions.add(f"oss:{camel(node.func.attr)}")
            if "mns" in found.imports and node.func.attr in mns:
                actions.add(f"mns:{camel(node.func.attr)}")
    return actions


def code_actions(functions: list[Path] | None = None) -> dict[str, set[str]]:
    """``{function folder name: RAM actions reachable from its handler}``."""
    folders = functions or sorted(p.parent for p in (ROOT / "functions").glob("*/index.py"))
    library = sorted(LIBRARY.rglob("*.py"))
    ecs, ots, oss, mns = _sdk_vocabulary()
    result: dict[str, set[str]] = {}
    for folder in folders:
        defs = list(_defs([folder / "index.py", *library]))
        by_name: dict[str, list[_Def]] = {}
        for found in defs:
            by_name.setdefault(found.node.name, []).append(found)
            if any(_is_property(d) for d in found.node.decorator_list):
                by_name.setdefault(f".{found.node.name}", []).append(found)
        todo = [d for d in defs if d.module == folder / "index.py" and d.node.name == "handler"]
        seen: set[int] = set()
        actions: set[str] = set()
        while todo:
            found = todo.pop()
            if id(found) in seen:
                continue
            seen.add(id(found))
            actions |= _actions_in(found, ecs, ots, oss, mns)
            for name in found.calls:
                todo.extend(by_name.get(name, []))
        result[folder.name] = actions
    return result
