#!/usr/bin/env python3
"""Test oracle: reads the texts of every store under a user_data root with Python's own json and
cryptography.fernet and the application's key derivation, printing JSON to stdout:
  { "<user>/<collection>": { "texts": [str|null, ...], "vectors"?: [[float, ...], ...] } | { "error": str } }
A text is null where the entry has no string under text/page_content/content. With --vectors, the
stored vectors too, through Python's own pickle restricted to numpy's reconstruction globals (a
hostile pickle is reported as an error, never run).
"""
import json
import os
import pickle
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


NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return super().find_class(module, name)


def vectors_of(path):
    with open(path, "rb") as f:
        obj = NumpyOnlyUnpickler(f).load()
    return [[float(x) for x in v] for v in obj]


def main():
    args = [a for a in sys.argv[1:] if a != "--vectors"]
    with_vectors = "--vectors" in sys.argv
    root, master_key = args[0], (args[1] if len(args) > 1 and args[1] else None)
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
                if with_vectors:
                    result[key]["vectors"] = vectors_of(os.path.join(root, user, store, "vectors.pkl"))
            except (OSError, InvalidToken, ValueError, pickle.UnpicklingError) as e:
                result[key] = {"error": type(e).__name__}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
