"""Python's hpack (Debian python3-hpack) as a peer of plb's HPACK.

    /usr/bin/python3 hpack_peer.py < job.json > result.json

job: {"decode": [hex block, ...],
      "encode": [{"fields": [name, value, ...], "huffman": bool,
                  "tableSize": int or null, "never": [name, ...]}, ...]}
Names and values are latin1 strings (one char per octet), both ways.
The blocks of "decode" go through one hpack.Decoder in order, those of
"encode" come from one hpack.Encoder in order (tableSize: set the
encoder's table size before that block, so it starts with a size update).
result: {"decoded": [[[name, value], ...] per block],
         "decoderTable": [[name, value], ...] (newest first),
         "encoded": [hex block, ...], "encoderTable": [...]}
"""
import json
import sys

import hpack
from hpack import NeverIndexedHeaderTuple


def latin1(b):
    return bytes(b).decode("latin1") if isinstance(b, (bytes, bytearray, memoryview)) else b


def table(t):
    return [[latin1(n), latin1(v)] for n, v in t.dynamic_entries]


def main():
    job = json.load(sys.stdin)
    dec = hpack.Decoder()
    dec.max_header_list_size = 1 << 24
    decoded = []
    for block in job.get("decode", []):
        decoded.append([[latin1(n), latin1(v)] for n, v in dec.decode(bytes.fromhex(block), raw=True)])
    enc = hpack.Encoder()
    encoded = []
    for item in job.get("encode", []):
        if item.get("tableSize") is not None:
            enc.header_table_size = item["tableSize"]
        f = item["fields"]
        never = set(item.get("never", []))
        headers = []
        for i in range(0, len(f), 2):
            n, v = f[i].encode("latin1"), f[i + 1].encode("latin1")
            headers.append(NeverIndexedHeaderTuple(n, v) if f[i] in never else (n, v))
        encoded.append(enc.encode(headers, huffman=item.get("huffman", True)).hex())
    json.dump({"decoded": decoded, "decoderTable": table(dec.header_table), "encoded": encoded, "encoderTable": table(enc.header_table)}, sys.stdout)


main()
