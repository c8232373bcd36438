#!/usr/bin/python3
"""Direct TLS (PostgreSQL 17 `sslnegotiation=direct`) with Python's ssl.

Usage: tls_direct.py PORT CAFILE USER DATABASE

On a raw TCP connection to 127.0.0.1:PORT, with no SSLRequest, a TLS
handshake is started at once (server name "localhost", the CA in CAFILE
trusted), three times: ALPN ["postgresql"], no ALPN, ALPN ["http/1.1"].
After the handshake a StartupMessage for USER and DATABASE is sent inside
TLS and the replies are read up to ReadyForQuery or an ErrorResponse.
One line per case:

    <case>\tok\talpn=<selected or None>\ttags=<message type letters>[\tauth=<code>]
    <case>\terror\t<exception text>

where <case> is postgresql, none or http/1.1. A TLS 1.3 server may reject
after the client's side of the handshake is done, so an alert can surface
on the first read; both places count as "error". Exits 0 unless the
arguments are wrong.
"""

import socket
import ssl
import struct
import sys


def startup(user, database):
    body = struct.pack("!I", 196608)
    for key, value in (("user", user), ("database", database)):
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def read_replies(sock):
    """Message type letters up to Z or E, and the first auth code."""
    buf = b""
    tags = ""
    auth = None
    while True:
        while len(buf) >= 5:
            length = struct.unpack("!I", buf[1:5])[0]
            if len(buf) < 1 + length:
                break
            tag = chr(buf[0])
            body = buf[5:1 + length]
            buf = buf[1 + length:]
            tags += tag
            if tag == "R" and auth is None:
                auth = struct.unpack("!I", body[:4])[0]
            if tag in "ZE":
                return tags, auth
        data = sock.recv(65536)
        if not data:
            return tags + "<closed>", auth
        buf += data


def attempt(port, cafile, user, database, alpn):
    ctx = ssl.create_default_context(cafile=cafile)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        selected = tls.selected_alpn_protocol()
        tls.sendall(startup(user, database))
        tags, auth = read_replies(tls)
        line = "ok\talpn=%s\ttags=%s" % (selected, tags)
        if auth is not None:
            line += "\tauth=%d" % auth
        return line
    except (OSError, ssl.SSLError) as e:
        return "error\t%s" % e
    finally:
        raw.close()


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    port, cafile, user, database = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    for case, alpn in (("postgresql", ["postgresql"]), ("none", None), ("http/1.1", ["http/1.1"])):
        print("%s\t%s" % (case, attempt(port, cafile, user, database, alpn)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
