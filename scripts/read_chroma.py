#!/usr/bin/env python3
"""Independent reading of a Chroma persistent directory, for the tests of the TypeScript reader.

Standard library only (sqlite3 opened read-only + immutable, struct, pickle with an Unpickler that
resolves no real global). Prints JSON: for each collection (by name) its live records in the
metadata segment's order, each {id, text, metadata, vector: hex of the little-endian float32 bytes}.

Usage: read_chroma.py STORE_DIR
"""
import json
import os
import pickle
import sqlite3
import struct
import sys


class _Stub:
    def __setstate__(self, state):
        self.__dict__.update(state)


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("chromadb.segment.impl.vector.local_persistent_hnsw", "PersistentData"):
            return _Stub
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def seq(v):
    if isinstance(v, bytes):
        return int.from_bytes(v, "big")
    return int(v)


def columns(c, table):
    return {r[1] for r in c.execute(f"PRAGMA table_info({table})")}


def hnsw_vectors(folder, space):
    meta_path = os.path.join(folder, "index_metadata.pickle")
    if not os.path.exists(meta_path):
        return None, None
    with open(meta_path, "rb") as f:
        meta = _SafeUnpickler(f).load()
    state = meta if isinstance(meta, dict) else meta.__dict__
    with open(os.path.join(folder, "header.bin"), "rb") as f:
        h = f.read()
    (_version, _off0, _maxel, count, stride, label_off, data_off) = struct.unpack_from("<iQQQQQQ", h, 0)
    dim = (label_off - data_off) // 4
    lengths = None
    if space == "cosine":
        with open(os.path.join(folder, "length.bin"), "rb") as f:
            lengths = struct.unpack_from(f"<{count}f", f.read(count * 4))
    out = {}
    with open(os.path.join(folder, "data_level0.bin"), "rb") as f:
        data = f.read(count * stride)
    for i in range(count):
        slot = data[i * stride:(i + 1) * stride]
        if slot[2] & 1:
            continue
        (label,) = struct.unpack_from("<Q", slot, label_off)
        vec = list(struct.unpack_from(f"<{dim}f", slot, data_off))
        if lengths is not None:
            # float32 multiply, as hnswlib's getDataByLabel does
            vec = [struct.unpack("<f", struct.pack("<f", x * lengths[i]))[0] for x in vec]
        out[state["label_to_id"][label]] = struct.pack(f"<{dim}f", *vec)
    return out, state.get("max_seq_id")


def space_of(c, coll_row, cols, vector_segment):
    if "schema_str" in cols and coll_row["schema_str"]:
        try:
            return json.loads(coll_row["schema_str"])["keys"]["#embedding"]["float_list"]["vector_index"]["config"]["space"]
        except (KeyError, TypeError, ValueError):
            pass
    if "config_json_str" in cols and coll_row["config_json_str"]:
        try:
            return json.loads(coll_row["config_json_str"])["hnsw_configuration"]["space"]
        except (KeyError, TypeError, ValueError):
            pass
    r = c.execute("SELECT str_value FROM collection_metadata WHERE collection_id=? AND key='hnsw:space'", (coll_row["id"],)).fetchone()
    if r:
        return r[0]
    if vector_segment:
        r = c.execute("SELECT str_value FROM segment_metadata WHERE segment_id=? AND key='hnsw:space'", (vector_segment,)).fetchone()
        if r:
            return r[0]
    return "l2"


def main(store):
    path = os.path.join(store, "chroma.sqlite3")
    c = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    c.row_factory = sqlite3.Row
    ccols = columns(c, "collections")
    mcols = columns(c, "embedding_metadata")
    result = {}
    for coll in c.execute("SELECT * FROM collections ORDER BY name"):
        segs = {r["scope"]: r["id"] for r in c.execute("SELECT id, scope FROM segments WHERE collection=?", (coll["id"],))}
        vseg, mseg = segs.get("VECTOR"), segs["METADATA"]
        space = space_of(c, coll, ccols, vseg)
        vectors, legacy_max = ({}, None)
        after = 0
        if vseg and os.path.isdir(os.path.join(store, vseg)):
            v, legacy_max = hnsw_vectors(os.path.join(store, vseg), space)
            if v is not None:
                vectors = v
                r = c.execute("SELECT seq_id FROM max_seq_id WHERE segment_id=?", (vseg,)).fetchone()
                after = seq(r[0]) if r else (legacy_max or 0)
        topic = coll["topic"] if "topic" in ccols else None
        if topic is None:
            t = [r[0] for r in c.execute("SELECT DISTINCT topic FROM embeddings_queue") if r[0].endswith("/" + coll["id"])]
            topic = t[0] if t else None
        for r in c.execute("SELECT seq_id, operation, id, vector, encoding FROM embeddings_queue WHERE topic=? ORDER BY seq_id", (topic,)):
            if r["seq_id"] <= after:
                continue
            op, rid, vec = r["operation"], r["id"], r["vector"]
            if op == 3:
                vectors.pop(rid, None)
                continue
            if vec is None:
                continue
            assert r["encoding"] == "FLOAT32"
            if op == 0 and rid in vectors:
                continue
            if op == 1 and rid not in vectors:
                continue
            vectors[rid] = bytes(vec)
        records = []
        by_row = {}
        for e in c.execute("SELECT id, embedding_id FROM embeddings WHERE segment_id=? ORDER BY id", (mseg,)):
            rec = {"id": e["embedding_id"], "text": None, "metadata": {}, "vector": None}
            by_row[e["id"]] = rec
            records.append(rec)
        for m in c.execute("SELECT * FROM embedding_metadata WHERE id IN (SELECT id FROM embeddings WHERE segment_id=?)", (mseg,)):
            rec = by_row[m["id"]]
            if m["string_value"] is not None:
                val = m["string_value"]
            elif "bool_value" in mcols and m["bool_value"] is not None:
                val = bool(m["bool_value"])
            elif m["int_value"] is not None:
                val = m["int_value"]
            else:
                val = m["float_value"]
            if m["key"] == "chroma:document":
                rec["text"] = val
            elif not m["key"].startswith("chroma:"):
                rec["metadata"][m["key"]] = val
        for rec in records:
            rec["vector"] = vectors[rec["id"]].hex() if rec["id"] in vectors else None
        result[coll["name"]] = {"records": records, "live_vectors": len(vectors), "space": space}
    json.dump(result, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1])
