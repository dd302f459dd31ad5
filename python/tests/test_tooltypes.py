"""Tools' type hints read as type trees (`npx snakepit types`), on every supported Python."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Dict, List, Optional, Union

import pytest

from conftest import ADAPTERS, PYTHON_DIR
from snakepit_bridge.tooltypes import describe_adapter, type_tree

N, I, S, B, NULL, U = ({"kind": k} for k in ("number", "integer", "string", "boolean", "null", "unknown"))
POINT = {"kind": "object", "fields": [{"name": "x", "type": N, "optional": False}, {"name": "y", "type": N, "optional": False}]}


def lit(value):
    return {"kind": "literal", "value": value}


def tools_of(path: str) -> dict:
    return {t["name"]: t for t in describe_adapter(path)["tools"]}


def params(tool: dict) -> dict:
    return {p["name"]: (p["type"], p["optional"]) for p in tool["params"]}


def test_scalars_defaults_and_descriptions():
    tools = tools_of("typed_adapters.Typed")
    add = tools["add"]
    assert (add["description"], add["streaming"], params(add), add["result"]) == ("Add two integers", False, {"a": (I, False), "b": (I, False)}, I)
    assert params(tools["blob"]) == {"data": ({"kind": "bytes"}, False), "encoding": (S, True)}
    assert tools["blob"]["result"] == {"kind": "bytes"}
    assert tools["nothing"]["result"] == NULL
    assert tools["user"]["result"] == {"kind": "tuple", "items": [I, B]}  # a NewType is its supertype
    assert tools["scale"]["description"] == "Scale points away from the origin."  # the docstring's first line


def test_typeddicts_lists_literals_and_unions():
    tools = tools_of("typed_adapters.Typed")
    assert params(tools["scale"]) == {"points": ({"kind": "array", "of": POINT}, False), "factor": (N, True)}
    shape, note = params(tools["describe"])["shape"][0], params(tools["describe"])["note"]
    assert shape == {"kind": "object", "fields": [
        {"name": "kind", "type": {"kind": "union", "of": [lit("circle"), lit("square")]}, "optional": False},
        {"name": "centre", "type": POINT, "optional": False},
        {"name": "options", "type": {"kind": "object", "fields": [  # total=False: every key optional
            {"name": "label", "type": S, "optional": True},
            {"name": "tags", "type": {"kind": "array", "of": S}, "optional": True}]}, "optional": False}]}
    assert note == ({"kind": "union", "of": [S, NULL]}, True)
    assert tools["describe"]["result"] == {"kind": "record", "of": {"kind": "union", "of": [I, S, NULL]}}
    assert params(tools["pick"])["mode"][0] == {"kind": "union", "of": [lit("fast"), lit("exact"), lit(3), lit(True), NULL]}
    assert tools["pick"]["result"] == lit("ok")


def test_generators_stream_what_they_yield_and_ctx_is_not_an_argument():
    tools = tools_of("typed_adapters.Typed")
    assert (tools["count"]["streaming"], params(tools["count"]), tools["count"]["result"]) == (True, {"n": (I, False)}, I)
    assert (tools["words"]["streaming"], tools["words"]["result"]) == (True, {"kind": "tuple", "items": [I, S]})


def test_missing_and_loose_hints_are_unknown():
    loose = tools_of("typed_adapters.Typed")["loose"]
    assert params(loose) == {"anything": (U, False), "values": ({"kind": "array", "of": U}, False),
                             "mapping": ({"kind": "record", "of": U}, False), "pair": ({"kind": "array", "of": U}, False)}
    assert (loose["rest"], loose["result"]) == (U, U)  # **more takes any other key; Any says nothing


def test_static_and_class_methods_and_tool_names():
    tools = tools_of("typed_adapters.Typed")
    assert "not_a_tool" not in tools
    assert (params(tools["static_echo"]), tools["static_echo"]["result"]) == ({"text": (S, False)}, S)
    assert (params(tools["class-name"]), tools["class-name"]["result"]) == ({}, S)  # @tool(name=...) names it


def test_the_adapter_is_not_created_and_overrides_win():
    tools = tools_of("typed_adapters.Unmade")  # its __init__ raises
    assert (params(tools["add"]), tools["add"]["result"]) == ({"a": (N, False), "b": (N, False)}, N)
    assert "count" in tools


def test_modern_syntax_where_python_evaluates_it_and_a_warning_where_it_cannot():
    described = describe_adapter("typed_adapters.Modern")
    tools = {t["name"]: t for t in described["tools"]}
    assert (params(tools["first"]), tools["first"]["result"]) == ({"values": ({"kind": "array", "of": I}, False)}, {"kind": "union", "of": [I, NULL]})
    total = tools["total"]
    if sys.version_info >= (3, 10):  # list[int] is 3.9+, str | None 3.10+
        assert described["warnings"] == []
        assert params(total) == {"values": ({"kind": "array", "of": I}, False), "label": ({"kind": "union", "of": [S, NULL]}, True)}
        assert total["result"] == {"kind": "record", "of": I}
    else:
        assert params(total)["label"] == (U, True)
        assert any("Modern.total: the hint of label (str | None) cannot be evaluated" in w for w in described["warnings"])
        if sys.version_info < (3, 9):
            assert params(total)["values"] == (U, False) and total["result"] == U
            assert any("Modern.total: the return hint (dict[str, int])" in w for w in described["warnings"])


def test_type_tree_of_single_hints():
    assert type_tree(Optional[List[Dict[str, float]]]) == {"kind": "union", "of": [{"kind": "array", "of": {"kind": "record", "of": N}}, NULL]}
    assert type_tree(Union[int, Union[str, int]]) == {"kind": "union", "of": [I, S]}
    assert type_tree(Union[int, object]) == U  # a union with something unknown says nothing more
    assert type_tree(bool) == B and type_tree(float) == N and type_tree(bytearray) == {"kind": "bytes"}


def test_numpy_arrays_and_scalars():
    tools = tools_of("typed_numpy_adapters.Arrays")
    f32 = {"kind": "ndarray", "dtype": "float32"}
    assert (params(tools["normalise"]), tools["normalise"]["result"]) == ({"x": (f32, False)}, f32)
    anything = tools["anything"]
    assert params(anything) == {"x": ({"kind": "ndarray", "dtype": None}, False),
                                "half": ({"kind": "union", "of": [f32, NULL]}, True)}  # float16 arrives as float32
    assert anything["result"] == {"kind": "ndarray", "dtype": None}  # np.floating: any float dtype
    assert tools["flags"]["result"] == {"kind": "ndarray", "dtype": "bool"}
    assert tools["mean"]["result"] == N  # a NumPy scalar arrives as its Python value
    assert (tools["rows"]["streaming"], tools["rows"]["result"]) == (True, {"kind": "ndarray", "dtype": "uint8"})


def run_module(*args: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": f"{PYTHON_DIR}:{ADAPTERS}", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "snakepit_bridge.tooltypes", *args], capture_output=True, text=True, env=env, timeout=60)


def test_the_module_prints_one_json_line_and_fails_with_a_message():
    run = run_module("typed_adapters.Typed")
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["adapter"] == "typed_adapters.Typed" and "add" in {t["name"] for t in answer["tools"]} and len(run.stdout.splitlines()) == 1
    missing = run_module("typed_adapters.NoSuchClass")
    assert missing.returncode == 1
    assert "LookupError: module 'typed_adapters' has no class named 'NoSuchClass'" in missing.stderr


def test_self_referring_typeddicts_are_unknown_where_they_recur():
    tools = tools_of("hostile_types.Hostile")
    tree = {"kind": "object", "fields": [{"name": "label", "type": S, "optional": False},
                                         {"name": "children", "type": {"kind": "array", "of": U}, "optional": False}]}
    assert (params(tools["walk"]), tools["walk"]["result"]) == ({"tree": (tree, False)}, {"kind": "union", "of": [tree, NULL]})
    pong = {"kind": "object", "fields": [{"name": "ping", "type": U, "optional": False}]}  # Ping again, within Ping
    ping = {"kind": "object", "fields": [{"name": "pong", "type": {"kind": "union", "of": [pong, NULL]}, "optional": False}]}
    assert params(tools["rally"]) == {"ping": (ping, False)}


def test_literals_keep_booleans_apart_from_equal_numbers_and_non_finite_floats_are_unknown():
    tools = tools_of("hostile_types.Hostile")
    assert params(tools["flag"])["on"][0] == {"kind": "union", "of": [lit(0), lit(False), lit(1), lit(True)]}
    assert params(tools["limit"])["x"][0] == U  # JSON has no Infinity


def test_a_huge_literal_is_read_in_linear_time():
    import time
    from typing import Literal
    started = time.monotonic()
    tree = type_tree(Literal[tuple(f"v{i}" for i in range(20_000))])
    assert len(tree["of"]) == 20_000 and time.monotonic() - started < 5


def test_what_the_adapter_module_writes_to_file_descriptor_1_does_not_garble_the_answer():
    run = run_module("hostile_types.Hostile")
    assert run.returncode == 0, run.stderr
    assert "walk" in {t["name"] for t in json.loads(run.stdout)["tools"]}
    assert "banner of a C extension" in run.stderr
