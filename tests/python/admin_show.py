#!/usr/bin/python3
"""Run admin-console commands through psycopg 3, as monitoring scripts do.

Usage: admin_show.py CONNINFO COMMAND...

The connection is in autocommit mode and commands carry no parameters, so
psycopg sends each one with the simple query protocol (the only one the
console speaks). For every command it prints

    cols<TAB>COMMAND<TAB>name:oid,name:oid,...
    row<TAB>COMMAND<TAB>value<TAB>value...      (one line per row)

and exits non-zero on the first error, with the error on stderr.
"""

import sys

import psycopg


def text(value):
    return "NULL" if value is None else str(value)


def main():
    conninfo, commands = sys.argv[1], sys.argv[2:]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for command in commands:
            cur = conn.execute(command)
            columns = cur.description or []
            print("cols\t%s\t%s" % (
                command,
                ",".join("%s:%d" % (c.name, c.type_code) for c in columns),
            ))
            if columns:
                for row in cur.fetchall():
                    print("row\t%s\t%s" % (command, "\t".join(text(v) for v in row)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except psycopg.Error as e:
        print("psycopg error: %s" % e, file=sys.stderr)
        sys.exit(1)
