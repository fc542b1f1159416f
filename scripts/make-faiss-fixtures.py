#!/usr/bin/env python3
"""Writes fixtures/faiss/<case>/{index.faiss,index.pkl} and fixtures/faiss/expected.json.

The cases the real stores in ../shared/testdata/real-stores/faiss lack: an IndexFlatIP, pickle
protocols 2 and 3, pydantic v1 and v2 Document state under every module name LangChain used,
metadata of every plain Python type, an empty store, hostile pickles naming os.system and
builtins.eval, and stores whose index and docstore disagree.

index.faiss is struct-packed exactly as faiss's write_index writes a flat index; index.pkl is
written by Python's own pickle. LangChain is not installed: stand-in classes are registered
under LangChain's module names, so pickle writes the same globals and the same NEWOBJ + BUILD
layout that pickling the real pydantic models does (their state is pydantic's __getstate__
dict). Hostile pickles use __reduce__, as real exploits do.

    python3 scripts/make-faiss-fixtures.py

Reproducible: no randomness without a fixed seed, no timestamps.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import sys
import types
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "faiss"

# Sets of str are pickled in iteration order, which depends on the hash seed: fix it.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})


def register(qualified: str, cls_name: str, base: type) -> type:
    """A class whose pickled global is `qualified` (module path + class name)."""
    module_name = qualified.rsplit(".", 1)[0]
    parts = module_name.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
        if i > 1:
            setattr(sys.modules[".".join(parts[: i - 1])], parts[i - 1], sys.modules[name])
    cls = type(cls_name, (base,), {"__module__": module_name, "__qualname__": cls_name})
    setattr(sys.modules[module_name], cls_name, cls)
    return cls


class DocumentV1:
    """pydantic v1 BaseModel.__getstate__."""

    def __init__(self, **fields):
        self._fields = fields

    def __getstate__(self):
        return {"__dict__": self._fields, "__fields_set__": set(self._fields), "__private_attribute_values__": {}}


class DocumentV2:
    """pydantic v2 BaseModel.__getstate__."""

    def __init__(self, **fields):
        self._fields = fields

    def __getstate__(self):
        return {"__dict__": self._fields, "__pydantic_extra__": None, "__pydantic_fields_set__": set(self._fields), "__pydantic_private__": None}


class Docstore:
    def __init__(self, docs):
        self._dict = docs


CLASSES = {
    name: register(name, name.rsplit(".", 1)[1], base)
    for name, base in [
        ("langchain_core.documents.base.Document", DocumentV2),
        ("langchain.schema.document.Document", DocumentV1),
        ("langchain.docstore.document.Document", DocumentV1),
        ("langchain.schema.Document", DocumentV1),
        ("langchain_community.docstore.in_memory.InMemoryDocstore", Docstore),
        ("langchain.docstore.in_memory.InMemoryDocstore", Docstore),
    ]
}


def flat_index(vectors: np.ndarray, inner_product: bool) -> bytes:
    """faiss write_index of an IndexFlatIP ('IxFI', metric 0) or IndexFlatL2 ('IxF2', metric 1)."""
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    n, d = vectors.shape
    fourcc = b"IxFI" if inner_product else b"IxF2"
    header = fourcc + struct.pack("<iqqqBi", d, n, 1 << 20, 1 << 20, 1, 0 if inner_product else 1)
    return header + struct.pack("<Q", n * d) + vectors.tobytes()


files: dict[str, bytes] = {}
expected: dict[str, dict] = {}


def store(case: str, index: bytes, pkl: bytes, outcome: dict) -> None:
    files[f"{case}/index.faiss"] = index
    files[f"{case}/index.pkl"] = pkl
    expected[case] = outcome


rng = np.random.default_rng(15)

# An IndexFlatIP, langchain_core Document with pydantic v2 state, protocol 4, in a directory
# named like an uploaded file (dots in the name), with every plain metadata type.
Doc2 = CLASSES["langchain_core.documents.base.Document"]
Store2 = CLASSES["langchain_community.docstore.in_memory.InMemoryDocstore"]
ip_vectors = rng.standard_normal((4, 8)).astype("<f4")
ip_vectors /= np.linalg.norm(ip_vectors, axis=1, keepdims=True)
shared = ["shared", "list"]
ip_docs = {
    "doc-a": Doc2(id="doc-a", metadata={"source": "abc.pdf", "page": 0}, page_content="Première page — ünïcødé ✓ 🚀", type="Document"),
    "doc-b": Doc2(
        id=None,
        metadata={
            "nested": {"list": [1, 2.5, None, True, False], "tuple": (1, "two"), "set": {3}, "frozen": frozenset({"x"})},
            "big": 2**70,
            "negative": -(2**40),
            "inf": float("inf"),
            "bytes": b"\x00\x01\xfe\xff",
            "__proto__": {"polluted": True},
            7: "int key",
            "shared1": shared,
            "shared2": shared,
        },
        page_content="",
        type="Document",
    ),
    "doc-c": Doc2(id="other-id", metadata={"id": "metadata wins"}, page_content="line one\nline two\r\n\ttabbed\x00nul", type="Document"),
    "doc-d": Doc2(id="doc-d", metadata={}, page_content="x" * 70000, type="Document"),
}
store(
    "flat-ip.pdf",
    flat_index(ip_vectors, inner_product=True),
    pickle.dumps((Store2(ip_docs), {0: "doc-b", 1: "doc-a", 2: "doc-d", 3: "doc-c"}), protocol=4),
    {"accept": True},
)

# Protocol 3 (Python 3.0-3.7's default): GLOBAL, BINPUT, sets as REDUCE of builtins.set;
# pydantic v1 state; the langchain 0.0.x module names.
Doc1 = CLASSES["langchain.schema.document.Document"]
Store1 = CLASSES["langchain.docstore.in_memory.InMemoryDocstore"]
p3_docs = {f"id-{i}": Doc1(page_content=f"text {i}", metadata={"row": i, "tags": {"a", "b"} if i == 0 else set()}) for i in range(3)}
store(
    "protocol-3",
    flat_index(rng.standard_normal((3, 5)), inner_product=False),
    pickle.dumps((Store1(p3_docs), {i: f"id-{i}" for i in range(3)}), protocol=3),
    {"accept": True},
)

# Protocol 2: __builtin__.set, langchain.docstore.document.Document.
DocOld = CLASSES["langchain.docstore.document.Document"]
p2_docs = {"0": DocOld(page_content="zero", metadata={"s": {1}}), "1": DocOld(page_content="one", metadata={})}
store(
    "protocol-2",
    flat_index(rng.standard_normal((2, 3)), inner_product=False),
    pickle.dumps((Store1(p2_docs), {0: "0", 1: "1"}), protocol=2),
    {"accept": True},
)

# Protocol 5 with langchain.schema.Document (v1 state).
DocSchema = CLASSES["langchain.schema.Document"]
store(
    "protocol-5",
    flat_index(rng.standard_normal((1, 4)), inner_product=False),
    pickle.dumps((Store1({"only": DocSchema(page_content="only one", metadata={"k": "v"})}), {0: "only"}), protocol=5),
    {"accept": True},
)

# No documents at all.
store("empty", flat_index(np.zeros((0, 16)), inner_product=False), pickle.dumps((Store2({}), {}), protocol=4), {"accept": True})

# Hostile pickles: what pickle writes for an object whose __reduce__ returns a call.
MARKER = "pgvm-faiss-pwned"


class SystemCall:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


class EvalCall:
    def __reduce__(self):
        return (eval, (f"__import__('os').system('touch {MARKER}')",))


one = flat_index(rng.standard_normal((1, 4)), inner_product=False)
store(
    "hostile-os-system",
    one,
    pickle.dumps((Store2({"a": Doc2(id="a", metadata={"x": SystemCall()}, page_content="hi", type="Document")}), {0: "a"}), protocol=4),
    {"error": "E_UNSAFE_PICKLE", "messageIncludes": f"{os.system.__module__}.system", "marker": MARKER},
)
store(
    "hostile-eval",
    one,
    pickle.dumps((EvalCall(), {0: "a"}), protocol=4),
    {"error": "E_UNSAFE_PICKLE", "messageIncludes": "builtins.eval", "marker": MARKER},
)

# Index and docstore disagree.
three = flat_index(rng.standard_normal((3, 4)), inner_product=False)
docs3 = {k: Doc2(id=k, metadata={}, page_content=k, type="Document") for k in ("a", "b", "c")}
store(
    "mapping-names-missing-doc",
    three,
    pickle.dumps((Store2({k: docs3[k] for k in ("a", "b")}), {0: "a", 1: "b", 2: "c"}), protocol=4),
    {"error": "E_FORMAT", "messageIncludes": 'maps position 2 to "c", which the docstore does not hold'},
)
store(
    "docstore-has-extra-doc",
    flat_index(rng.standard_normal((2, 4)), inner_product=False),
    pickle.dumps((Store2(docs3), {0: "a", 1: "b"}), protocol=4),
    {"error": "E_FORMAT", "messageIncludes": "the docstore holds 3 documents but index_to_docstore_id maps 2 positions"},
)
store(
    "index-has-fewer-vectors",
    flat_index(rng.standard_normal((2, 4)), inner_product=False),
    pickle.dumps((Store2(docs3), {0: "a", 1: "b", 2: "c"}), protocol=4),
    {"error": "E_FORMAT", "messageIncludes": "index.faiss holds 2 vectors but index.pkl's index_to_docstore_id maps 3 positions"},
)

# Metadata that refers to itself: json.dumps would refuse it too.
cyclic: list = ["loop"]
cyclic.append(cyclic)
store(
    "cyclic-metadata",
    flat_index(rng.standard_normal((1, 4)), inner_product=False),
    pickle.dumps((Store2({"a": Doc2(id="a", metadata={"loop": cyclic}, page_content="a", type="Document")}), {0: "a"}), protocol=4),
    {"error": "E_FORMAT", "messageIncludes": "refers to itself"},
)

# Metadata that expands without bound once shared references are followed: 1000^6 values, and
# 2000 references to one 50,000-character str (100M characters).
bomb: list = ["x"]
for _ in range(6):
    bomb = [bomb] * 1000
store(
    "metadata-memo-bomb",
    flat_index(rng.standard_normal((1, 4)), inner_product=False),
    pickle.dumps((Store2({"a": Doc2(id="a", metadata={"bomb": bomb}, page_content="a", type="Document")}), {0: "a"}), protocol=4),
    {"error": "E_FORMAT", "messageIncludes": "expands to more than"},
)
long_text = "y" * 50_000
store(
    "metadata-string-bomb",
    flat_index(rng.standard_normal((1, 4)), inner_product=False),
    pickle.dumps((Store2({"a": Doc2(id="a", metadata={"bomb": [long_text] * 2000}, page_content="a", type="Document")}), {0: "a"}), protocol=4),
    {"error": "E_FORMAT", "messageIncludes": "characters of text"},
)

# Every Document pointing at one shared value: each is within the per-document bounds, all
# together they expand to 20M characters, refused when read with maxHeldBytes = 4,000,000.
shared_value = ["z" * 10_000] * 100
store(
    "shared-metadata-bomb",
    flat_index(rng.standard_normal((20, 4)), inner_product=False),
    pickle.dumps(
        (Store2({f"d{i}": Doc2(id=f"d{i}", metadata={"b": shared_value}, page_content="t", type="Document") for i in range(20)}), {i: f"d{i}" for i in range(20)}),
        protocol=4,
    ),
    {"error": "E_FORMAT", "messageIncludes": "the documents expand to more than 4000000 bytes", "options": {"maxHeldBytes": 4_000_000}},
)

# A valid store whose one metadata value is the str 'PLACEHOLDER': the fuzz suite splices
# hand-built opcodes in its place (test/fuzz-faiss.test.ts).
store(
    "splice-base",
    flat_index(rng.standard_normal((1, 4)), inner_product=False),
    pickle.dumps((Store2({"a": Doc2(id="a", metadata={"k": "PLACEHOLDER"}, page_content="a", type="Document")}), {0: "a"}), protocol=4),
    {"accept": True},
)

if OUT.exists():
    shutil.rmtree(OUT)
for name, data in sorted(files.items()):
    path = OUT / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
(OUT / "expected.json").write_text(json.dumps({"python": sys.version.split()[0], "numpy": np.__version__, "cases": expected}, indent=2) + "\n")
print(f"wrote {len(files)} files under {OUT}")
