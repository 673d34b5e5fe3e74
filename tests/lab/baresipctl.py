#!/usr/bin/env python3
"""Drive one baresip through its ctrl_tcp module and print what it reports.

    baresipctl.py [--port 4444] [--dial URI] [--hangup-after S] [--timeout S]

Connects to baresip's ctrl_tcp socket on 127.0.0.1 (retrying while baresip starts), sends
`dial URI` if asked, and prints every event and response baresip sends as one JSON object
per line on stdout. With --hangup-after S it sends `hangup` S seconds after
CALL_RTPESTAB (ICE done and media flowing), or after CALL_ESTABLISHED when media never
starts. It exits 0 after CALL_CLOSED, 1 on timeout or a lost connection.

ctrl_tcp speaks netstrings (`<length>:<json>,`) and sends events only to its newest
connection, so one process both commands and listens.
"""
import argparse
import json
import socket
import sys
import time


def netstring(obj):
    data = json.dumps(obj).encode()
    return str(len(data)).encode() + b":" + data + b","


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def messages(self):
        """Complete netstrings received so far (non-blocking on what is buffered)."""
        out = []
        while True:
            colon = self.buf.find(b":")
            if colon < 0:
                return out
            try:
                length = int(self.buf[:colon])
            except ValueError:
                raise SystemExit("baresipctl: bad netstring header %r" % self.buf[:colon])
            end = colon + 1 + length
            if len(self.buf) < end + 1:
                return out
            payload = self.buf[colon + 1 : end]
            self.buf = self.buf[end + 1 :]
            try:
                out.append(json.loads(payload))
            except ValueError:
                out.append({"unparsed": payload.decode(errors="replace")})

    def feed(self, data):
        self.buf += data


def connect(port, deadline):
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=1)
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("baresipctl: could not connect to ctrl_tcp on port %d" % port)
            time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=4444)
    ap.add_argument("--dial")
    ap.add_argument("--hangup-after", type=float)
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout
    sock = connect(args.port, deadline)
    # Tells a waiting test that events now come to us (ctrl_tcp sends them only to its
    # newest connection, so a call started before this line would be missed).
    print(json.dumps({"baresipctl": "connected"}), flush=True)
    sock.settimeout(0.1)
    reader = Reader(sock)
    if args.dial:
        sock.sendall(netstring({"command": "dial", "params": args.dial, "token": "dial"}))
    hangup_at = None
    while time.monotonic() < deadline:
        if hangup_at is not None and time.monotonic() >= hangup_at:
            sock.sendall(netstring({"command": "hangup", "token": "hangup"}))
            hangup_at = None
        try:
            data = sock.recv(65536)
            if not data:
                print("baresipctl: connection closed", file=sys.stderr)
                return 1
            reader.feed(data)
        except socket.timeout:
            continue
        for msg in reader.messages():
            print(json.dumps(msg), flush=True)
            kind = msg.get("type")
            if args.hangup_after is not None:
                if kind == "CALL_RTPESTAB":
                    hangup_at = time.monotonic() + args.hangup_after
                elif kind == "CALL_ESTABLISHED" and hangup_at is None:
                    # No media within 15 s: hang up anyway, the test reports why.
                    hangup_at = time.monotonic() + 15
            if kind == "CALL_CLOSED":
                return 0
    print("baresipctl: timed out", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
