#!/usr/bin/env python3
"""Independent hashlib computation of the extra digest vectors used by
sip/tests/digest_compute.rs (auth-int, -sess, no-qop RFC 2069 mode, nc=2,
SHA-512-256). Run: python3 extra_vectors.py"""
import hashlib


def H(alg, s):
    name = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}[alg]
    return hashlib.new(name, s.encode()).hexdigest()


u, r, p = "bob", "atlanta.example.com", "zanzibar"
nonce, cn = "ea9c8e88df84f1cec4341ae6cbe5a359", "0a4f113b"
m, uri, body = "INVITE", "sip:bob@biloxi.example.com", "v=0\r\n"
for alg in ["MD5", "SHA-256", "SHA-512-256"]:
    ha1 = H(alg, f"{u}:{r}:{p}")
    ha2 = H(alg, f"{m}:{uri}")
    ha2_int = H(alg, f"{m}:{uri}:{H(alg, body)}")
    ha1_sess = H(alg, f"{ha1}:{nonce}:{cn}")
    print(alg, "auth", H(alg, f"{ha1}:{nonce}:00000001:{cn}:auth:{ha2}"))
    print(alg, "auth nc=2", H(alg, f"{ha1}:{nonce}:00000002:{cn}:auth:{ha2}"))
    print(alg, "auth-int", H(alg, f"{ha1}:{nonce}:00000001:{cn}:auth-int:{ha2_int}"))
    print(alg, "-sess auth", H(alg, f"{ha1_sess}:{nonce}:00000001:{cn}:auth:{ha2}"))
    print(alg, "no qop", H(alg, f"{ha1}:{nonce}:{ha2}"))
