#!/usr/bin/env python3
"""Writes a user_data tree of many users with random unit vectors, for the per-user search tests.

Python's own pickle and numpy write the stores (the reference implementations), one 2-D float32
ndarray per store, metadata as the application wrote it (plain JSON). Deterministic for a --seed.
With --conflict-user U, U's entries carry a metadata "user_id" naming someone else (as a source
may), to test what --owner-in-metadata does with it.

Writes <out>/user_data/{user}/vector_store_personal_assistant/ and <out>/expected.json:
  { "users": [str], "rows": int, "dims": int }
"""
import argparse
import json
import os
import pickle

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--dims", type=int, default=32)
    ap.add_argument("--conflict-user", default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    users = [f"user{u:02d}" for u in range(args.users)]
    for user in users:
        d = os.path.join(args.out, "user_data", user, "vector_store_personal_assistant")
        os.makedirs(d, exist_ok=True)
        matrix = rng.standard_normal((args.rows, args.dims)).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        with open(os.path.join(d, "vectors.pkl"), "wb") as f:
            pickle.dump(matrix, f, protocol=4)
        metadata = []
        for i in range(args.rows):
            entry = {"id": f"doc_{i}_{1762421400 + i}.5", "text": f"{user} note {i}", "timestamp": "2025-11-06T09:30:00", "source": "upload"}
            if user == args.conflict_user:
                entry["user_id"] = "mallory"
            metadata.append(entry)
        with open(os.path.join(d, "metadata.json"), "w", encoding="utf-8") as f:
            json.dump(metadata, f)
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump({"users": users, "rows": args.rows, "dims": args.dims}, f)


if __name__ == "__main__":
    main()
