#!/usr/bin/env python3
"""Writes fixtures/source/*.json: what Python itself computes, for the tests of src/source/.

The tests also ask python3 live when it is there; these files keep the same checks running on a
machine without python3 or without the `cryptography` package.

    python3 scripts/make-source-fixtures.py        # from the repository root

Outputs:
  fixtures/source/base64-cases.json  inputs -> base64.urlsafe_b64decode result (hex) or the error
  fixtures/source/user-keys.json     (user id, master key) -> Fernet key material (hex), derived
                                     the way the source application did (FORMAT.md)
"""
import base64
import hashlib
import json
import os
import random

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "source")


def b64(s):
    try:
        return {"input": s, "hex": base64.urlsafe_b64decode(s).hex()}
    except Exception as e:  # binascii.Error, or ValueError for a non-ASCII str
        return {"input": s, "error": type(e).__name__}


def master_key_bytes(master_key):
    # The application's rule: decoded if urlsafe_b64decode accepts it, else the UTF-8 bytes.
    try:
        return base64.urlsafe_b64decode(master_key)
    except Exception:
        return master_key.encode("utf-8")


def derive(user_id, master_key):
    if master_key is None:
        return hashlib.sha256(("default_key_" + user_id).encode("utf-8")).digest()
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=user_id.encode("utf-8"), iterations=100000)
    return kdf.derive(master_key_bytes(master_key))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(20251106)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/" + "=" * 30 + " \n!.%"
    cases = [
        "W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE=", "mysecret", "my secret!", "abc",
        "hello-world_key", "a=bc", "ab==cd", "YWJjZA==extra", "", "=", "==", "a", "ab", "ab=",
        "ab==", "abc=", "=ab==", "ab=c=", "ab===x", "clé", "ab\u00e9==", "a===", "a===b", "a=b=",
        "abc==", "abcd=", "abcd==x", "a b=c=", "ab=!=", "ab= =", "ab=cdef=", "ab=cdef=gh",
    ]
    cases += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(300)]
    with open(os.path.join(OUT, "base64-cases.json"), "w") as f:
        json.dump([b64(s) for s in cases], f, indent=1, ensure_ascii=True)
        f.write("\n")

    pairs = [
        ("alice_example_com", "W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE="),
        ("bob", "W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE="),
        ("mycguo_gmail_com", "mysecret"),
        ("mycguo_gmail_com", "my secret!"),
        ("erin", "abc"),
        ("erin", "hello-world_key"),
        ("x", "clé"),
        ("x", ""),
        ("alice_example_com", None),
        ("a-b_c", None),
    ]
    keys = [{"user": u, "master_key": m, "material_hex": derive(u, m).hex()} for u, m in pairs]
    with open(os.path.join(OUT, "user-keys.json"), "w") as f:
        json.dump(keys, f, indent=1, ensure_ascii=True)
        f.write("\n")


if __name__ == "__main__":
    main()
