#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz/fuzz_wire.c into tests/fuzz/corpus/wire/.

Valid batches of each record kind, and the corrupt inputs the decoder must
refuse: truncated, bad Adler-32, raw deflate, gzip, plain JSON, trailing
bytes, a preset dictionary, a small bomb, wrong version, wrong types.
Files named J_* start with 'J': the harness deflates the rest itself, which
lets the fuzzer work on the JSON without having to forge zlib checksums.

Run from the repository root: python3 tests/fuzz/make_wire_corpus.py
"""
import gzip
import json
import os
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "wire")


def doc(records, events_total=None, **over):
    if events_total is None:
        events_total = sum(r.get("count", 1) if r.get("kind") == "agg" else 1
                           for r in records)
    d = {"v": 1, "agent_id": "edge-07", "seq": 42, "created_at": 1764000000,
         "events_total": events_total, "records": records}
    d.update(over)
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode()


AGG_FULL = {"kind": "agg", "sub": "sub_1", "code": "api_calls", "minute": 1764000000,
            "filters": {"region": "eu", "tier": "gold"}, "count": 10000,
            "sum": "123.5", "max": "12", "latest": "3", "latest_ts": 1764000059,
            "distinct": ["a", "b", "c"]}
AGG_COUNT = {"kind": "agg", "sub": "sub_2", "code": "logins", "minute": 60, "count": 1}
EVENT = {"kind": "event", "transaction_id": "tx-9", "sub": "sub_1", "code": "storage",
         "timestamp": 1764000012.5, "properties": {"gb": "3.2", "zone": "b"}}
EVENT_CUSTOMER = {"kind": "event", "transaction_id": "tx-10", "customer": "cus_1",
                  "code": "payments", "timestamp": 1764000013,
                  "precise_total_amount_cents": "1234.5678"}
UNICODE = {"kind": "event", "transaction_id": "tx-\u00e9\"\\/\n", "sub": "s\u20ac",
           "code": "c\U0001F600", "timestamp": 0.001, "properties": {"k\t": "v\u0001"}}


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    full = doc([AGG_FULL, AGG_COUNT, EVENT, EVENT_CUSTOMER])
    z = zlib.compress(full, 6)

    # Valid batches.
    write("agg_full.zlib", zlib.compress(doc([AGG_FULL]), 6))
    write("agg_count_only.zlib", zlib.compress(doc([AGG_COUNT]), 9))
    write("event.zlib", zlib.compress(doc([EVENT]), 6))
    write("event_customer.zlib", zlib.compress(doc([EVENT_CUSTOMER]), 1))
    write("mixed.zlib", z)
    write("mixed_stored.zlib", zlib.compress(full, 0))
    write("unicode.zlib", zlib.compress(doc([UNICODE]), 6))
    write("empty_records.zlib", zlib.compress(doc([]), 6))
    write("big_ints.zlib", zlib.compress(doc([dict(AGG_COUNT, count=9007199254740990)],
                                             seq=9007199254740991), 6))

    # Corrupt compression.
    write("truncated.zlib", z[: len(z) // 2])
    write("truncated_adler.zlib", z[:-2])
    write("bad_adler.zlib", z[:-1] + bytes([z[-1] ^ 1]))
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    write("raw_deflate.bin", raw.compress(full) + raw.flush())
    write("gzip.gz", gzip.compress(full, mtime=0))
    write("plain.json", full)
    write("trailing.zlib", z + b"\x00garbage")
    write("preset_dict.zlib", bytes([0x78, 0xBB, 0, 0, 0, 1, 3, 0]))
    write("bomb_2mib.zlib", zlib.compress(bytes(2 << 20), 9))
    write("empty", b"")

    # Wrong content, compressed properly.
    write("wrong_version.zlib", zlib.compress(doc([AGG_COUNT], v=2), 6))
    write("seq_string.zlib", zlib.compress(doc([AGG_COUNT], seq="42"), 6))
    write("sum_number.zlib", zlib.compress(doc([dict(AGG_FULL, sum=123.5)]), 6))
    write("total_mismatch.zlib", zlib.compress(doc([AGG_FULL, EVENT], events_total=9), 6))

    # JSON for the harness to deflate.
    write("J_mixed.json", b"J" + full)
    write("J_unicode.json", b"J" + doc([UNICODE, AGG_FULL]))
    write("J_bad_minute.json", b"J" + doc([dict(AGG_COUNT, minute=61)]))
    write("J_timestamps.json", b"J" + doc([dict(EVENT, timestamp=1764000012.1235),
                                           dict(EVENT, timestamp=999999999999.999),
                                           dict(EVENT, timestamp=1.5e3)]))
    write("J_types.json", b'J{"v":1,"agent_id":"a","seq":1.5,"created_at":-1,'
                          b'"events_total":"0","records":{}}')
    write("J_record_not_object.json", b"J" + doc([[1, 2], AGG_COUNT], events_total=2))


if __name__ == "__main__":
    main()
