#!/usr/bin/env python3
"""Test oracle: reads the texts of every store under a user_data root with Python's own json and
cryptography.fernet and the application's key derivation, printing JSON to stdout:
  { "<user>/<collection>": { "texts": [str|null, ...] } | { "error": str } }
A text is null where the entry has no string under text/page_content/content. vectors.pkl is never
unpickled here (it may be hostile).
"""
import json
import os
import re
import sys

from cryptography.fernet import Fernet, InvalidToken

sys.path.insert(0, os.path.dirname(__file__))
from make_user_data import user_key  # noqa: E402

SANITIZED = re.compile(r"^[A-Za-z0-9-]+(_[A-Za-z0-9-]+)*$")


def texts_of(path, user, master_key):
    raw = open(path, "rb").read()
    if raw.lstrip().startswith(b"gAAAAA"):
        raw = Fernet(user_key(user, master_key)).decrypt(raw.strip())
    out = []
    for entry in json.loads(raw):
        text = next((entry[k] for k in ("text", "page_content", "content") if isinstance(entry.get(k), str)), None)
        out.append(text)
    return out


def main():
    root, master_key = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None)
    result = {}
    for user in sorted(os.listdir(root)):
        if not SANITIZED.match(user):
            continue
        for store in sorted(os.listdir(os.path.join(root, user))):
            if not store.startswith("vector_store_"):
                continue
            key = f"{user}/{store[len('vector_store_'):]}"
            meta = os.path.join(root, user, store, "metadata.json")
            try:
                result[key] = {"texts": texts_of(meta, user, master_key)}
            except (OSError, InvalidToken, ValueError) as e:
                result[key] = {"error": type(e).__name__}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
