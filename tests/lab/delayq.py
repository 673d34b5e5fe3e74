#!/usr/bin/env python3
"""Delay for the lab's NAT uplinks without netem: hold NFQUEUE'd packets, then accept them.

    delayq.py QUEUE_NUM DELAY_MS [JITTER_MS]

The kernel hands every packet that an `-j NFQUEUE --queue-num QUEUE_NUM --queue-bypass` rule
matches to this program (metadata only, no payload copy); each gets its ACCEPT verdict
DELAY_MS (± a uniform JITTER_MS) later. Speaks nfnetlink_queue directly over an AF_NETLINK
socket, so it needs nothing beyond python3. With --queue-bypass, packets pass undelayed
whenever this program is not running.
"""

import os
import select
import socket
import struct
import sys
import time
import random
import bisect

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1


def attr(kind, payload):
    length = 4 + len(payload)
    pad = (4 - length % 4) % 4
    return struct.pack("=HH", length, kind) + payload + b"\0" * pad


def message(msg_type, flags, queue, attrs, seq):
    # nfgenmsg: family AF_UNSPEC, version 0, res_id = queue number (big endian).
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + b"".join(attrs)
    header = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type,
                         NLM_F_REQUEST | flags, seq, 0)
    return header + body


def check_ack(sock):
    data = sock.recv(65536)
    length, kind = struct.unpack_from("=IH", data, 0)
    if kind == NLMSG_ERROR:
        (err,) = struct.unpack_from("=i", data, 16)
        if err != 0:
            raise OSError(-err, os.strerror(-err))


def packet_ids(data):
    """Yields the packet ids of the NFQNL_MSG_PACKET messages in one netlink datagram."""
    off = 0
    while off + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, off)
        if length < 16:
            return
        if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            a = off + 20  # nlmsghdr (16) + nfgenmsg (4)
            while a + 4 <= off + length:
                alen, akind = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                if (akind & 0x7FFF) == NFQA_PACKET_HDR:
                    (pid,) = struct.unpack_from("!I", data, a + 4)
                    yield pid
                a += (alen + 3) & ~3
        off += (length + 3) & ~3


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    queue = int(sys.argv[1])
    delay = float(sys.argv[2]) / 1000.0
    jitter = float(sys.argv[3]) / 1000.0 if len(sys.argv) == 4 else 0.0

    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((0, 0))
    seq = 1
    cmd = struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, socket.htons(socket.AF_INET))
    sock.send(message(NFQNL_MSG_CONFIG, NLM_F_ACK, queue, [attr(NFQA_CFG_CMD, cmd)], seq))
    check_ack(sock)
    seq += 1
    params = struct.pack("!IB", 0, NFQNL_COPY_META)
    maxlen = struct.pack("!I", 4096)
    sock.send(message(NFQNL_MSG_CONFIG, NLM_F_ACK, queue,
                      [attr(NFQA_CFG_PARAMS, params), attr(NFQA_CFG_QUEUE_MAXLEN, maxlen)], seq))
    check_ack(sock)
    print(f"delayq: queue {queue}, delay {delay * 1000:.0f} ms ± {jitter * 1000:.0f} ms",
          file=sys.stderr, flush=True)

    held = []  # (due, packet id), kept sorted by due
    while True:
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, pid = held.pop(0)
            seq += 1
            verdict = struct.pack("!II", NF_ACCEPT, pid)
            sock.send(message(NFQNL_MSG_VERDICT, 0, queue, [attr(NFQA_VERDICT_HDR, verdict)], seq))
        timeout = max(0.0, held[0][0] - now) if held else None
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            continue
        data = sock.recv(65536)
        arrived = time.monotonic()
        for pid in packet_ids(data):
            due = arrived + delay + (random.uniform(-jitter, jitter) if jitter else 0.0)
            bisect.insort(held, (due, pid))


if __name__ == "__main__":
    sys.exit(main())
