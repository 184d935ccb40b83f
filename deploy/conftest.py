"""Fakes for running the instance scripts (deploy/boot.sh and the helpers it installs) here.

- a fake instance metadata service (IMDSv2: token required) that also serves the layer zip;
- a fake ingest /healthz and /metrics on 127.0.0.1 (this instance) and on 127.0.0.2 (the
  instance being replaced), same port, as on two instances;
- stub `aws`, `systemctl`, `journalctl`, `ip` and `getent` commands first on PATH. Every call of a stub
  is appended to one log, in order, so a test can check what happened before what.

Everything reads one JSON state file that a test sets up and that the stub `aws` changes
(associate-address moves the address), so the fakes agree with each other. The layer zip is
built by the real deploy/Makefile with a stub `cargo lambda`: the boot script installs
exactly what a `sam build` would ship.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NEW = "i-0new00000000000001"
OLD = "i-0old00000000000001"
MAC = "0a:1b:2c:3d:4e:5f"
ALLOCATION = "eipalloc-0123456789abcdef0"
TOKEN = "imds-v2-token"
PUBLISH_SECRET_PARAMETER = "/zonecast/publish-secret"
PUBLISH_SECRET = "boot-test-secret-0123456789abcdef"

STUB_AWS = r'''#!/usr/bin/env python3
"""Stub AWS CLI: logs the call, answers from the shared state file."""
import json, os, sys

state_path = os.environ["FAKE_STATE"]
with open(state_path) as f:
    state = json.load(f)
argv = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({"cmd": "aws", "argv": argv}) + "\n")

def opt(name):
    return argv[argv.index(name) + 1] if name in argv else None

def save():
    with open(state_path + ".aws", "w") as f:
        json.dump(state, f)
    os.replace(state_path + ".aws", state_path)

op = " ".join(argv[:2])
failure = state.get("fail", {}).get(argv[1] if len(argv) > 1 else "")
if failure:
    sys.stderr.write(f"\nAn error occurred ({failure}) when calling the {argv[1]} operation: stub\n")
    sys.exit(254)
if op == "lambda get-layer-version-by-arn":
    print(state["layer_url"])
elif op == "ec2 describe-addresses":
    holder = state.get("holder") or "None"
    holder_ip = state.get("holder_ip") or "None"
    if opt("--query") == "Addresses[0].InstanceId":
        print(holder)
    else:
        print(f"{holder}\t{holder_ip}")
elif op == "ec2 associate-address":
    state["holder"] = opt("--instance-id")
    state["holder_ip"] = opt("--private-ip-address")
    save()
    print('{"AssociationId": "eipassoc-0stub"}')
elif op == "cloudformation signal-resource":
    if state.get("signal", "accept") != "accept":
        sys.stderr.write("\nAn error occurred (ValidationError) when calling the SignalResource "
                         "operation: Resource is in CREATE_COMPLETE state and cannot be signaled\n")
        sys.exit(254)
elif op == "ssm get-parameter":
    name = opt("--name")
    value = state.get("ssm_parameters", {}).get(name)
    if value is None:
        sys.stderr.write(f"\nAn error occurred (ParameterNotFound) when calling the GetParameter operation: {name}\n")
        sys.exit(254)
    if "--with-decryption" not in argv:
        value = "AQICAHencryptedblob"
    print(value)
elif op in ("autoscaling set-instance-health", "cloudwatch put-metric-data"):
    pass
else:
    sys.stderr.write(f"stub aws: unexpected call {argv}\n")
    sys.exit(252)
'''

STUB_SYSTEMCTL = r'''#!/usr/bin/env python3
import json, os, sys
argv = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({"cmd": "systemctl", "argv": argv}) + "\n")
with open(os.environ["FAKE_STATE"]) as f:
    state = json.load(f)
if argv[:1] == ["show"]:
    prop = argv[argv.index("-p") + 1]
    print(state.get("unit", {}).get(prop, ""))
'''

STUB_IP = r'''#!/usr/bin/env python3
import json, os, sys
with open(os.environ["FAKE_STATE"]) as f:
    state = json.load(f)
for n, address in enumerate(state.get("configured_ips", [])):
    print(f"2: ens5    inet {address}/24 brd 10.0.1.255 scope global {'secondary ' if n else ''}ens5")
'''

STUB_JOURNALCTL = "#!/bin/sh\necho 'journal: (stub)'\n"

STUB_GETENT = r'''#!/usr/bin/env python3
"""Stub getent ahostsv4: answers from the state's "dns" map (name -> addresses), never the
real resolver."""
import json, os, sys
with open(os.environ["FAKE_STATE"]) as f:
    state = json.load(f)
argv = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({"cmd": "getent", "argv": argv}) + "\n")
addresses = state.get("dns", {}).get(argv[1], []) if argv[:1] == ["ahostsv4"] and len(argv) > 1 else []
for address in addresses:
    print(f"{address}      STREAM {argv[1]}")
sys.exit(0 if addresses else 2)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fake:
    """One instance's world: state file, stubs, servers, paths."""

    def __init__(self, tmp: Path, layer_zip: bytes):
        self.tmp = tmp
        self.root = tmp / "root"
        (self.root / "etc" / "zonecast").mkdir(parents=True)
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.state_path = tmp / "state.json"
        self.log_path = tmp / "calls.jsonl"
        self.log_path.write_text("")
        self.layer_zip = layer_zip
        self.health_port = free_port()
        self.servers: list[ThreadingHTTPServer] = []
        for name, body in (
            ("aws", STUB_AWS),
            ("systemctl", STUB_SYSTEMCTL),
            ("ip", STUB_IP),
            ("journalctl", STUB_JOURNALCTL),
            ("getent", STUB_GETENT),
        ):
            path = self.bin / name
            path.write_text(body)
            path.chmod(0o755)
        self.imds_port = self.serve("127.0.0.1", 0, self.imds)
        self.serve("127.0.0.1", self.health_port, self.health("me"))
        self.serve("127.0.0.2", self.health_port, self.health("old"))
        self.write_state(
            {
                "instance_id": NEW,
                "primary_ip": "10.0.1.10",
                "private_ips": ["10.0.1.10", "10.0.1.11"],
                "configured_ips": ["10.0.1.10", "10.0.1.11"],
                "layer_url": f"http://127.0.0.1:{self.imds_port}/layer.zip",
                "layer_missing": False,
                "holder": None,
                "holder_ip": None,
                "signal": "accept",
                "fail": {},
                "ssm_parameters": {PUBLISH_SECRET_PARAMETER: PUBLISH_SECRET},
                "me": {"up": True, "publishes": 0, "publishes_when_holding": 0, "metrics": ""},
                "old": {"up": True, "publishes": 0},
                "unit": {"ActiveState": "active", "ActiveEnterTimestampMonotonic": "0"},
            }
        )

    # --- state ----------------------------------------------------------------------------

    def state(self) -> dict:
        return json.loads(self.state_path.read_text())

    def write_state(self, state: dict) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_path)

    def update(self, **changes: Any) -> None:
        state = self.state()
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(state.get(key), dict):
                state[key].update(value)
            else:
                state[key] = value
        self.write_state(state)

    def calls(self, cmd: str | None = None) -> list[list[str]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            entry = json.loads(line)
            if cmd is None or entry["cmd"] == cmd:
                out.append([entry["cmd"], *entry["argv"]] if cmd is None else entry["argv"])
        return out

    def aws(self, op: str) -> list[list[str]]:
        """Calls of one AWS CLI operation, e.g. 'ec2 associate-address'."""
        service, name = op.split()
        return [a for a in self.calls("aws") if a[:2] == [service, name]]

    def index(self, cmd: str, *prefix: str) -> int:
        """Position in the call log of the first call of `cmd` starting with `prefix`."""
        for i, call in enumerate(self.calls()):
            if call[0] == cmd and call[1 : 1 + len(prefix)] == list(prefix):
                return i
        raise AssertionError(f"no call {cmd} {' '.join(prefix)} in {self.calls()}")

    # --- servers --------------------------------------------------------------------------

    def serve(self, host: str, port: int, handle) -> int:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                handle(self)

            def do_PUT(self):  # noqa: N802
                handle(self)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.servers.append(server)
        return server.server_address[1]

    @staticmethod
    def reply(req: BaseHTTPRequestHandler, status: int, body: bytes | str, ctype="text/plain") -> None:
        data = body.encode() if isinstance(body, str) else body
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def imds(self, req: BaseHTTPRequestHandler) -> None:
        state = self.state()
        if req.path == "/layer.zip":
            if state["layer_missing"]:
                return self.reply(req, 404, "NoSuchKey")
            return self.reply(req, 200, self.layer_zip, "application/zip")
        if req.command == "PUT" and req.path == "/latest/api/token":
            if not req.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self.reply(req, 400, "missing ttl")
            return self.reply(req, 200, TOKEN)
        if req.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            return self.reply(req, 401, "IMDSv2 token required")
        answers = {
            "/latest/meta-data/instance-id": state["instance_id"],
            "/latest/meta-data/mac": MAC,
            "/latest/meta-data/local-ipv4": state["primary_ip"],
            f"/latest/meta-data/network/interfaces/macs/{MAC}/local-ipv4s": "\n".join(state["private_ips"]),
        }
        if req.path in answers:
            return self.reply(req, 200, answers[req.path])
        return self.reply(req, 404, "not found")

    def health(self, who: str):
        def handle(req: BaseHTTPRequestHandler) -> None:
            state = self.state()
            me = state[who]
            if not me["up"]:
                return self.reply(req, 503, "down")
            if req.path == "/healthz":
                publishes = me["publishes"]
                if who == "me" and state["holder"] == state["instance_id"]:
                    publishes = me["publishes_when_holding"]
                body = {"az": "az1", "status": "ok", "publishes": publishes, "pid": 4242}  # as the ingest writes it
                return self.reply(req, 200, json.dumps(body, separators=(",", ":")) + "\n", "application/json")
            if req.path == "/metrics":
                return self.reply(req, 200, me.get("metrics", ""))
            return self.reply(req, 404, "not found")

        return handle

    # --- running scripts ------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(self.tmp),
            "FAKE_STATE": str(self.state_path),
            "FAKE_LOG": str(self.log_path),
            "ZONECAST_ROOT": str(self.root),
            "ZONECAST_IMDS_URL": f"http://127.0.0.1:{self.imds_port}",
            "ZONECAST_HEALTH_PORT": str(self.health_port),
            "ZONECAST_HEALTH_URL": f"http://127.0.0.1:{self.health_port}/healthz",
            "ZONECAST_METRICS_URL": f"http://127.0.0.1:{self.health_port}/metrics",
            "ZONECAST_STATE_DIR": str(self.root / "run" / "zonecast"),
            "ZONECAST_POLL_SECS": "0.1",
            "ZONECAST_HEALTH_TIMEOUT_SECS": "3",
            "ZONECAST_ADDRESS_TIMEOUT_SECS": "1",
            "ZONECAST_HEALTH_RETRY_SECS": "0.1",
        }
        env.update(extra)
        return env

    def run(self, script: Path, *args: str, timeout: float = 60, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["/bin/bash", str(script), *args],
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="session")
def layer_zip(tmp_path_factory) -> bytes:
    """The layer as `sam build` makes it (deploy/Makefile), with a stub ingest binary."""
    tmp = tmp_path_factory.mktemp("layer")
    stub = tmp / "cargo-lambda"
    stub.write_text(
        "#!/bin/bash\n"
        "# Stub of `cargo lambda build ... --lambda-dir DIR`: a fake ingest bootstrap.\n"
        'while [ $# -gt 0 ]; do [ "$1" = --lambda-dir ] && dir=$2; shift; done\n'
        'mkdir -p "$dir/zonecast-ingest"\n'
        "printf '#!/bin/sh\\necho zonecast-ingest 0.0.0-stub\\n' > \"$dir/zonecast-ingest/bootstrap\"\n"
    )
    stub.chmod(0o755)
    artifacts = tmp / "artifacts"
    artifacts.mkdir()
    subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-f",
            str(DEPLOY / "Makefile"),
            "build-IngestBinaryLayer",
            f"ARTIFACTS_DIR={artifacts}",
            f"CARGO_LAMBDA={stub}",
            f"LAMBDA_DIR={tmp / 'lambda'}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    zip_path = tmp / "layer.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        for path in sorted(artifacts.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(artifacts).as_posix())
    return zip_path.read_bytes()


@pytest.fixture
def fake(tmp_path, layer_zip) -> Iterator[Fake]:
    world = Fake(tmp_path, layer_zip)
    try:
        yield world
    finally:
        world.close()


def have(tool: str) -> str:
    """Path of a tool, next to this Python first (.venv/bin), then on PATH."""
    beside = Path(sys.executable).parent / tool
    if beside.exists():
        return str(beside)
    found = shutil.which(tool)
    if not found:
        pytest.fail(f"{tool} is missing (deploy/requirements.txt or apt)")
    return found
