#!/usr/bin/env python3
"""NAT behaviour probe for the icephone lab (RFC 4787 mapping and filtering).

server: runs on the probe host, listening on 203.0.113.50 and .51, ports 4000 and 4001.
    "MAP"    -> replies "MAPPED <ip> <port>" (the source it saw) from the socket it came in on.
    "FILTER" -> replies "CTRL" from the same socket, "PORT" from the same address and the
                other port, "ADDR" from the other address and the same port: the last two
                are unsolicited for the client's NAT.
    anything else -> echoed back to its source (a peer for TURN relay tests).

client: runs on a LAN host; prints one JSON object:
    {"mapping": "EIM"|"ADM"|"APDM"|"inconsistent", "filtering": "EIF"|"ADF"|"APDF"|...,
     "mapped": [[dest_ip, dest_port, mapped_ip, mapped_port], ...], "received": [...]}

Every wait is bounded; the client exits non-zero when the probe server does not answer.
"""

import json
import select
import socket
import sys
import time

ADDRS = ("203.0.113.50", "203.0.113.51")
PORTS = (4000, 4001)
TRIES = 3
WAIT = 0.4  # seconds per try
SETTLE = 0.6  # seconds to collect unsolicited replies after the control reply


def other(values, v):
    return values[1] if v == values[0] else values[0]


def server():
    socks = {}
    for a in ADDRS:
        for p in PORTS:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, p))
            socks[(a, p)] = s
    by_fd = {s.fileno(): (k, s) for k, s in socks.items()}
    while True:
        ready, _, _ = select.select([s for s in socks.values()], [], [])
        for s in ready:
            (a, p), _ = by_fd[s.fileno()]
            data, src = s.recvfrom(2048)
            word = data.split(b" ", 1)[0]
            if word == b"MAP":
                s.sendto(b"MAPPED %s %d" % (src[0].encode(), src[1]), src)
            elif word == b"FILTER":
                s.sendto(b"CTRL", src)
                socks[(a, other(PORTS, p))].sendto(b"PORT", src)
                socks[(other(ADDRS, a), p)].sendto(b"ADDR", src)
            else:
                # Anything else is echoed: the probe host doubles as a TURN peer.
                s.sendto(data, src)


def ask(sock, dest, msg, want):
    """Send msg to dest until a reply starting with want arrives from dest; bounded."""
    for _ in range(TRIES):
        sock.sendto(msg, dest)
        deadline = time.monotonic() + WAIT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                break
            data, src = sock.recvfrom(2048)
            if src == dest and data.startswith(want):
                return data
    return None


def fresh_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    return s


def probe_filtering():
    """A fresh socket talks to one server address:port only, then we see what gets in."""
    s = fresh_socket()
    dest = (ADDRS[0], PORTS[0])
    if ask(s, dest, b"FILTER", b"CTRL") is None:
        return None, []
    got = set()
    deadline = time.monotonic() + SETTLE
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            break
        data, src = s.recvfrom(2048)
        if data in (b"PORT", b"ADDR"):
            got.add(data.decode())
    s.close()
    if got == {"PORT", "ADDR"}:
        kind = "EIF"
    elif got == {"PORT"}:
        kind = "ADF"
    elif not got:
        kind = "APDF"
    else:
        kind = "inconsistent"
    return kind, sorted(got)


def probe_mapping():
    """One socket, four destinations; compare the mapped addresses the server saw."""
    s = fresh_socket()
    mapped = {}
    for a in ADDRS:
        for p in PORTS:
            reply = ask(s, (a, p), b"MAP", b"MAPPED")
            if reply is None:
                return None, []
            _, ip, port = reply.decode().split()
            mapped[(a, p)] = (ip, int(port))
    s.close()
    same_addr_pairs = [(mapped[(a, PORTS[0])], mapped[(a, PORTS[1])]) for a in ADDRS]
    cross_addr_pairs = [(mapped[(ADDRS[0], p)], mapped[(ADDRS[1], p)]) for p in PORTS]
    distinct = len(set(mapped.values()))
    if distinct == 1:
        kind = "EIM"
    elif all(x == y for x, y in same_addr_pairs) and all(x != y for x, y in cross_addr_pairs):
        kind = "ADM"
    elif distinct == len(mapped):
        kind = "APDM"
    else:
        kind = "inconsistent"
    rows = [[a, p, ip, port] for (a, p), (ip, port) in sorted(mapped.items())]
    return kind, rows


def client():
    # Filtering first: the mapping probe sends to every server address, which would open
    # an address-restricted NAT's filter for all of them.
    filtering, received = probe_filtering()
    mapping, rows = probe_mapping()
    out = {"mapping": mapping, "filtering": filtering, "mapped": rows, "received": received}
    print(json.dumps(out))
    return 0 if mapping and filtering else 1


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "server":
        server()
    elif mode == "client":
        sys.exit(client())
    else:
        print("usage: natprobe.py server|client", file=sys.stderr)
        sys.exit(2)
