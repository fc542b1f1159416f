#!/usr/bin/env python3
"""Writes a user_data tree the way the original application's SimpleVectorStore did.

Uses Python's own pickle, numpy and cryptography.fernet (the reference implementations) and the
application's per-user key derivation, so the TypeScript reader is tested against real output,
never against its own encoder. Deterministic for a given --seed (Fernet's IV and timestamp are
random by design, so token bytes differ between runs; their plaintext does not).

Writes <out>/user_data/... and <out>/expected.json:
  { "master_key": str|null, "stores": [ { "user", "collection", "entries", "vectors", "dims",
    "status": "ok"|"failed", "code": str|null, "texts": [str|null per entry] } ] }
"""
import argparse
import base64
import hashlib
import json
import os
import pickle
import random

import numpy as np
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

WORDS = ("vector store memory embedding user search note career travel recipe budget meeting "
         "python postgres index query summary draft idea reminder project garden music book").split()


def user_key(user_id, master_key):
    """The application's derivation (see FORMAT.md)."""
    if master_key:
        try:
            master = base64.urlsafe_b64decode(master_key)
        except Exception:
            master = master_key.encode()
        kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=user_id.encode(), iterations=100000)
        material = kdf.derive(master)
    else:
        material = hashlib.sha256(f"default_key_{user_id}".encode()).digest()
    return base64.urlsafe_b64encode(material)


def sentence(rng, extra):
    n = rng.randint(3, 60)
    words = [rng.choice(WORDS) for _ in range(n)]
    if extra:
        words.insert(rng.randrange(len(words)), rng.choice(["naïve café", "Ünïcödé", "日本語", "🙂", "tab\there", "line\nbreak", "back\\slash", '"quoted"']))
    return " ".join(words)


def write_store(base, user, collection, rng, dims, count, master_key, encrypt, shape, protocol):
    d = os.path.join(base, user, f"vector_store_{collection}")
    os.makedirs(d, exist_ok=True)
    texts = [sentence(rng, rng.random() < 0.3) for _ in range(count)]
    matrix = np.array([[rng.gauss(0, 1) for _ in range(dims)] for _ in range(count)], dtype=np.float32).reshape(count, dims)
    if shape == "lists":
        vectors = [[float(x) for x in row] for row in matrix.astype(np.float64)]
    elif shape == "arrays":
        vectors = [row.copy() for row in matrix]
    else:
        vectors = matrix
    with open(os.path.join(d, "vectors.pkl"), "wb") as f:
        pickle.dump(vectors, f, protocol=protocol)
    metadata = []
    for i, t in enumerate(texts):
        key = rng.choice(["text", "text", "text", "page_content", "content"])
        entry = {"id": f"doc_{i}_{1762421400 + i}.5", key: t, "timestamp": "2025-11-06T09:30:00", "source": rng.choice(["upload", "chat"])}
        if rng.random() < 0.3:
            entry["tags"] = [rng.choice(WORDS), {"n": rng.randint(0, 9)}]
        metadata.append(entry)
    raw = json.dumps(metadata, indent=2).encode("utf-8")
    with open(os.path.join(d, "metadata.json"), "wb") as f:
        f.write(Fernet(user_key(user, master_key)).encrypt(raw) if encrypt else raw)
    return texts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--users", type=int, default=5)
    ap.add_argument("--master-key", default=None)
    ap.add_argument("--max-entries", type=int, default=40)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    base = os.path.join(args.out, "user_data")
    os.makedirs(base, exist_ok=True)
    stores = []
    for u in range(args.users):
        user = f"user{u}_{rng.choice(['example_com', 'corp', 'x-y'])}"
        for c in range(rng.randint(1, 2)):
            collection = "personal_assistant" if c == 0 else rng.choice(["notes", "work-docs", "journal_2024"])
            dims = rng.choice([8, 96, 384, 768, 1536, 3072])
            count = rng.randint(0, args.max_entries)
            shape = rng.choice(["lists", "arrays", "matrix"])
            protocol = rng.choice([2, 3, 4, 5])
            encrypt = rng.random() < 0.7
            texts = write_store(base, user, collection, rng, dims, count, args.master_key, encrypt, shape, protocol)
            stores.append({"user": user, "collection": collection, "entries": count, "vectors": count, "dims": dims,
                           "status": "ok", "code": None, "texts": texts, "encrypted": encrypt, "shape": shape, "protocol": protocol})
    # One store whose counts disagree and one whose token was encrypted for another user: both must fail.
    texts = write_store(base, "mismatch_user", "personal_assistant", rng, 16, 4, args.master_key, False, "lists", 4)
    with open(os.path.join(base, "mismatch_user", "vector_store_personal_assistant", "vectors.pkl"), "wb") as f:
        pickle.dump([[0.5] * 16 for _ in range(3)], f, protocol=4)
    stores.append({"user": "mismatch_user", "collection": "personal_assistant", "entries": 4, "vectors": 3, "dims": 16,
                   "status": "failed", "code": "E_COUNT_MISMATCH", "texts": texts})
    d = os.path.join(base, "wrong_key_user", "vector_store_personal_assistant")
    write_store(base, "wrong_key_user", "personal_assistant", rng, 16, 2, args.master_key, False, "lists", 4)
    raw = json.dumps([{"text": "a"}, {"text": "b"}]).encode()
    with open(os.path.join(d, "metadata.json"), "wb") as f:
        f.write(Fernet(user_key("someone_else", args.master_key)).encrypt(raw))
    stores.append({"user": "wrong_key_user", "collection": "personal_assistant", "entries": None, "vectors": 2, "dims": 16,
                   "status": "failed", "code": "E_DECRYPT", "texts": []})
    os.makedirs(os.path.join(base, "user0_extra", "interview_data"), exist_ok=True)
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump({"master_key": args.master_key, "stores": stores}, f, indent=1)


if __name__ == "__main__":
    main()
