#!/usr/bin/env python3
"""An independent reading of a LangChain FAISS.save_local store, for the tests.

    python3 scripts/read_faiss_store.py STORE_DIR   ->  JSON on stdout

index.faiss is parsed with struct/numpy from faiss's write_index layout; index.pkl is loaded by
an Unpickler whose find_class returns stand-in classes and never resolves a real global (only
builtins.set/frozenset, which pickle protocols 2 and 3 use for sets, map to the builtins).
Nothing named in the pickle is imported or run.

Output: {"fourcc", "dimensions", "count", "metric_type", "docstore_count", "mapping_count",
"records": [{"sourceId", "text", "metadata", "vector"}]} where "vector" is the base64 of the
row's float32 little-endian bytes, exactly as stored.
"""

from __future__ import annotations

import base64
import io
import json
import math
import pickle
import struct
import sys
from pathlib import Path

import numpy as np


class Stub:
    """Stands in for every class the pickle names; keeps the BUILD state as data."""

    qualname = "?"

    def __setstate__(self, state):
        self.state = state


def stub_for(module: str, name: str) -> type:
    return type(name, (Stub,), {"qualname": f"{module}.{name}"})


class StubUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in (("builtins", "set"), ("__builtin__", "set")):
            return set
        if (module, name) in (("builtins", "frozenset"), ("__builtin__", "frozenset")):
            return frozenset
        return stub_for(module, name)


def read_index(path: Path) -> dict:
    data = path.read_bytes()
    fourcc = data[:4].decode("latin1")
    d, ntotal = struct.unpack_from("<iq", data, 4)
    _dummy1, _dummy2 = struct.unpack_from("<qq", data, 16)
    is_trained = data[32]
    (metric_type,) = struct.unpack_from("<i", data, 33)
    offset = 37
    if metric_type > 1:
        offset += 4
    (n_floats,) = struct.unpack_from("<Q", data, offset)
    offset += 8
    assert n_floats == d * ntotal, (n_floats, d, ntotal)
    assert len(data) == offset + 4 * n_floats
    rows = np.frombuffer(data, dtype="<f4", count=n_floats, offset=offset).reshape(ntotal, d)
    return {"fourcc": fourcc, "d": d, "ntotal": ntotal, "is_trained": is_trained, "metric_type": metric_type, "rows": rows}


def plain(value):
    """As the reader documents: tuples and sets become lists, bytes base64, big ints and non-finite floats text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 - 1 else str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {key_text(k): plain(v) for k, v in value.items()}
    raise TypeError(f"not plain data: {type(value)}")


def key_text(key) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, str):
        return key
    return str(key)


def fields_of(doc: Stub) -> dict:
    state = doc.state
    if isinstance(state, tuple):
        state = state[0]
    return state["__dict__"] if "__dict__" in state else state


def read_store(store: Path) -> dict:
    index = read_index(store / "index.faiss")
    with open(store / "index.pkl", "rb") as f:
        docstore, mapping = StubUnpickler(io.BytesIO(f.read())).load()
    state = docstore.state[0] if isinstance(docstore.state, tuple) else docstore.state
    documents = state["_dict"]
    records = []
    for position in range(len(mapping)):
        doc_id = mapping[position]
        fields = fields_of(documents[doc_id])
        metadata = plain(fields.get("metadata") or {})
        if isinstance(fields.get("id"), str) and "id" not in metadata:
            metadata["id"] = fields["id"]
        row = index["rows"][position] if position < index["ntotal"] else None
        records.append(
            {
                "sourceId": str(doc_id),
                "text": fields["page_content"],
                "metadata": metadata,
                "vector": None if row is None else base64.b64encode(row.astype("<f4").tobytes()).decode("ascii"),
            }
        )
    return {
        "fourcc": index["fourcc"],
        "dimensions": index["d"],
        "count": index["ntotal"],
        "metric_type": index["metric_type"],
        "docstore_count": len(documents),
        "mapping_count": len(mapping),
        "document_class": sorted({type(documents[k]).qualname for k in documents}),
        "docstore_class": type(docstore).qualname,
        "records": records,
    }


if __name__ == "__main__":
    json.dump(read_store(Path(sys.argv[1])), sys.stdout, ensure_ascii=False)
