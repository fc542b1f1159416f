#!/usr/bin/env python3
"""Writes the benchmark corpus: a user_data tree the way the original application wrote it.

Like make_user_data.py (whose per-user key derivation it uses), it is written by Python's own
pickle, numpy and cryptography.fernet, never by the code under test. Unlike it, it aims at volume
and a realistic spread of text lengths rather than at format variety:

  - texts of 20 to 500 tokens (log-normal word counts, median ~110 words; the words are common
    English words, about one MiniLM token each), some with non-ASCII characters;
  - a share of exact duplicate texts (--dup-rate), within a store and across users;
  - vectors of --dims float32 values (unit length), pickled the common way (a list of lists of
    Python floats, see FORMAT.md), so `--embeddings keep` has something to load;
  - metadata Fernet-encrypted with the application's per-user key (master key --master-key).

  python3 scripts/bench_corpus.py --out bench-data/e2e-1000 --docs 1000
  python3 scripts/bench_corpus.py --out bench-data/e2e-100000 --docs 100000 --users 1

Writes <out>/user_data/<user>/vector_store_personal_assistant/{vectors.pkl,metadata.json} and
<out>/corpus.json (counts, the seed, the master key). Deterministic for a given seed (Fernet's IV
and timestamp aside).
"""
import argparse
import json
import os
import pickle
import random
import sys

import numpy as np
from cryptography.fernet import Fernet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_user_data import user_key  # noqa: E402  (the application's key derivation)

BENCH_MASTER_KEY = "W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE="

WORDS = ("the of and to in is for on with as by at from that this it be are was or an not have has "
         "vector store memory embedding user search note career travel recipe budget meeting python "
         "index query summary draft idea reminder project garden music book family friend school work "
         "home city country water food health money time year day week month morning evening plan "
         "report team client order price market data model code test review design paper story letter "
         "phone email call visit trip hotel flight train car road map photo video game sport run walk "
         "read write learn teach help ask answer question problem result change start finish open close").split()
EXTRAS = ["naïve café", "Ünïcödé", "日本語", "🙂", "résumé", "\"quoted\"", "tab\there", "line\nbreak"]


def text_of(rng, min_tokens, max_tokens):
    # Log-normal word counts: many short notes, a long tail of long ones, clipped to the range.
    n = int(round(rng.lognormvariate(4.7, 0.75)))
    n = max(min_tokens, min(max_tokens - 2, n))  # -2: [CLS] and [SEP]
    words = [rng.choice(WORDS) for _ in range(n)]
    if rng.random() < 0.2:
        words[rng.randrange(n)] = rng.choice(EXTRAS)
    return " ".join(words)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--docs", type=int, required=True, help="documents in total")
    ap.add_argument("--users", type=int, default=1, help="users, one store each, documents split evenly")
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--dup-rate", type=float, default=0.03, help="share of texts that repeat an earlier one")
    ap.add_argument("--min-tokens", type=int, default=20)
    ap.add_argument("--max-tokens", type=int, default=500)
    ap.add_argument("--master-key", default=BENCH_MASTER_KEY)
    ap.add_argument("--seed", type=int, default=20251106)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    nprng = np.random.default_rng(args.seed)
    base = os.path.join(args.out, "user_data")
    os.makedirs(base, exist_ok=True)
    seen = []  # earlier texts (all users), for duplicates
    stores = []
    per_user = [args.docs // args.users + (1 if u < args.docs % args.users else 0) for u in range(args.users)]
    for u, count in enumerate(per_user):
        user = f"bench_user{u}_example_com"
        d = os.path.join(base, user, "vector_store_personal_assistant")
        os.makedirs(d, exist_ok=True)
        texts = []
        for _ in range(count):
            if seen and rng.random() < args.dup_rate:
                texts.append(rng.choice(seen))
            else:
                t = text_of(rng, args.min_tokens, args.max_tokens)
                texts.append(t)
                if len(seen) < 10000:
                    seen.append(t)
        matrix = nprng.standard_normal((count, args.dims), dtype=np.float32)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        with open(os.path.join(d, "vectors.pkl"), "wb") as f:
            pickle.dump(matrix.astype(np.float64).tolist(), f, protocol=4)
        del matrix
        metadata = [{"id": f"doc_{i}_{1762421400 + i}.5", "text": t, "timestamp": "2025-11-06T09:30:00", "source": rng.choice(["upload", "chat"])}
                    for i, t in enumerate(texts)]
        raw = json.dumps(metadata, indent=2).encode("utf-8")
        with open(os.path.join(d, "metadata.json"), "wb") as f:
            f.write(Fernet(user_key(user, args.master_key)).encrypt(raw))
        stores.append({"user": user, "collection": "personal_assistant", "entries": count, "distinct": len(set(texts))})
    with open(os.path.join(args.out, "corpus.json"), "w") as f:
        json.dump({"master_key": args.master_key, "seed": args.seed, "docs": args.docs, "dims": args.dims, "stores": stores}, f, indent=1)


if __name__ == "__main__":
    main()
