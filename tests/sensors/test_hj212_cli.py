"""``envmon hj212 decode``: JSON readings on stdout, ``line N: reason`` on stderr, exit 0/2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from monitoring.commands.hj212 import app

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]


def run(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitoring.commands.hj212", "decode", *args], input=stdin,
                          capture_output=True, cwd=REPO, timeout=60, check=False)


def test_example_modbus_and_wrong_length_lines():
    res = run([str(DATA / "example_bad.txt")])
    assert res.returncode == 2
    assert res.stdout == b""  # the example (CN=1062) carries no pollutant values
    assert res.stderr.decode().splitlines() == [
        "line 2: bad CRC: expected 1C80, got 0759 (the sender used CRC-16/MODBUS, not HJ 212 Appendix A)",
        "line 3: length mismatch: LLLL=0100 but the data segment is 101 bytes",
    ]


def test_valid_packets_exit_0_one_json_object_per_value():
    res = run([str(DATA / "data_packets.txt")])
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    objs = [json.loads(line) for line in res.stdout.decode().splitlines()]
    assert objs[0] == {"mn": "010000A8900016F000169DC0", "st": "31", "cn": "2011", "qn": "20160801085857223",
                       "data_time": "2016-08-01T08:58:57+08:00", "code": "a21026", "field": "Rtd",
                       "value": 35.2, "flag": "N", "version": "2017"}
    assert [(o["code"], o["field"], o["value"], o["flag"]) for o in objs[1:]] == [
        ("a21026", "ZsRtd", 40.1, "N"), ("a19001", "Rtd", 9.8, "M"), ("w01018", "Avg", 45.2, "N")]
    assert objs[3]["sent_code"] == "011" and objs[3]["version"] == "2005" and objs[3]["qn"] is None


def test_stdin_with_junk_blank_lines_and_bad_packets():
    data = (DATA / "mixed_packets.txt").read_bytes()
    res = run(["-"], stdin=data)
    assert res.returncode == 2
    assert b"Traceback" not in res.stderr
    assert res.stderr.decode().splitlines() == [
        "line 3: missing DataTime in CP of CN=2011 (values are never stamped with the receiver's clock)",
        "line 4: malformed KEY=VALUE in CP: 'w01018-Rtd'",
        "line 5: bad header: expected '##', got b'\\x00\\x01\\xfe\\xff bin'…",
    ]
    assert len(res.stdout.decode().splitlines()) == 4  # 3 values of line 1, 1 of line 6


def test_binary_garbage_file_never_tracebacks(tmp_path):
    f = tmp_path / "junk.bin"
    f.write_bytes(bytes(range(256)) * 20 + b"\n##\n##9999abc\n")
    res = run([str(f)])
    assert res.returncode == 2 and b"Traceback" not in res.stderr
    assert all(line.startswith("line ") for line in res.stderr.decode().splitlines())


def test_missing_file_is_a_clear_error(tmp_path):
    res = run([str(tmp_path / "nope.txt")])
    assert res.returncode == 2
    assert "nope.txt: No such file or directory" in res.stderr.decode()


def test_cli_runner_stdin():
    result = CliRunner().invoke(app, ["decode"], input=(DATA / "data_packets.txt").read_bytes())
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 4


def test_request_forms_decode_to_nothing_and_non_standard_fields_are_reported():
    """Issue 9 item 14: CN=2011/2051 requests from the platform are valid; odd fields are named."""
    from sensors.hj212 import frame_segment
    mn = "010000A8900016F000169DC0"
    lines = [frame_segment(f"QN=1;ST=32;CN=2011;PW=100000;MN={mn};Flag=5;CP=&&&&".encode()),
             frame_segment(f"QN=2;ST=32;CN=2051;PW=100000;MN={mn};Flag=5;CP=&&BeginTime=20160801000000,"
                           "EndTime=20160801010000&&".encode()),
             frame_segment(f"QN=3;ST=32;CN=2011;PW=100000;MN={mn};Flag=5;CP=&&DataTime=20160801085857;"
                           "w01018-Rtd=1,w01018-Foo=2&&".encode())]
    res = run(["-"], stdin=b"".join(lines))
    assert res.returncode == 0, res.stderr
    assert res.stderr.decode().splitlines() == ["line 3: non-standard field(s) not read: CP w01018-Foo"]
    assert [json.loads(x)["code"] for x in res.stdout.decode().splitlines()] == ["w01018"]
