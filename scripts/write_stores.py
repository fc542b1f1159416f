#!/usr/bin/env python3
"""Writes stores exactly as given, the way the original application's SimpleVectorStore did.

For tests that need particular contents (several master keys in one tree, hostile metadata keys,
bytes that are not UTF-8): Python's own pickle, json and cryptography.fernet write every file, with
the application's per-user key derivation, never the TypeScript encoder.

Reads a JSON spec on stdin:
  { "root": dir, "stores": [ { "user", "collection",
      "master_key": str | null,    # the key derivation: null is the default per-user key
      "encrypt": bool,             # metadata.json as one Fernet token, or plain JSON
      "entries": [ {...} ],        # written with json.dumps (the application's writer)
      "raw_metadata_hex": str,     # instead of entries: these exact plaintext bytes
      "dims": int } ] }            # vectors.pkl: len(entries) lists of floats (protocol 4)
Prints {"stores": [{"user", "collection", "entries": n}]}.
"""
import json
import os
import pickle
import sys

from cryptography.fernet import Fernet

sys.path.insert(0, os.path.dirname(__file__))
from make_user_data import user_key  # noqa: E402  (the application's derivation, FORMAT.md)


def main():
    spec = json.load(sys.stdin)
    out = []
    for s in spec["stores"]:
        d = os.path.join(spec["root"], s["user"], f"vector_store_{s['collection']}")
        os.makedirs(d, exist_ok=True)
        if "raw_metadata_hex" in s:
            plain = bytes.fromhex(s["raw_metadata_hex"])
            count = s["count"]
        else:
            plain = json.dumps(s["entries"]).encode("utf-8")
            count = len(s["entries"])
        dims = s.get("dims", 4)
        vectors = [[float((i * 7 + j) % 11) - 5.0 + 0.25 * j for j in range(dims)] for i in range(count)]
        with open(os.path.join(d, "vectors.pkl"), "wb") as f:
            pickle.dump(vectors, f, protocol=4)
        data = Fernet(user_key(s["user"], s["master_key"])).encrypt(plain) if s["encrypt"] else plain
        with open(os.path.join(d, "metadata.json"), "wb") as f:
            f.write(data)
        out.append({"user": s["user"], "collection": s["collection"], "entries": count})
    json.dump({"stores": out}, sys.stdout)


if __name__ == "__main__":
    main()
