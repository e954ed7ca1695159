#!/usr/bin/env python3
"""Builds the fuzz seed corpus from the real C booth captures in test/data:
every UDP datagram (wire_datagram, and engine scripts replaying them),
every TCP payload (wire_request, client_reply) and the configurations
(config_parse). Run from anywhere; writes test/fuzz/corpus/<target>/."""
import hashlib, os, struct, glob

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
CONF = os.path.join(HERE, "..", "..", "conf")


def packets(path):
    """(proto, src, dst, payload) of each IPv4 UDP/TCP packet of an Ethernet pcap."""
    b = open(path, "rb").read()
    le = b[:4] == b"\xd4\xc3\xb2\xa1"
    e = "<" if le else ">"
    at = 24
    while at + 16 <= len(b):
        _, _, incl, _ = struct.unpack(e + "IIII", b[at:at + 16])
        frame = b[at + 16:at + 16 + incl]
        at += 16 + incl
        if len(frame) < 34 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        proto = ip[9]
        l4 = ip[ihl:total]
        if proto == 17:
            yield "udp", l4[8:]
        elif proto == 6:
            off = (l4[12] >> 4) * 4
            if len(l4) > off:
                yield "tcp", l4[off:]


def save(target, blob):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(blob).hexdigest()), "wb") as f:
        f.write(blob)


for pcap in sorted(glob.glob(os.path.join(DATA, "*.pcap"))):
    udp = []
    for proto, payload in packets(pcap):
        if proto == "udp":
            udp.append(payload)
            save("wire_datagram", payload)
        else:
            save("wire_request", payload)
            save("client_reply", payload)
    # Engine scripts: site 0 (first byte even), seed, then the captured
    # datagrams in order as raw-bytes steps (3, length, bytes) with short
    # clock steps (0, 2 bytes) between them.
    for me in (0, 1):
        script = bytes([me, 0, 0, 0, 1])
        for p in udp[:120]:
            script += bytes([0, 0, 200, 3, len(p)]) + p
        save("engine", script)
for conf in glob.glob(os.path.join(DATA, "*.conf")) + glob.glob(os.path.join(CONF, "*")):
    save("config_parse", open(conf, "rb").read())
