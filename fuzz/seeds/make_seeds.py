#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into fuzz/corpus/<target>/.

Seeds are the shared test vectors (RFC 4475 SIP torture messages, RFC 5769 STUN samples,
RFC 8839 SDPs; from ../shared/testdata beside the checkout, else the crates' tests/data copies),
the crates' own interop and real-world samples, and hand-made exchanges in each harness's input
format (see the doc comment at the top of each fuzz_targets/*.rs). Small: about 300 KB.
Usage: make_seeds.py FUZZ_DIR
"""
import hmac
import hashlib
import os
import struct
import sys
import zlib

FUZZ = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(__file__) + "/..")
REPO = os.path.dirname(FUZZ)
SEP = b"@@@@"


def shared(*parts):
    """A file under ../shared/testdata, else under the repo's own test data copy."""
    for base in (os.path.join(REPO, "..", "shared", "testdata"),):
        p = os.path.join(base, *parts)
        if os.path.exists(p):
            return p
    return None


def files(directory, suffix):
    if not directory or not os.path.isdir(directory):
        return []
    return sorted(
        os.path.join(directory, f) for f in os.listdir(directory) if f.endswith(suffix)
    )


def read(path):
    with open(path, "rb") as f:
        return f.read()


def out(target, name, data):
    d = os.path.join(FUZZ, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- SIP
sip_dirs = [
    shared("sip", "rfc4475") or os.path.join(REPO, "sip/tests/data/rfc4475"),
    os.path.join(REPO, "sip/tests/data/realworld"),
]
sip_files = [f for d in sip_dirs for f in files(d, ".dat") + files(d, ".sip")]
if not sip_files:
    sys.exit("make_seeds.py: no SIP test vectors found (../shared/testdata/sip/rfc4475)")
for f in sip_files:
    name = os.path.basename(f)
    data = read(f)
    out("sip_message", name, data)
    out("sip_endpoint", "udp-" + name, b"\x00" + data)
    out("sip_endpoint", "tcp-" + name, b"\x04" + data.replace(b"/UDP", b"/TCP"))


def response(status, reason, method, extra=b"", body=b""):
    return (
        b"SIP/2.0 %d %s\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5080;branch=$BRANCH;rport=5080;received=203.0.113.7\r\n"
        b"From: <sip:bob@127.0.0.1>;tag=$FROMTAG\r\n"
        b"To: <sip:alice@127.0.0.1:5070>;tag=t1\r\n"
        b"Call-ID: $CALLID\r\nCSeq: $CSEQ %s\r\n"
        b"Contact: <sip:alice@127.0.0.1:5070>\r\n%s"
        b"Content-Length: %d\r\n\r\n%s"
        % (status, reason, method, extra, len(body), body)
    )


SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
invite_flow = SEP.join([
    response(100, b"Trying", b"INVITE"),
    response(180, b"Ringing", b"INVITE", b"Record-Route: <sip:127.0.0.1:5070;lr>\r\n"),
    response(200, b"OK", b"INVITE", b"Content-Type: application/sdp\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n", SDP),
    response(200, b"OK", b"INVITE", b"Content-Type: application/sdp\r\n", SDP),
])
out("sip_endpoint", "uac-invite-udp", b"\x01" + invite_flow)
out("sip_endpoint", "uac-invite-tcp", b"\x05" + invite_flow.replace(b"/UDP", b"/TCP"))
out("sip_endpoint", "uac-invite-302", b"\x01" + response(302, b"Moved", b"INVITE", b"Contact: <sip:carol@127.0.0.1:5070>\r\n").replace(b"Contact: <sip:alice@127.0.0.1:5070>\r\n", b"", 1))
out("sip_endpoint", "uac-invite-486", b"\x01" + response(486, b"Busy Here", b"INVITE"))
challenge = b'WWW-Authenticate: Digest realm="test.invalid", nonce="abc123", qop="auth", algorithm=MD5\r\n'
register_flow = SEP.join([
    response(401, b"Unauthorized", b"REGISTER", challenge),
    response(423, b"Interval Too Brief", b"REGISTER", b"Min-Expires: 1200\r\n"),
    response(200, b"OK", b"REGISTER", b"Expires: 600\r\nRequire: outbound\r\nFlow-Timer: 30\r\n"),
])
out("sip_endpoint", "uac-register-udp", b"\x02" + register_flow)
out("sip_endpoint", "uac-register-tcp-outbound", b"\x16" + register_flow.replace(b"/UDP", b"/TCP") + SEP + b"\r\n")
out("sip_endpoint", "uac-options", b"\x03" + response(200, b"OK", b"OPTIONS", b"Allow: INVITE, ACK\r\n"))
out("sip_endpoint", "tcp-keepalive", b"\x0c\r\n\r\n" + SEP + b"\r\n")

# ---------------------------------------------------------------- SDP
sdp_files = files(shared("sdp") or os.path.join(REPO, "sdp/tests/data"), ".sdp")
sdp_files += files(os.path.join(REPO, "sdp/tests/data/interop"), ".sdp")
for f in sdp_files:
    data = read(f)
    out("sdp_offer_answer", os.path.basename(f), data)
    # The last byte is the mode: the same SDP with a selected pair and two local streams.
    out("sdp_offer_answer", "mode-" + os.path.basename(f), data + b"\x16")

# ---------------------------------------------------------------- STUN
MAGIC = 0x2112A442


def attr(typ, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("!HH", typ, len(value)) + value + b"\0" * pad


def stun(msg_type, tid, attrs, key=None, fingerprint=True):
    body = b"".join(attrs)
    msg = struct.pack("!HHI", msg_type, len(body), MAGIC) + tid + body
    if key is not None:
        msg = msg[:2] + struct.pack("!H", len(body) + 24) + msg[4:]
        msg += attr(0x0008, hmac.new(key, msg, hashlib.sha1).digest())
    if fingerprint:
        msg = msg[:2] + struct.pack("!H", len(msg) - 20 + 8) + msg[4:]
        crc = (zlib.crc32(msg) ^ 0x5354554E) & 0xFFFFFFFF
        msg += attr(0x8028, struct.pack("!I", crc))
    return msg[:2] + struct.pack("!H", len(msg) - 20) + msg[4:]


def xor_addr(ip, port, tid=b""):
    xport = port ^ (MAGIC >> 16)
    xip = struct.unpack("!I", bytes(ip))[0] ^ MAGIC
    return struct.pack("!BBHI", 0, 1, xport, xip)


stun_dir = shared("stun", "rfc5769") or os.path.join(REPO, "ice/tests/data")
stun_files = files(stun_dir, ".bin")
if not stun_files:
    sys.exit("make_seeds.py: no STUN test vectors found (../shared/testdata/stun/rfc5769)")
for f in stun_files:
    data = read(f)
    out("stun_decode", os.path.basename(f), data)
    out("turn_client", os.path.basename(f), b"\x00" + data)
    out("ice_agent", os.path.basename(f), b"\x00\x00" + data)

TID = bytes(range(1, 13))
# STUN with every ICE attribute, short-term signed with the harness's password.
short = stun(0x0001, TID, [attr(0x0006, b"LU:RU"), attr(0x0024, struct.pack("!I", 1862270975)),
                           attr(0x8029, b"\0" * 8), attr(0x0025, b"")], key=b"VOkJxbRl1RmTxUk/WvJxBt")
out("stun_decode", "ice-check", short)
out("stun_decode", "channel-data", b"\x40\x00\x00\x04rtp!")

# TURN: 401 with REALM and NONCE, Allocate success, CreatePermission and ChannelBind success,
# a Data indication and ChannelData. Control byte 0x0F: take the request's transaction id,
# shape the header, sign (long-term) and add FINGERPRINT; 0x0B: not signed.
realm_nonce = [attr(0x0014, b"example.org"), attr(0x0015, b"nonce123")]
e401 = stun(0x0113, TID, [attr(0x0009, b"\0\0\x04\x01Unauthorized")] + realm_nonce, fingerprint=False)
alloc_ok = stun(0x0103, TID, [struct.pack("!HH", 0x0016, 8) + xor_addr([198, 51, 100, 2], 49152),
                              struct.pack("!HH", 0x0020, 8) + xor_addr([203, 0, 113, 1], 40000),
                              attr(0x000D, struct.pack("!I", 600))] + realm_nonce, fingerprint=False)
perm_ok = stun(0x0108, TID, realm_nonce, fingerprint=False)
bind_ok = stun(0x0109, TID, realm_nonce, fingerprint=False)
data_ind = stun(0x0117, TID, [struct.pack("!HH", 0x0012, 8) + xor_addr([203, 0, 113, 77], 7000),
                              attr(0x0013, b"hello")], fingerprint=True)
e438 = stun(0x0113, TID, [attr(0x0009, b"\0\0\x04\x26Stale Nonce")] + realm_nonce, fingerprint=False)
out("turn_client", "allocate-flow", SEP.join([
    b"\x0b" + e401, b"\x0f" + alloc_ok, b"\x4f" + perm_ok, b"\x0f" + bind_ok,
    b"\x00" + data_ind, b"\x00\x40\x00\x00\x05hello", b"\x2f" + e438, b"\x3f" + alloc_ok,
]))
out("turn_client", "allocate-ok", b"\x0b" + e401 + SEP + b"\x0f" + alloc_ok)

# ICE: a check to us (signed with the local password: control 0x4E) and a success response
# to our check (remote password, our transaction id: 0x0F).
check = stun(0x0001, TID, [attr(0x0006, b"LU:RU"), attr(0x0024, struct.pack("!I", 1862270975)),
                           attr(0x8029, b"\0\0\0\0\0\0\0\x2a"), attr(0x0025, b"")], fingerprint=False)
success = stun(0x0101, TID, [struct.pack("!HH", 0x0020, 8) + xor_addr([192, 0, 2, 1], 5000)],
               fingerprint=False)
e487 = stun(0x0111, TID, [attr(0x0009, b"\0\0\x04\x57Role Conflict")], fingerprint=False)
for mode in (0, 1, 2, 5, 8, 16):
    out("ice_agent", "flow-%d" % mode, bytes([mode]) + SEP.join([
        b"\x4e" + check, b"\x0f" + success, b"\x1f" + success, b"\x20\x80rtp", b"\x0f" + e487,
        b"\xce" + check,
    ]))
