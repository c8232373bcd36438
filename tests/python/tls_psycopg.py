#!/usr/bin/python3
"""Connect with psycopg 3 (libpq) over TLS and report what it saw.

Usage: tls_psycopg.py CONNINFO

CONNINFO carries sslmode, sslrootcert and so on. Runs
`SELECT current_user, 6 * 7` and prints one line

    ssl_in_use=<True|False>\tuser=<current_user>\tvalue=<42>

Exits 1 with the error on stderr if the connection or query fails, and 3
if psycopg is not installed (the caller skips).
"""

import sys

try:
    import psycopg
except ImportError:
    print("psycopg is not installed", file=sys.stderr)
    sys.exit(3)


def main():
    with psycopg.connect(sys.argv[1], autocommit=True) as conn:
        user, value = conn.execute("SELECT current_user, 6 * 7").fetchone()
        print("ssl_in_use=%s\tuser=%s\tvalue=%s" % (conn.pgconn.ssl_in_use, user, value))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except psycopg.Error as e:
        print("psycopg error: %s" % e, file=sys.stderr)
        sys.exit(1)
