#!/usr/bin/env python3
"""Writes seed inputs for fuzz_nbd: valid client streams the fuzzer mutates."""
import os
import struct
import sys

IHAVEOPT = 0x49484156454F5054
REQ = 0x25609513


def opt(code, data=b""):
    return struct.pack(">QII", IHAVEOPT, code, len(data)) + data


def go(name=b""):
    return opt(7, struct.pack(">I", len(name)) + name + struct.pack(">H", 1) +
               struct.pack(">H", 3))


def meta(code, queries):
    body = struct.pack(">I", 0) + struct.pack(">I", len(queries))
    for q in queries:
        body += struct.pack(">I", len(q)) + q
    return opt(code, body)


def req(cmd, offset, length, flags=0, cookie=1, payload=b""):
    return struct.pack(">IHHQQI", REQ, flags, cmd, cookie, offset,
                       length) + payload


def main(out):
    os.makedirs(out, exist_ok=True)
    flags = struct.pack(">I", 3)
    seeds = {
        "list": flags + opt(3) + opt(2),
        "info": flags + opt(6, struct.pack(">I", 4) + b"fuzz" +
                            struct.pack(">HHH", 2, 1, 2)) + opt(2),
        "simple": flags + go() + req(1, 100, 16, 1, 1, b"A" * 16) +
        req(0, 90, 40) + req(3, 0, 0) + req(4, 0, 8192) + req(2, 0, 0),
        "structured": flags + opt(8) + meta(9, [b"base:"]) +
        meta(10, [b"base:allocation"]) + go() +
        req(1, 4096, 8, 0, 2, b"B" * 8) + req(7, 0, 65536, 8) +
        req(0, 4000, 200, 4) + req(6, 0, 12288, 2) + req(5, 0, 4096) +
        req(2, 0, 0),
        "export_name": struct.pack(">I", 1) + opt(1, b"fuzz") +
        req(0, 0, 512) + req(99, 0, 0),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
