#!/usr/bin/env python3
"""A minimal RFC 5626 outbound registrar for the lab (Kamailio in Debian has no outbound module).

    outbound_registrar.py IP PORT FLOW_TIMER

Over UDP and TCP on IP:PORT it answers every REGISTER with 200 OK, `Require: outbound` and
`Flow-Timer: FLOW_TIMER`, echoing the Contact with the requested expiry and adding
received/rport to the top Via (RFC 3581). On UDP it answers STUN Binding requests with the
source as XOR-MAPPED-ADDRESS (RFC 5626 §4.4.2 keepalives); on TCP it answers a CRLFCRLF ping
with a CRLF pong (§4.4.1). Every REGISTER, STUN request and ping is logged as one JSON line on
stdout with the time, so a test can measure keepalives and re-registrations.
"""
import json
import re
import socket
import struct
import sys
import threading
import time

MAGIC = 0x2112A442
LOCK = threading.Lock()


def log(kind, src, **extra):
    with LOCK:
        print(json.dumps({"t": time.time(), "kind": kind, "src": src, **extra}), flush=True)


def stun_response(data, addr):
    """A Binding success response carrying XOR-MAPPED-ADDRESS, or None."""
    if len(data) < 20:
        return None
    mtype, _length, cookie = struct.unpack("!HHI", data[:8])
    if mtype != 0x0001 or cookie != MAGIC:
        return None
    tid = data[8:20]
    ip = struct.unpack("!I", socket.inet_aton(addr[0]))[0]
    value = struct.pack("!BBHI", 0, 1, addr[1] ^ (MAGIC >> 16), ip ^ MAGIC)
    attr = struct.pack("!HH", 0x0020, len(value)) + value
    return struct.pack("!HHI", 0x0101, len(attr), MAGIC) + tid + attr


def header(lines, name):
    for line in lines:
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None


def ok_for(text, addr, flow_timer):
    """The 200 OK for a REGISTER, as bytes, and the requested expiry."""
    head = text.split("\r\n\r\n", 1)[0]
    lines = head.split("\r\n")
    via_done = False
    out = ["SIP/2.0 200 OK"]
    for line in lines[1:]:
        low = line.lower()
        if (low.startswith("via:") or low.startswith("v:")) and not via_done:
            via_done = True
            line = re.sub(r";rport(?=;|$)", ";rport=%d" % addr[1], line)
            line += ";received=%s" % addr[0]
            out.append(line)
        elif low.startswith(("via:", "v:", "from:", "f:", "call-id:", "i:", "cseq:")):
            out.append(line)
        elif low.startswith(("to:", "t:")):
            out.append(line if ";tag=" in line else line + ";tag=obreg")
    expires = header(lines, "Expires") or "600"
    contact = header(lines, "Contact") or header(lines, "m")
    if contact:
        out.append("Contact: %s;expires=%s" % (contact.split(";expires=")[0], expires))
    out += ["Require: outbound", "Supported: outbound", "Flow-Timer: %d" % flow_timer,
            "Content-Length: 0", "", ""]
    return "\r\n".join(out).encode(), expires


def serve_udp(sock, flow_timer):
    while True:
        data, addr = sock.recvfrom(65535)
        src = "%s:%d" % addr
        if data and data[0] < 2:
            resp = stun_response(data, addr)
            if resp:
                log("stun", src)
                sock.sendto(resp, addr)
            continue
        text = data.decode(errors="replace")
        if text.startswith("REGISTER "):
            resp, expires = ok_for(text, addr, flow_timer)
            log("register", src, transport="udp", expires=expires)
            sock.sendto(resp, addr)


def serve_tcp_conn(conn, addr, flow_timer):
    src = "%s:%d" % addr
    buf = b""
    try:
        while True:
            data = conn.recv(65535)
            if not data:
                return
            buf += data
            while True:
                if buf.startswith(b"\r\n\r\n"):
                    log("ping", src)
                    conn.sendall(b"\r\n")
                    buf = buf[4:]
                    continue
                if buf.startswith(b"\r\n"):
                    buf = buf[2:]
                    continue
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                text = buf[: end + 4].decode(errors="replace")
                buf = buf[end + 4:]
                if text.startswith("REGISTER "):
                    resp, expires = ok_for(text, addr, flow_timer)
                    log("register", src, transport="tcp", expires=expires)
                    conn.sendall(resp)
    except OSError:
        return
    finally:
        log("closed", src)
        conn.close()


def main():
    ip, port, flow_timer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((ip, port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((ip, port))
    tcp.listen(16)
    threading.Thread(target=serve_udp, args=(udp, flow_timer), daemon=True).start()
    log("ready", "%s:%d" % (ip, port))
    while True:
        conn, addr = tcp.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn, addr, flow_timer), daemon=True).start()


if __name__ == "__main__":
    main()
