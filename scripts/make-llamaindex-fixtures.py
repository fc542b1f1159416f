"""Writes fixtures/llamaindex/: LlamaIndex persist directories for cases the real stores lack.

Python's json, struct and numpy only, in the byte layout llama-index >= 0.10 persists
(json.dump with default separators; docstore __data__ an object, index_store __data__ a JSON
string; SimpleVectorStore's embedding_dict / text_id_to_ref_doc_id / metadata_dict; faiss
write_index's IndexFlat layout). Run: python3 scripts/make-llamaindex-fixtures.py
"""
import json
import os
import shutil
import struct

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "llamaindex")
rng = np.random.RandomState(15)


def vec(dims):
    return [float(x) for x in rng.standard_normal(dims)]


def text_node(node_id, text, metadata, ref_doc="doc-1"):
    return {
        "id_": node_id,
        "embedding": None,
        "metadata": metadata,
        "excluded_embed_metadata_keys": [],
        "excluded_llm_metadata_keys": [],
        "relationships": {"1": {"node_id": ref_doc, "node_type": "4", "metadata": {}, "hash": "0" * 64, "class_name": "RelatedNodeInfo"}},
        "text": text,
        "mimetype": "text/plain",
        "start_char_idx": 0,
        "end_char_idx": len(text),
        "text_template": "{metadata_str}\n\n{content}",
        "metadata_template": "{key}: {value}",
        "metadata_seperator": "\n",
        "class_name": "TextNode",
    }


def dump(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f)


def store(name, nodes, namespaces, nodes_dict=None, extra=None):
    """nodes: [(id, text, metadata)]; namespaces: {ns: [(id, vector) or raw bytes]}."""
    d = os.path.join(ROOT, name)
    os.makedirs(d)
    dump(os.path.join(d, "docstore.json"), {
        "docstore/metadata": {i: {"doc_hash": "0" * 64, "ref_doc_id": "doc-1"} for i, _, _ in nodes},
        "docstore/data": {i: {"__data__": text_node(i, t, m), "__type__": "1"} for i, t, m in nodes},
        "docstore/ref_doc_info": {"doc-1": {"node_ids": [i for i, _, _ in nodes], "metadata": {}}},
    })
    for ns, entries in namespaces.items():
        path = os.path.join(d, f"{ns}__vector_store.json")
        if isinstance(entries, bytes):
            with open(path, "wb") as f:
                f.write(entries)
            continue
        meta = {i: m for i, _, m in nodes}
        dump(path, {
            "embedding_dict": {i: v for i, v in entries},
            "text_id_to_ref_doc_id": {i: "doc-1" for i, _ in entries},
            "metadata_dict": {i: dict(meta.get(i, {}), _node_type="TextNode", document_id="doc-1", doc_id="doc-1", ref_doc_id="doc-1") for i, _ in entries},
        })
    if nodes_dict is None:
        nodes_dict = {i: i for entries in namespaces.values() if not isinstance(entries, bytes) for i, _ in entries}
    struct_data = {"index_id": "index-1", "summary": None, "nodes_dict": nodes_dict, "doc_id_dict": {}, "embeddings_dict": {}}
    dump(os.path.join(d, "index_store.json"), {"index_store/data": {"index-1": {"__type__": "vector_store", "__data__": json.dumps(struct_data)}}})
    dump(os.path.join(d, "graph_store.json"), {"graph_dict": {}})
    for file, value in (extra or {}).items():
        dump(os.path.join(d, file), value)


def faiss_flat(fourcc, matrix):
    n, d = matrix.shape
    metric = 1 if fourcc == b"IxF2" else 0
    header = fourcc + struct.pack("<iqqqBi", d, n, 1 << 20, 1 << 20, 1, metric)
    return header + struct.pack("<Q", n * d) + matrix.astype("<f4").tobytes()


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)

    # Two namespaces of different dimensions; ids that look like integers (a JS object would put
    # them first) and a "__proto__" metadata key; unicode and control characters in the text.
    nodes = [
        ("b-node", "second in id order, first in the file \u00e9\u4e2d\U0001F600", {"file_name": "a.txt", "__proto__": {"polluted": True}}),
        ("7", "an integer-like id\tafter a string one\n", {"page": 7}),
        ("2", "another integer-like id, smaller, written later", {"nested": {"k": [1, 2.5, None, "x"]}}),
        ("img-1", "", {"file_name": "cat.png"}),
        ("img-2", "a caption \\ with a backslash and \"quotes\"", {}),
    ]
    store("two-namespaces", nodes, {
        "default": [("b-node", vec(4)), ("7", vec(4)), ("2", vec(4))],
        "image": [("img-1", vec(3)), ("img-2", vec(3))],
    })
    # A docstore entry no vector store points at, without text (an index struct node): not a record.
    path = os.path.join(ROOT, "two-namespaces", "docstore.json")
    with open(path, encoding="utf-8") as f:
        docstore = json.load(f)
    docstore["docstore/data"]["index-node"] = {"__data__": {"id_": "index-node", "index_id": "index-1", "class_name": "IndexNode"}, "__type__": "3"}
    dump(path, docstore)

    # The vector index lists a node whose embedding is missing from the vector store.
    nodes = [("n1", "one", {}), ("n2", "two", {}), ("n3", "three: listed, no embedding", {})]
    store("node-without-embedding", nodes, {"default": [("n1", vec(4)), ("n2", vec(4))]}, nodes_dict={"n1": "n1", "n2": "n2", "n3": "n3"})

    # The vector store holds an embedding for a node the docstore does not have.
    nodes = [("n1", "one", {}), ("n2", "two", {})]
    store("id-mismatch", nodes, {"default": [("n1", vec(4)), ("n2", vec(4)), ("stray", vec(4))]}, nodes_dict={"n1": "n1", "n2": "n2"})

    # PropertyGraphIndex(embed_kg_nodes=True) over SimplePropertyGraphStore: the entities'
    # embeddings share default__vector_store.json with the text chunks.
    nodes = [("chunk-1", "Alice works at Acme.", {"file_name": "people.txt"})]
    graph = {
        "nodes": {
            "Alice": {"label": "PERSON", "embedding": None, "properties": {"triplet_source_id": "chunk-1"}, "name": "Alice"},
            "Acme": {"label": "ORGANIZATION", "embedding": None, "properties": {"triplet_source_id": "chunk-1"}, "name": "Acme"},
        },
        "relations": {"WORKS_AT": {"label": "WORKS_AT", "source_id": "Alice", "target_id": "Acme", "properties": {}}},
        "triplets": [["Alice", "WORKS_AT", "Acme"]],
    }
    store("property-graph", nodes, {"default": [("Alice", vec(4)), ("chunk-1", vec(4)), ("Acme", vec(4))]}, nodes_dict={"chunk-1": "chunk-1"},
          extra={"property_graph_store.json": graph})

    # Vectors that do not fit one table: two dimensions in one namespace; a value beyond float32.
    nodes = [("n1", "one", {}), ("n2", "two", {})]
    store("ragged", nodes, {"default": [("n1", vec(4)), ("n2", vec(3))]})
    store("beyond-float32", nodes, {"default": [("n1", vec(4)), ("n2", [0.5, 1e39, 0.25, 0.125])]})

    # FaissVectorStore over an IndexFlatIP: positions map to nodes through nodes_dict.
    nodes = [(f"f{i}", f"faiss node {i}", {"i": i}) for i in range(3)]
    matrix = rng.standard_normal((3, 5)).astype("<f4")
    store("faiss-ip", nodes, {"default": faiss_flat(b"IxFI", matrix)}, nodes_dict={"0": "f2", "1": "f0", "2": "f1"})

    # FaissVectorStore over an HNSW index (fourcc IHNf): refused, naming the type.
    header = b"IHNf" + struct.pack("<iqqqBi", 5, 3, 1 << 20, 1 << 20, 1, 1)
    store("faiss-hnsw", nodes, {"default": header + b"\0" * 64}, nodes_dict={"0": "f0", "1": "f1", "2": "f2"})


if __name__ == "__main__":
    main()
