"""The README's ffmpeg encoder recipe keeps both AZs fed through ingest restarts.

Runs the exact command from README.md ("Point an encoder at it", the block after the
`encoder-recipe` marker), with a generated test pattern instead of input.mp4 and two real
`zonecast-ingest` processes on loopback instead of ingest-az1/az2.<domain>: az2 is down when
the encoder starts and comes up later; az1 is stopped (SIGTERM, as in an instance replacement
or a restart) and started again mid-stream. Each output must (re)connect by itself while the
other keeps publishing. The ingests upload to an endpoint that refuses connections: only their
RTMP side and /healthz matter here. Publish auth is on, as on AWS: the ingests share a secret
and the encoder publishes with a token from `zonecast-ingest token` ($TOKEN in the recipe).

Needs ffmpeg and the ingest binary (`cargo build -p zonecast-ingest`; tests/run builds it
before running pytest). ZONECAST_INGEST_BIN overrides its path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, free_port

TEST_PATTERN = "-t 40 -f lavfi -i 'testsrc2=size=640x360:rate=30[out0];sine=frequency=440:sample_rate=48000[out1]'"


def readme_recipe() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- encoder-recipe[^>]*-->\s*```sh\n(.*?)```", readme, re.S)
    assert m, "README.md has no encoder-recipe block"
    return m.group(1)


def ingest_binary() -> str:
    path = Path(os.environ.get("ZONECAST_INGEST_BIN", ROOT / "target/debug/zonecast-ingest"))
    if not path.exists():
        pytest.fail(f"{path} is missing: cargo build -p zonecast-ingest (tests/run does)")
    if not shutil.which("ffmpeg"):
        pytest.fail("ffmpeg is missing: apt-get install -y ffmpeg")
    return str(path)


class Ingest:
    def __init__(self, binary: str, az: str, tmp: Path):
        self.binary, self.az, self.tmp = binary, az, tmp
        self.rtmp, self.health = free_port(), free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "ZONECAST_DRAIN_TIMEOUT_SECS": "2",
            "ZONECAST_PUBLISH_AUTH": "required",
            "ZONECAST_PUBLISH_SECRET_FILE": str(self.tmp / "publish-secret"),
            "RUST_LOG": "info",
        }
        log = open(self.tmp / f"ingest-{self.az}.log", "a")
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--az", self.az,
                "--listen", f"127.0.0.1:{self.rtmp}",
                "--health-listen", f"127.0.0.1:{self.health}",
                "--bucket", "test",
                "--region", "us-east-1",
                "--endpoint", "http://127.0.0.1:9",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def publishes(self) -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health}/healthz", timeout=1) as r:
                return int(json.load(r)["publishes"])
        except OSError:
            return None


def wait_until(what: str, condition, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def mint_token(binary: str, tmp: Path) -> str:
    (tmp / "publish-secret").write_text("encoder-recipe-test-secret-0123456789\n")
    out = subprocess.run(
        [binary, "token", "live", "show", "--ttl", "1h", "--publish-secret-file", str(tmp / "publish-secret")],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_readme_ffmpeg_recipe_reconnects_each_az_on_its_own(tmp_path):
    binary = ingest_binary()
    az1, az2 = Ingest(binary, "az1", tmp_path), Ingest(binary, "az2", tmp_path)
    command = readme_recipe()
    assert "-i input.mp4" in command and "ingest-az1.example.com" in command
    assert command.count("/live/show?token=$TOKEN") == 2, "the recipe publishes with a token"
    token = mint_token(binary, tmp_path)
    command = command.replace("-i input.mp4", TEST_PATTERN)
    command = command.replace("rtmp://ingest-az1.example.com/", f"rtmp://127.0.0.1:{az1.rtmp}/")
    command = command.replace("rtmp://ingest-az2.example.com/", f"rtmp://127.0.0.1:{az2.rtmp}/")
    encoder = None
    try:
        az1.start()
        wait_until("az1 /healthz", lambda: az1.publishes() == 0, 30)
        encoder = subprocess.Popen(
            ["bash", "-c", command.replace("ffmpeg ", "exec ffmpeg -hide_banner -loglevel warning ", 1)],
            env={**os.environ, "TOKEN": token},
            stdout=open(tmp_path / "ffmpeg.log", "w"),
            stderr=subprocess.STDOUT,
        )
        wait_until("the encoder on az1", lambda: az1.publishes() == 1, 15)
        # az2 was down when the encoder started: its output keeps trying.
        time.sleep(2)
        az2.start()
        joined = wait_until("the encoder on az2, which came up late", lambda: az2.publishes() == 1, 15)
        print(f"az2 joined {joined:.1f} s after it started")
        # az1 restarts (an instance replacement, a crash): its output reconnects, az2's never drops.
        az1.stop()
        time.sleep(2)
        az1.start()
        back = wait_until("the encoder back on az1 after its restart", lambda: az1.publishes() == 1, 15)
        print(f"az1 back {back:.1f} s after it restarted")
        assert az2.publishes() == 1
        assert encoder.poll() is None, "the encoder exited"
    finally:
        if encoder and encoder.poll() is None:
            encoder.terminate()
            encoder.wait(timeout=10)
        az1.stop()
        az2.stop()
        print((tmp_path / "ffmpeg.log").read_text()[-2000:])
