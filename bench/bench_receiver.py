"""Loopback throughput of the HJ 212 receiver (``python bench/bench_receiver.py [clients] [packets]``).

Starts ``python -m monitoring.commands.receiver`` on a free port with a throwaway spool, connects
``clients`` devices that each pipeline ``packets`` 2011 packets with A=1 (batches of 50), waits for
every 9014 answer, and prints packets/s (answered = spooled and fsync'd) and the receiver's CPU per packet.
Also times the codec alone: the full decoder (``parse_packet``) against the receiver's validation
(``check_packets``: same acceptance, CP not decoded, a read's packets at once).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.proctree import cpu_seconds
from sensors.hj212 import build_packet, crc16_hj212, parse_packet
from sensors.hj212.packet import check_packets
from sensors.timezone import LOCAL_TZ

REGISTRY = REPO / "tests" / "sensors" / "data" / "registry_small.yaml"
MN, PW = "010000A8900016F000169DC0", "100000"
T0 = datetime(2024, 5, 1, 8, 0, 0, tzinfo=LOCAL_TZ)
CP = {"a21026": {"Rtd": 35.2, "ZsRtd": 40.1, "Flag": "N"}, "a21002": {"Rtd": 80.5, "Flag": "N"},
      "a34013": {"Rtd": 8.1, "Flag": "N"}, "a19001": {"Rtd": 9.8, "Flag": "N"}, "a00000": {"Rtd": 12.3, "Flag": "N"}}


def packets(k: int, n: int) -> list[bytes]:
    return [build_packet(st="31", cn="2011", mn=MN, pw=PW, data_time=T0, cp=CP, qn=f"{k:04d}{i:013d}", ack=True)[0]
            for i in range(n)]


def client(port: int, pkts: list[bytes], done: list[int]) -> None:
    s = socket.create_connection(("127.0.0.1", port))
    got = [0]

    def reader():
        buf = b""
        while got[0] < len(pkts):
            data = s.recv(65536)
            if not data:
                break
            buf += data
            got[0] += data.count(b"\n")
    t = threading.Thread(target=reader)
    t.start()
    for i in range(0, len(pkts), 50):
        s.sendall(b"".join(pkts[i:i + 50]))
    t.join()
    s.close()
    done.append(got[0])


def main() -> None:
    n_clients = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    per_client = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    sample = packets(0, 1)[0]
    t = time.perf_counter()
    for _ in range(20000):
        parse_packet(sample)
    dt = time.perf_counter() - t
    t = time.perf_counter()
    seg = sample[6:-6]
    for _ in range(20000):
        crc16_hj212(seg)
    dc = time.perf_counter() - t
    batch = [p[:-2] for p in packets(1, 250)]
    t = time.perf_counter()
    for _ in range(80):
        check_packets(batch)
    dk = time.perf_counter() - t
    print(f"codec: {len(sample)} B packet, parse {20000 / dt:,.0f}/s, CRC alone {20000 / dc:,.0f}/s, "
          f"receiver validation (check_packets, 250 a read) {20000 / dk:,.0f}/s")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, "-m", "monitoring.commands.receiver", "--port", "0",
                                 "--spool", f"{tmp}/spool", "--quarantine", f"{tmp}/q",
                                 "--registry", str(REGISTRY)], cwd=REPO, stdout=subprocess.PIPE)
        port = int(proc.stdout.readline().decode().rsplit(":", 1)[1])
        work = [packets(k, per_client) for k in range(n_clients)]
        done: list[int] = []
        threads = [threading.Thread(target=client, args=(port, w, done)) for w in work]
        cpu0 = cpu_seconds(proc.pid)
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        cpu = cpu_seconds(proc.pid) - cpu0
        proc.terminate()
        proc.wait()
        total = sum(done)
        print(f"receiver: {n_clients} clients × {per_client} packets, {total} answered in {elapsed:.2f} s "
              f"= {total / elapsed:,.0f} packets/s (spooled + fsync'd before each 9014); receiver CPU "
              f"{cpu:.2f} s = {cpu / max(total, 1) * 1e6:.1f} µs a packet")


if __name__ == "__main__":
    main()
