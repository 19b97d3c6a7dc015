# SPDX-License-Identifier: MIT
"""CPython: a real script (threads, a process pool's worth of work on threads, json, sqlite3,
hashlib, files, a subprocess). It must run clean and unchanged under `lifeguard verify`, with
the same output; the driver runs it with `python3 -c "$(cat py_real.py)" DIR`.
"""
import concurrent.futures
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading

directory = sys.argv[1]
lock = threading.Lock()
totals = {}


def work(n):
    data = json.dumps({"n": n, "items": [i * n for i in range(200)]}).encode()
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(directory, f"item-{n}.json")
    with open(path, "wb") as f:
        f.write(data)
    with open(path, "rb") as f:
        back = json.loads(f.read())
    os.unlink(path)
    with lock:
        totals[n] = sum(back["items"])
    return digest[:8]


with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    digests = list(pool.map(work, range(32)))

db = sqlite3.connect(":memory:")
db.execute("create table t (n integer, total integer)")
db.executemany("insert into t values (?, ?)", sorted(totals.items()))
count, grand = db.execute("select count(*), sum(total) from t").fetchone()
db.close()

child = subprocess.run([sys.executable, "-c", "print(sum(range(1000)))"], capture_output=True,
                       text=True, check=True)
print(f"{count} rows, total {grand}, first digests {' '.join(digests[:4])}")
print(f"child said {child.stdout.strip()}")
