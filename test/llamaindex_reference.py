"""Independent reading of a LlamaIndex persist directory, for test/llamaindex-reader.test.ts.

Python's json, struct and numpy only (no llama_index): prints one JSON object
{"flavor", "collections": {namespace: [{"id", "text", "metadata", "vector"}]}, "skipped": {namespace: n}}
where "vector" is the float32 little-endian bytes in hex. Records are the nodes a vector store holds
an embedding for, in the vector store's file order (FAISS: position order), text from the docstore,
metadata = the vector store's metadata_dict entry updated with the node's metadata (0.6: extra_info),
plus ref_doc_id from text_id_to_ref_doc_id (0.6 text_id_to_doc_id, TS textIdToRefDocId) when absent.
"""
import json
import os
import re
import struct
import sys

import numpy as np


def load(path):
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def unwrap(value):
    return json.loads(value) if isinstance(value, str) else value


def main(d):
    names = set(os.listdir(d))
    flavor = "ts" if "doc_store.json" in names else "python"
    doc = load(os.path.join(d, "doc_store.json" if flavor == "ts" else "docstore.json"))
    nodes = {node_id: unwrap(entry["__data__"]) for node_id, entry in doc["docstore/data"].items()}

    def node(node_id):
        data = nodes[node_id]
        text = data["text"] if isinstance(data.get("text"), str) else data["text_resource"]["text"]
        meta = data["metadata"] if "metadata" in data else data.get("extra_info")
        return text, meta or {}

    index_nodes = []
    if "index_store.json" in names:
        top = load(os.path.join(d, "index_store.json"))
        for entry in top["docstore/data" if flavor == "ts" else "index_store/data"].values():
            if flavor == "ts":
                index_nodes.append({k: k for k in entry["nodesDict"]})
            elif entry["__type__"] == "vector_store":
                index_nodes.append(unwrap(entry["__data__"])["nodes_dict"])
    entities = set()
    for name in names:
        if name.endswith("property_graph_store.json"):
            entities |= set((load(os.path.join(d, name)).get("nodes") or {}).keys())
    emb_key, meta_key = ("embeddingDict", "metadataDict") if flavor == "ts" else ("embedding_dict", "metadata_dict")
    ref_keys = ["textIdToRefDocId"] if flavor == "ts" else ["text_id_to_ref_doc_id", "text_id_to_doc_id"]
    files = {m.group(1): n for n in names if (m := re.match(r"^(.+)__vector_store\.json$", n))}
    if "vector_store.json" in names:
        files["default"] = "vector_store.json"
    out = {"flavor": flavor, "collections": {}, "skipped": {}}
    for ns, name in sorted(files.items()):
        path = os.path.join(d, name)
        with open(path, "rb") as f:
            raw = f.read()
        records, skipped = [], 0
        if raw[:4] in (b"IxF2", b"IxFI"):
            dim, ntotal = struct.unpack_from("<iq", raw, 4)
            (nfloats,) = struct.unpack_from("<Q", raw, 37)
            assert nfloats == dim * ntotal and len(raw) == 45 + 4 * nfloats
            matrix = np.frombuffer(raw, dtype="<f4", count=nfloats, offset=45).reshape(ntotal, dim)
            positions = [m for m in index_nodes if m and all(k.isdigit() for k in m)]
            assert len(positions) == 1
            for p in range(ntotal):
                node_id = positions[0][str(p)]
                text, meta = node(node_id)
                records.append({"id": node_id, "text": text, "metadata": meta, "vector": matrix[p].tobytes().hex()})
        else:
            vs = json.loads(raw.decode("utf-8"))
            meta_dict = vs.get(meta_key) or {}
            ref_docs = {}
            for k in ref_keys:
                ref_docs.update(vs.get(k) or {})
            for node_id, emb in vs[emb_key].items():
                if node_id not in nodes and node_id in entities:
                    skipped += 1
                    continue
                text, meta = node(node_id)
                merged = dict(meta_dict.get(node_id) or {})
                merged.update(meta)
                if "ref_doc_id" not in merged and isinstance(ref_docs.get(node_id), str):
                    merged["ref_doc_id"] = ref_docs[node_id]
                records.append({"id": node_id, "text": text, "metadata": merged, "vector": np.asarray(emb, dtype="<f4").tobytes().hex()})
        out["collections"][ns] = records
        out["skipped"][ns] = skipped
    json.dump(out, sys.stdout, ensure_ascii=True)


if __name__ == "__main__":
    main(sys.argv[1])
