"""psycopg 3 with prepare_threshold=0 (every query a named prepared
statement) from many threads, each with its own connection, through a
pooler in transaction mode. Checks every result; exits non-zero on any
mismatch or error.

usage: prepared_threads.py HOST PORT USER DBNAME THREADS QUERIES
"""

import sys
import threading

import psycopg

host, port, user, dbname = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
threads, queries = int(sys.argv[5]), int(sys.argv[6])
errors = []


def work(n):
    try:
        with psycopg.connect(
            host=host, port=port, user=user, dbname=dbname,
            prepare_threshold=0, autocommit=True, sslmode="disable",
        ) as conn:
            for i in range(queries):
                # A handful of distinct texts, shared by all threads.
                row = conn.execute(
                    "SELECT %s::int * 2, %s::text || '-x'", (n * 1000 + i, f"t{n}")
                ).fetchone()
                if row != ((n * 1000 + i) * 2, f"t{n}-x"):
                    errors.append(f"thread {n} query {i}: {row!r}")
                row = conn.execute(
                    "SELECT count(*) FROM generate_series(1, %s)", (i + 1,)
                ).fetchone()
                if row != (i + 1,):
                    errors.append(f"thread {n} count {i}: {row!r}")
                with conn.transaction():
                    row = conn.execute("SELECT %s::int + 1", (i,)).fetchone()
                    if row != (i + 1,):
                        errors.append(f"thread {n} tx {i}: {row!r}")
            # A tiny client-side cache: psycopg rotates it by sending
            # "DEALLOCATE _pg3_n" (an unnamed extended-protocol query).
            conn.prepared_max = 2
            for i in range(queries):
                k = i % 5
                row = conn.execute(
                    f"SELECT %s::int + {k}", (n,)
                ).fetchone()
                if row != (n + k,):
                    errors.append(f"thread {n} rotate {i}: {row!r}")
    except Exception as e:  # noqa: BLE001 - report everything
        errors.append(f"thread {n}: {type(e).__name__}: {e}")


pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
for t in pool:
    t.start()
for t in pool:
    t.join()
if errors:
    print("\n".join(errors[:20]))
    sys.exit(1)
print("ok")
