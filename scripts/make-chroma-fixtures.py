#!/usr/bin/env python3
"""Writes the Chroma fixtures the real stores lack, under fixtures/chroma/.

Everything is written by Python (sqlite3, struct, pickle, numpy), never by this project's code:

- hnsw-cosine-1x/: a copy of the real 1.x store (103Seeker, cosine, integer seq_ids) whose vector
  segment was persisted at seq_id 100: header.bin / data_level0.bin / length.bin / link_lists.bin in
  hnswlib's persisted layout (hnswalg.h persistHeader/persistDirty), the vectors normalized as
  hnswlib does for cosine, slots in shuffled label order, one slot marked deleted, preallocated
  slots of random bytes, and index_metadata.pickle as Python Chroma pickles its PersistentData.
  The WAL then goes on after seq_id 120 with UPDATE, UPSERT, DELETE, a metadata-only UPDATE, an ADD
  of a live id and an UPDATE of a missing id. The persisted vectors differ from the WAL's (first
  component negated), so a reader that replays the whole WAL instead of starting after
  max_seq_id gives other vectors.
- hnsw-l2-wal-05/: a copy of the real 0.5/0.6 store (tractian, l2, seq_ids as 8-byte big-endian
  BLOBs) persisted at seq_id 3 (one live element, one deleted), then an update/delete-heavy WAL
  (add, update, upsert, delete, and the cases Chroma ignores), texts with non-ASCII characters, and
  metadata of every typed column.
- pickles/: other index_metadata.pickle bodies: the plain dict Chroma 1.x (serde_pickle) writes,
  and a hostile one whose reduce names os.system.

Usage: python3 scripts/make-chroma-fixtures.py   (rewrites fixtures/chroma/)
"""
import math
import os
import pickle
import random
import shutil
import sqlite3
import struct
import sys
import types

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = os.path.join(REPO, "..", "shared", "testdata", "real-stores", "chroma")
OUT = os.path.join(REPO, "fixtures", "chroma")

# The class Chroma pickles, registered under its real module name so pickle writes the same
# STACK_GLOBAL; nothing of chromadb is imported.
_module = types.ModuleType("chromadb.segment.impl.vector.local_persistent_hnsw")


class PersistentData:
    def __init__(self, dimensionality, total_elements_added, id_to_label, label_to_id, id_to_seq_id, max_seq_id):
        self.dimensionality = dimensionality
        self.total_elements_added = total_elements_added
        self.id_to_label = id_to_label
        self.label_to_id = label_to_id
        self.id_to_seq_id = id_to_seq_id
        self.max_seq_id = max_seq_id


PersistentData.__module__ = _module.__name__
_module.PersistentData = PersistentData
for name in ("chromadb", "chromadb.segment", "chromadb.segment.impl", "chromadb.segment.impl.vector"):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules[_module.__name__] = _module

M = 16
MAX_M0 = 2 * M


def normalize(v):
    """hnswlib's normalize_vector, in float32 as the C++ does it."""
    norm = np.float32(0)
    for x in v:
        norm = np.float32(norm + np.float32(x) * np.float32(x))
    length = np.float32(math.sqrt(norm))
    inv = np.float32(1.0) / np.float32(length + np.float32(1e-30))
    return (v * inv).astype("<f4"), length


def write_segment(folder, dim, elements, max_elements, cosine, rng):
    """elements: list of (label, float32 vector, deleted) in slot order."""
    os.makedirs(folder, exist_ok=True)
    links0 = MAX_M0 * 4 + 4
    stride = links0 + dim * 4 + 8
    header = struct.pack(
        "<iQQQQQQiIQQQdQ",
        1, 0, max_elements, len(elements), stride, links0 + dim * 4, links0, 0, 0, M, MAX_M0, M, 1 / math.log(M), 100,
    )
    assert len(header) == 100
    with open(os.path.join(folder, "header.bin"), "wb") as f:
        f.write(header)
    data = bytearray()
    lengths = bytearray()
    n = len(elements)
    for i, (label, vec, deleted) in enumerate(elements):
        neighbours = [j for j in range(n) if j != i][:MAX_M0]
        link = struct.pack("<HBB", len(neighbours), 1 if deleted else 0, 0) + struct.pack(f"<{MAX_M0}I", *(neighbours + [0] * (MAX_M0 - len(neighbours))))
        stored, length = normalize(vec) if cosine else (vec.astype("<f4"), np.float32(0))
        data += link + stored.tobytes() + struct.pack("<Q", label)
        lengths += struct.pack("<f", length)
    # Preallocated, never-written slots: bytes that match no vector.
    data += rng.randbytes((max_elements - n) * stride)
    lengths += rng.randbytes((max_elements - n) * 4)
    with open(os.path.join(folder, "data_level0.bin"), "wb") as f:
        f.write(bytes(data))
    with open(os.path.join(folder, "length.bin"), "wb") as f:
        f.write(bytes(lengths))
    with open(os.path.join(folder, "link_lists.bin"), "wb") as f:
        f.write(b"".join(struct.pack("<I", 0) for _ in elements))


def write_metadata(folder, dim, live, total, max_seq_id):
    """live: {id: label}."""
    data = PersistentData(dim, total, dict(live), {label: i for i, label in live.items()}, {i: max_seq_id for i in live}, max_seq_id)
    with open(os.path.join(folder, "index_metadata.pickle"), "wb") as f:
        pickle.dump(data, f, pickle.HIGHEST_PROTOCOL)
    return data


def copy_db(src, dest):
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    shutil.copyfile(os.path.join(src, "chroma.sqlite3"), os.path.join(dest, "chroma.sqlite3"))
    return sqlite3.connect(os.path.join(dest, "chroma.sqlite3"))


def vec_from(c, seq_id):
    (blob,) = c.execute("SELECT vector FROM embeddings_queue WHERE seq_id = ?", (seq_id,)).fetchone()
    return np.frombuffer(blob, dtype="<f4").copy()


def wal(c, topic, seq_id, op, rid, vec, meta):
    c.execute(
        "INSERT INTO embeddings_queue (seq_id, operation, topic, id, vector, encoding, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (seq_id, op, topic, rid, None if vec is None else vec.astype("<f4").tobytes(), None if vec is None else "FLOAT32", meta),
    )


def cosine_1x(rng):
    src = os.path.join(REAL, "103Seeker__ai-doc-chatbot", "chroma_db")
    dest = os.path.join(OUT, "hnsw-cosine-1x")
    c = copy_db(src, dest)
    vseg, mseg = "04d73b01-5cb5-48fd-8987-aa77b62e459a", "78fc6dac-424a-41b9-bd7e-2988dbab9511"
    topic = "persistent://default/default/01ea0e35-bb27-4384-9abc-93698311a916"
    # At seq_id 100 the live ids were those re-added in 81..100: chunk_0 .. chunk_19.
    rows = c.execute("SELECT seq_id, id FROM embeddings_queue WHERE seq_id BETWEEN 81 AND 100 ORDER BY seq_id").fetchall()
    live, elements = {}, []
    for label, (seq_id, rid) in enumerate(rows, start=1):
        vec = vec_from(c, seq_id)
        vec[0] = -vec[0]
        live[rid] = label
        elements.append((label, vec, False))
    ghost = vec_from(c, 1) * np.float32(0.5)
    elements.append((len(rows) + 1, ghost, True))  # added and deleted before the persist
    rng.shuffle(elements)
    folder = os.path.join(dest, vseg)
    write_segment(folder, 384, elements, 32, True, rng)
    write_metadata(folder, 384, live, len(rows) + 1, 100)
    c.execute("INSERT INTO max_seq_id (segment_id, seq_id) VALUES (?, ?)", (vseg, 100))
    ids = [r for (_s, r) in rows]
    new = lambda: np.array([rng.uniform(-1, 1) for _ in range(384)], dtype="<f4")
    wal(c, topic, 121, 1, ids[0], new(), None)  # UPDATE of a persisted id
    wal(c, topic, 122, 2, ids[5], new(), None)  # UPSERT of a persisted id
    wal(c, topic, 123, 3, ids[7], None, None)  # DELETE of a persisted id
    wal(c, topic, 124, 1, ids[9], None, '{"doc_id":"renamed"}')  # metadata-only UPDATE: the vector stays
    wal(c, topic, 125, 0, ids[11], new(), None)  # ADD of a live id: ignored by Chroma
    wal(c, topic, 126, 1, "never-added", new(), None)  # UPDATE of a missing id: ignored
    (row_id,) = c.execute("SELECT id FROM embeddings WHERE segment_id = ? AND embedding_id = ?", (mseg, ids[7])).fetchone()
    c.execute("DELETE FROM embedding_metadata WHERE id = ?", (row_id,))
    c.execute("DELETE FROM embeddings WHERE id = ?", (row_id,))
    c.execute(
        "UPDATE embedding_metadata SET string_value = 'renamed' WHERE key = 'doc_id' AND id = (SELECT id FROM embeddings WHERE segment_id = ? AND embedding_id = ?)",
        (mseg, ids[9]),
    )
    c.execute("UPDATE max_seq_id SET seq_id = 126 WHERE segment_id = ?", (mseg,))
    c.commit()
    c.execute("VACUUM")
    c.close()


def be(n):
    return n.to_bytes(8, "big")


def l2_wal_05(rng):
    src = os.path.join(REAL, "AllanKamimura__tractian_hackathon", "db")
    dest = os.path.join(OUT, "hnsw-l2-wal-05")
    c = copy_db(src, dest)
    vseg, mseg = "7538b427-1de9-49a1-9c76-c2fd8de047b3", "7cc92d00-7959-4b39-b0d6-a78e2a2dcf39"
    topic = "persistent://default/default/a9b0db76-2893-4fb3-a1ed-7168a806c0c2"
    original = "a7d2e0df-d57d-4f79-ade1-bdb3a73219f2"
    new = lambda: np.array([rng.uniform(-1, 1) for _ in range(768)], dtype="<f4")
    gone = new()
    wal(c, topic, 2, 0, "gone", gone, None)
    wal(c, topic, 3, 3, "gone", None, None)
    folder = os.path.join(dest, vseg)
    write_segment(folder, 768, [(2, gone, True), (1, vec_from(c, 1), False)], 8, False, rng)
    write_metadata(folder, 768, {original: 1}, 2, 3)
    c.execute("INSERT INTO max_seq_id (segment_id, seq_id) VALUES (?, ?)", (vseg, be(3)))
    ops = [
        (4, 0, "a"), (5, 0, "b"), (6, 0, "c"), (7, 1, "a"), (8, 2, "b"), (9, 2, "d"), (10, 3, "c"),
        (11, 0, "a"), (12, 1, "e"), (13, 3, "f"), (14, 1, "b"), (15, 1, original),
    ]
    for seq_id, op, rid in ops:
        vec = None if op == 3 or seq_id == 14 else new()
        wal(c, topic, seq_id, op, rid, vec, None)
    texts = {
        "a": "naïve café — 東京 🎉 a",
        "b": "line one\nline two\ttabbed \u00a0nbsp \u0000 after a NUL",
        "d": "d: ∑ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    }
    for n, rid in enumerate(["a", "b", "d"], start=2):
        c.execute("INSERT INTO embeddings (id, segment_id, embedding_id, seq_id) VALUES (?, ?, ?, ?)", (n, mseg, rid, be(3 + n)))
        c.execute("INSERT INTO embedding_metadata (id, key, string_value) VALUES (?, 'chroma:document', ?)", (n, texts[rid]))
        c.execute("INSERT INTO embedding_metadata (id, key, string_value) VALUES (?, 'source', ?)", (n, f"{rid}.pdf"))
        c.execute("INSERT INTO embedding_metadata (id, key, int_value) VALUES (?, 'page', ?)", (n, -n * 1000))
        c.execute("INSERT INTO embedding_metadata (id, key, float_value) VALUES (?, 'score', ?)", (n, n / 3))
        c.execute("INSERT INTO embedding_metadata (id, key, bool_value) VALUES (?, 'reviewed', ?)", (n, n % 2))
        c.execute("INSERT INTO embedding_metadata (id, key, string_value) VALUES (?, 'chroma:internal', 'x')", (n,))
    c.execute("UPDATE max_seq_id SET seq_id = ? WHERE segment_id = ?", (be(15), mseg))
    c.commit()
    c.execute("VACUUM")
    c.close()


def other_pickles():
    dest = os.path.join(OUT, "pickles")
    os.makedirs(dest, exist_ok=True)
    original = "a7d2e0df-d57d-4f79-ade1-bdb3a73219f2"
    plain = {
        "dimensionality": 768,
        "total_elements_added": 2,
        "max_seq_id": None,
        "id_to_label": {original: 1},
        "label_to_id": {1: original},
        "id_to_seq_id": {original: 1},
    }
    with open(os.path.join(dest, "serde-dict.pickle"), "wb") as f:
        pickle.dump(plain, f, 3)

    class Hostile:
        def __reduce__(self):
            return (os.system, ("echo pwned > /tmp/pwned-by-chroma-fixture",))

    with open(os.path.join(dest, "os-system.pickle"), "wb") as f:
        pickle.dump({"label_to_id": Hostile()}, f, pickle.HIGHEST_PROTOCOL)


def main():
    rng = random.Random(20261202)
    cosine_1x(rng)
    l2_wal_05(rng)
    other_pickles()


if __name__ == "__main__":
    main()
