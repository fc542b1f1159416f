#!/usr/bin/env python3
"""Writes fixtures/pickles/*.pkl and fixtures/pickles/expected.json.

Every fixture is written by Python's own pickle (and numpy), never by our decoder, so the tests
check the decoder against the real thing. Hand-made pickles (numpy 1.x global names, hostile
files) are assembled opcode by opcode with the encodings documented in `pickletools`.

    python3 scripts/make-pickle-fixtures.py

Idempotent and reproducible: fixed seeds, no timestamps; running it twice with the same Python
and numpy writes the same bytes (pickle's byte layout can differ between Python or numpy
versions, so expected.json records the versions that wrote the files). Stale *.pkl files in the
directory are removed.

expected.json maps each file name to either
  {"protocol", "shape", "dtype", "count", "dimensions", "arrayTypes", "vectors"}  (decodes), or
  {"error": CODE, "global"?: "posix.system", "index"?: N, "messageIncludes"?: "..."}  (refused),
plus an optional "limits" object (a Partial<PickleLimits> to decode with).
"""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "pickles"
PROTOCOLS = (2, 3, 4, 5)

files: dict[str, bytes] = {}
expected: dict[str, dict] = {}


# --------------------------------------------------------------------------------------------
# Expected values, computed from the Python objects (floats as exact doubles; JSON keeps them)


def array_type(kind: str) -> str:
    return "Float64Array" if kind == "f8" else "Float32Array"


def describe_ok(obj, protocol: int) -> dict:
    names = {"f2": "float16", "f4": "float32", "f8": "float64"}
    if isinstance(obj, np.ndarray):
        assert obj.ndim == 2
        vectors = [[float(x) for x in row] for row in obj]
        kinds = [f"f{obj.dtype.itemsize}"] * obj.shape[0]
        shape = "matrix"
        dims = int(obj.shape[1])
        dtypes = {names[f"f{obj.dtype.itemsize}"]}
    elif len(obj) == 0:
        return {"protocol": protocol, "shape": "empty", "dtype": "float64", "count": 0, "dimensions": None, "arrayTypes": [], "vectors": []}
    elif isinstance(obj[0], np.ndarray):
        vectors = [[float(x) for x in a] for a in obj]
        kinds = [f"f{a.dtype.itemsize}" for a in obj]
        shape = "list-of-arrays"
        dims = len(vectors[0])
        dtypes = {names[k] for k in kinds}
    else:
        vectors = [[float(x) for x in v] for v in obj]
        kinds = ["f8"] * len(obj)
        shape = "list-of-lists"
        dims = len(vectors[0])
        dtypes = {"float64"}
    return {
        "protocol": protocol,
        "shape": shape,
        "dtype": dtypes.pop() if len(dtypes) == 1 else "mixed",
        "count": len(vectors),
        "dimensions": dims,
        "arrayTypes": [array_type(k) for k in kinds],
        "vectors": vectors,
    }


def same(a, b) -> bool:
    """Structural equality of what Python loads back against the original object."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        # Byte order is not compared: numpy loads a '>f4' array back as native float32.
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and (a.dtype.kind, a.dtype.itemsize) == (b.dtype.kind, b.dtype.itemsize)
            and a.shape == b.shape
            and np.array_equal(a, b)
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def ok(name: str, obj, protocol: int, data: bytes | None = None, loads=pickle.loads) -> None:
    """A fixture that must decode; `data` overrides pickle.dumps (hand-edited bytes)."""
    data = pickle.dumps(obj, protocol=protocol) if data is None else data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core.* names under numpy 2
        assert same(loads(data), obj), f"{name}: Python does not load back the same object"
    files[name] = data
    expected[name] = describe_ok(obj, protocol)


def refused(name: str, data: bytes, error: str, **details) -> None:
    files[name] = data
    expected[name] = {"error": error, **details}


# --------------------------------------------------------------------------------------------
# A pickle assembler, for files pickle.dumps cannot write


def encode_arg(descriptor, arg) -> bytes:
    kind = descriptor.name
    if kind == "uint1":
        return bytes([arg])
    if kind == "uint2":
        return struct.pack("<H", arg)
    if kind == "int4":
        return struct.pack("<i", arg)
    if kind == "uint4":
        return struct.pack("<I", arg)
    if kind == "uint8":
        return struct.pack("<Q", arg)
    if kind == "float8":
        return struct.pack(">d", arg)
    if kind == "stringnl_noescape_pair":
        module, name = arg.split(" ")
        return f"{module}\n{name}\n".encode()
    if kind in ("stringnl", "stringnl_noescape", "decimalnl_short", "floatnl"):
        return str(arg).encode() + b"\n"
    if kind in ("unicodestring1", "unicodestring4", "unicodestring8"):
        raw = arg.encode("utf-8", "surrogatepass")
        return struct.pack({"unicodestring1": "<B", "unicodestring4": "<I", "unicodestring8": "<Q"}[kind], len(raw)) + raw
    if kind in ("bytes1", "bytes4", "bytes8", "bytearray8"):
        raw = bytes(arg)
        return struct.pack({"bytes1": "<B", "bytes4": "<I", "bytes8": "<Q", "bytearray8": "<Q"}[kind], len(raw)) + raw
    raise ValueError(f"no encoder for {kind}")


OPCODES = {op.name: op for op in pickletools.opcodes}


def asm(*ops) -> bytes:
    """asm(("PROTO", 4), "EMPTY_LIST", ...): one opcode per item, with its argument if any."""
    out = bytearray()
    for op in ops:
        name, arg = (op, None) if isinstance(op, str) else op
        if name == "RAW":  # literal bytes, for corrupt files
            out += arg
            continue
        code = OPCODES[name]
        out += code.code.encode("latin-1")
        if code.arg is not None:
            out += encode_arg(code.arg, arg)
    return bytes(out)


def rename_globals(data: bytes, renames: dict[str, str]) -> bytes:
    """Re-assembles a pickle with module names replaced (GLOBAL args and the str operands of
    STACK_GLOBAL), dropping FRAME opcodes, which are optional and whose lengths would change."""
    ops = []
    for op, arg, _pos in pickletools.genops(data):
        if op.name == "FRAME":
            continue
        if op.name == "GLOBAL":
            module, name = arg.split(" ")
            arg = f"{renames.get(module, module)} {name}"
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE") and arg in renames:
            arg = renames[arg]
        ops.append((op.name, arg) if op.arg is not None else op.name)
    return asm(*ops)


# --------------------------------------------------------------------------------------------
# Malicious objects: their __reduce__ names a dangerous callable (never called here)


class Evil:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def build() -> None:
    rng = np.random.default_rng(20240601)

    # Every shape x protocols 2-5.
    lists = rng.standard_normal((4, 8)).tolist()
    arrays_f4 = [row.astype(np.float32) for row in rng.standard_normal((3, 6))]
    arrays_f8 = [row for row in rng.standard_normal((3, 5))]
    matrix_f4 = rng.standard_normal((5, 4)).astype(np.float32)
    matrix_f8 = rng.standard_normal((3, 7))
    for p in PROTOCOLS:
        ok(f"list-of-lists-p{p}.pkl", lists, p)
        ok(f"list-of-arrays-f4-p{p}.pkl", arrays_f4, p)
        ok(f"list-of-arrays-f8-p{p}.pkl", arrays_f8, p)
        ok(f"matrix-f4-p{p}.pkl", matrix_f4, p)
        ok(f"matrix-f8-p{p}.pkl", matrix_f8, p)
        ok(f"empty-p{p}.pkl", [], p)

    # Protocols 0 and 1: text opcodes (INT, FLOAT, LIST...), ints among the floats.
    with_ints = [[1, 2.5, -3, 0.125], [4, -0.5, 6, 7]]
    ok("list-of-lists-ints-p0.pkl", with_ints, 0)
    ok("list-of-lists-ints-p1.pkl", with_ints, 1)
    ok("list-of-lists-ints-p4.pkl", with_ints, 4)
    ok("one-vector-p4.pkl", [lists[0]], 4)  # a single APPEND instead of APPENDS

    # Byte order, Fortran order, float16, mixed dtypes, an empty matrix.
    big_endian = [a.astype(">f4") for a in arrays_f4]
    for p in (2, 4, 5):
        ok(f"list-of-arrays-f4-big-endian-p{p}.pkl", big_endian, p)
    ok("matrix-f4-big-endian-p5.pkl", matrix_f4.astype(">f4"), 5)
    ok("matrix-f8-big-endian-p3.pkl", matrix_f8.astype(">f8"), 3)
    fortran = np.asfortranarray(rng.standard_normal((4, 3)).astype(np.float32))
    for p in (2, 4, 5):
        ok(f"matrix-f4-fortran-p{p}.pkl", fortran, p)
    ok("matrix-f8-fortran-big-endian-p5.pkl", np.asfortranarray(matrix_f8.astype(">f8")), 5)
    ok("list-of-arrays-f2-p4.pkl", [a.astype(np.float16) for a in arrays_f4], 4)
    ok("matrix-f2-p5.pkl", matrix_f4.astype(np.float16), 5)
    ok("list-of-arrays-mixed-dtypes-p4.pkl", [arrays_f4[0], arrays_f4[1].astype(np.float64)], 4)
    ok("matrix-zero-rows-p4.pkl", np.zeros((0, 8), np.float32), 4)

    # numpy 1.x wrote numpy.core.* where numpy 2.x writes numpy._core.*.
    numpy1 = {"numpy._core.multiarray": "numpy.core.multiarray", "numpy._core.numeric": "numpy.core.numeric"}
    ok("numpy1-list-of-arrays-p2.pkl", arrays_f4, 2, rename_globals(pickle.dumps(arrays_f4, protocol=2), numpy1))
    ok("numpy1-matrix-p4.pkl", matrix_f4, 4, rename_globals(pickle.dumps(matrix_f4, protocol=4), numpy1))
    ok("numpy1-matrix-p5.pkl", matrix_f4, 5, rename_globals(pickle.dumps(matrix_f4, protocol=5), numpy1))

    # Shared references: the same object appended twice is written once, then read from the memo.
    a, b = lists[0], lists[1]
    for p in (2, 4, 5):
        ok(f"shared-list-p{p}.pkl", [a, b, a, a], p)
    ok("shared-array-p4.pkl", [arrays_f4[0], arrays_f4[1], arrays_f4[0]], 4)
    # A valid pickle that memoizes at the largest possible index (a memo bomb for naive readers).
    ok(
        "memo-huge-index-p2.pkl",
        [[0.5, 0.25], [0.5, 0.25]],
        2,
        asm(("PROTO", 2), "EMPTY_LIST", "MARK", "EMPTY_LIST", ("LONG_BINPUT", 0xFFFFFFFF), "MARK", ("BINFLOAT", 0.5), ("BINFLOAT", 0.25), "APPENDS",
            ("LONG_BINGET", 0xFFFFFFFF), "APPENDS", "STOP"),
        # CPython's C unpickler sizes its memo array by the index (MemoryError); the pure-Python one uses a dict.
        loads=pickle._loads,
    )

    # Malicious: the offending global must be named, and nothing run.
    shell = "echo pwned > /tmp/pwned"
    refused("evil-os-system-p2.pkl", pickle.dumps([Evil(os.system, shell)], protocol=2), "E_UNSAFE_PICKLE", **{"global": "posix.system"})
    refused("evil-os-system-p4.pkl", pickle.dumps([Evil(os.system, shell)], protocol=4), "E_UNSAFE_PICKLE", **{"global": "posix.system"})
    refused("evil-os-system-p0.pkl", pickle.dumps(Evil(os.system, shell), protocol=0), "E_UNSAFE_PICKLE", **{"global": "posix.system"})
    refused("evil-builtins-eval-p4.pkl", pickle.dumps([Evil(eval, "__import__('os').system('touch /tmp/pwned')")], protocol=4), "E_UNSAFE_PICKLE", **{"global": "builtins.eval"})
    refused("evil-subprocess-popen-p3.pkl", pickle.dumps([Evil(subprocess.Popen, ["touch", "/tmp/pwned"])], protocol=3), "E_UNSAFE_PICKLE", **{"global": "subprocess.Popen"})
    refused("evil-after-vectors-p4.pkl", pickle.dumps([*lists, Evil(os.system, shell)], protocol=4), "E_UNSAFE_PICKLE", **{"global": "posix.system"})
    # Inside a numpy array's arguments, where a numpy global is expected.
    refused("evil-numpy-gadget-p4.pkl", asm(("PROTO", 4), ("SHORT_BINUNICODE", "numpy.testing._private.utils"), ("SHORT_BINUNICODE", "runstring"), "STACK_GLOBAL",
                                            ("SHORT_BINUNICODE", "import os"), "EMPTY_DICT", "TUPLE2", "REDUCE", "STOP"),
            "E_UNSAFE_PICKLE", **{"global": "numpy.testing._private.utils.runstring"})
    # The name reaches STACK_GLOBAL through the memo, not straight from the stream.
    refused("evil-stack-global-from-memo-p4.pkl", asm(("PROTO", 4), ("SHORT_BINUNICODE", "os"), "MEMOIZE", "POP", ("SHORT_BINUNICODE", "system"), "MEMOIZE", "POP",
                                                      ("BINGET", 0), ("BINGET", 1), "STACK_GLOBAL", ("SHORT_BINUNICODE", "id"), "TUPLE1", "REDUCE", "STOP"),
            "E_UNSAFE_PICKLE", **{"global": "os.system"})
    refused("evil-inst-p0.pkl", asm("MARK", ("STRING", "'touch /tmp/pwned'"), ("INST", "os system"), "STOP"), "E_UNSAFE_PICKLE", **{"global": "os.system"})
    refused("evil-ext1-p2.pkl", asm(("PROTO", 2), ("EXT1", 42), "STOP"), "E_UNSAFE_PICKLE", messageIncludes="extension code 42")
    refused("evil-persid-p0.pkl", asm(("PERSID", "x"), "STOP"), "E_UNSAFE_PICKLE", messageIncludes="persistent id")
    refused("evil-dotted-name-p4.pkl", asm(("PROTO", 4), ("SHORT_BINUNICODE", "numpy"), ("SHORT_BINUNICODE", "core.multiarray._reconstruct"), "STACK_GLOBAL", "STOP"),
            "E_UNSAFE_PICKLE", **{"global": "numpy.core.multiarray._reconstruct"})

    # Corrupt.
    whole = pickle.dumps(lists, protocol=4)
    refused("truncated-p4.pkl", whole[: len(whole) // 2], "E_PICKLE", messageIncludes="truncated")
    refused("truncated-no-stop-p2.pkl", pickle.dumps(lists, protocol=2)[:-1], "E_PICKLE", messageIncludes="without a STOP")
    matrix5 = pickle.dumps(matrix_f8, protocol=5)
    refused("truncated-in-bytes-p5.pkl", matrix5[: len(matrix5) - 100], "E_PICKLE", messageIncludes="declares")
    refused("huge-declared-length-p4.pkl", asm(("PROTO", 4), ("RAW", b"\x8d" + struct.pack("<Q", 1 << 62)), "STOP"), "E_PICKLE", messageIncludes="declares")
    refused("frame-past-end-p4.pkl", asm(("PROTO", 4), ("FRAME", 10**9), "EMPTY_LIST", "STOP"), "E_PICKLE", messageIncludes="FRAME")
    refused("bad-opcode-p4.pkl", asm(("PROTO", 4), "EMPTY_LIST", ("RAW", b"\xff"), "STOP"), "E_PICKLE", messageIncludes="not a pickle opcode")
    refused("protocol-6.pkl", asm(("RAW", b"\x80\x06"), "EMPTY_LIST", "STOP"), "E_PICKLE", messageIncludes="protocol 6")
    refused("two-objects-at-stop-p4.pkl", asm(("PROTO", 4), "EMPTY_LIST", "EMPTY_LIST", "STOP"), "E_PICKLE", messageIncludes="exactly one")
    refused("stack-underflow-p4.pkl", asm(("PROTO", 4), ("BINFLOAT", 1.0), "APPEND", "STOP"), "E_PICKLE", messageIncludes="too few")
    refused("get-before-put-p4.pkl", asm(("PROTO", 4), ("BINGET", 5), "STOP"), "E_PICKLE", messageIncludes="memo slot 5")
    refused("reduce-on-a-str-p4.pkl", asm(("PROTO", 4), ("SHORT_BINUNICODE", "x"), "EMPTY_TUPLE", "REDUCE", "STOP"), "E_PICKLE", messageIncludes="REDUCE")
    refused("append-after-emit-p4.pkl", asm(("PROTO", 4), "EMPTY_LIST", "MEMOIZE", "EMPTY_LIST", "MEMOIZE", ("BINFLOAT", 1.0), "APPEND", "APPEND",
                                            ("BINGET", 1), ("BINFLOAT", 2.0), "APPEND", "POP", "STOP"), "E_PICKLE", messageIncludes="already a vector")
    refused("append-after-nesting-p4.pkl", asm(("PROTO", 4), "EMPTY_LIST", "MEMOIZE", "EMPTY_LIST", "MEMOIZE", "TUPLE1", "POP",
                                               ("BINGET", 1), ("BINFLOAT", 1.0), "APPEND", "POP", "STOP"), "E_PICKLE", messageIncludes="inside another object")

    # Hostile resource use, with small limits so the files stay small.
    keys = [1_000_003 * (i + 1) for i in range(150)]
    bomb = [("PROTO", 4), "EMPTY_LIST"]
    for k in keys:
        bomb += ["NONE", ("LONG_BINPUT", k), "POP"]
    for k in keys:
        bomb += [("LONG_BINGET", k), "POP"]
    refused("memo-bomb-p4.pkl", asm(*bomb, "STOP"), "E_PICKLE", messageIncludes="maxMemoEntries", limits={"maxMemoEntries": 100})
    refused("stack-bomb-p4.pkl", asm(("PROTO", 4), *(["NONE"] * 1500), "STOP"), "E_PICKLE", messageIncludes="maxStackDepth", limits={"maxStackDepth": 1000})
    refused("mark-bomb-p4.pkl", asm(("PROTO", 4), *(["MARK"] * 1500), "STOP"), "E_PICKLE", messageIncludes="maxStackDepth", limits={"maxStackDepth": 1000})
    refused("deep-nesting-p4.pkl", asm(("PROTO", 4), "EMPTY_TUPLE", *(["TUPLE1"] * 100), "STOP"), "E_PICKLE", messageIncludes="maxNesting")
    refused("too-many-dimensions-p4.pkl", pickle.dumps([[0.5] * 300], protocol=4), "E_PICKLE", messageIncludes="maxDimensions", limits={"maxDimensions": 256})

    # Shapes that hold no vectors.
    refused("array-3d-p4.pkl", pickle.dumps(np.zeros((2, 3, 4), np.float32), protocol=4), "E_PICKLE", messageIncludes="3-D")
    refused("array-3d-in-list-p5.pkl", pickle.dumps([np.zeros((2, 2, 2), np.float32)], protocol=5), "E_PICKLE", messageIncludes="3-D")
    refused("array-1d-top-level-p4.pkl", pickle.dumps(arrays_f4[0], protocol=4), "E_PICKLE", messageIncludes="1-D")
    refused("array-int64-p4.pkl", pickle.dumps([np.arange(4, dtype=np.int64)], protocol=4), "E_PICKLE", messageIncludes="int64")
    refused("array-object-p4.pkl", pickle.dumps([np.array([1.0, "x"], dtype=object)], protocol=4), "E_PICKLE", messageIncludes="object")
    refused("dict-top-level-p4.pkl", pickle.dumps({"vectors": lists}, protocol=4), "E_PICKLE", messageIncludes="dict")
    refused("list-of-str-p4.pkl", pickle.dumps(["a", "b"], protocol=4), "E_PICKLE", messageIncludes="str")
    refused("nested-lists-p4.pkl", pickle.dumps([[[0.5]]], protocol=4), "E_PICKLE", messageIncludes="a list at position 0")
    refused("bools-p4.pkl", pickle.dumps([[True, False]], protocol=4), "E_PICKLE", messageIncludes="bool")
    refused("bytes-vector-p4.pkl", pickle.dumps([b"\x00\x00\x80?"], protocol=4), "E_PICKLE", messageIncludes="bytes")
    refused("set-p4.pkl", pickle.dumps([{0.5}], protocol=4), "E_PICKLE", messageIncludes="set")
    refused("lists-and-arrays-p4.pkl", pickle.dumps([lists[0][:6], arrays_f4[0]], protocol=4), "E_PICKLE", messageIncludes="mixes")

    # Vectors that are there but unusable: the index of the offending one is reported.
    refused("ragged-p4.pkl", pickle.dumps([[0.5, 0.25, 1.0], [0.5, 0.25]], protocol=4), "E_VECTOR", index=1)
    refused("ragged-arrays-p2.pkl", pickle.dumps([arrays_f4[0], arrays_f4[1][:5]], protocol=2), "E_VECTOR", index=1)
    refused("empty-vector-p4.pkl", pickle.dumps([[0.5, 0.25], []], protocol=4), "E_VECTOR", index=1)
    refused("nan-p4.pkl", pickle.dumps([[0.5, 0.25], [0.125, float("nan")]], protocol=4), "E_VECTOR", index=1)
    refused("neg-infinity-p2.pkl", pickle.dumps([[float("-inf"), 0.25]], protocol=2), "E_VECTOR", index=0)
    with_inf = matrix_f4.copy()
    with_inf[2, 1] = np.inf
    refused("matrix-infinity-p5.pkl", pickle.dumps(with_inf, protocol=5), "E_VECTOR", index=2)
    refused("matrix-zero-columns-p4.pkl", pickle.dumps(np.zeros((3, 0), np.float32), protocol=4), "E_VECTOR", index=0)


def main() -> None:
    build()
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("*.pkl"):
        if stale.name not in files:
            stale.unlink()
    for name, data in files.items():
        path = OUT / name
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    doc = {
        "writtenBy": {"python": sys.version.split()[0], "numpy": np.__version__, "pickleHighestProtocol": pickle.HIGHEST_PROTOCOL},
        "files": expected,
    }
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    target = OUT / "expected.json"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    print(f"{len(files)} fixtures in {OUT} ({sum(len(d) for d in files.values())} bytes)")


if __name__ == "__main__":
    main()
