"""The systemd units (systemd-analyze verify) and the shell scripts (shellcheck) in deploy/.

systemd-analyze verifies the units as installed by deploy/boot.sh, in a scratch root that holds
the host's own system units (for the targets they name) and the executables they start: a
unit it cannot load, an unknown key or a bad value fails the test.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import DEPLOY, have

UNITS = sorted(p.name for p in DEPLOY.iterdir() if p.suffix in (".service", ".timer"))
SCRIPTS = ["boot.sh", *sorted(p.name for p in DEPLOY.glob("zonecast-*.sh"))]


def test_there_is_something_to_check():
    assert "zonecast-ingest.service" in UNITS and "zonecast-eip-watch.service" in UNITS
    assert len(SCRIPTS) == 4


@pytest.fixture(scope="module")
def system_root(tmp_path_factory) -> Path:
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.fail("systemd-analyze is missing: apt-get install -y systemd")
    root = tmp_path_factory.mktemp("root")
    host_units = Path("/usr/lib/systemd/system")
    if not host_units.is_dir():
        host_units = Path("/lib/systemd/system")
    shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
    for exe in ("usr/local/bin/zonecast-ingest", *(f"usr/local/lib/zonecast/{s}" for s in SCRIPTS[1:])):
        path = root / exe
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    (root / "etc/zonecast").mkdir(parents=True)
    (root / "etc/zonecast/ingest.env").write_text("ZONECAST_AZ=az1\n")
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(DEPLOY / unit, units / unit)
    return root


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify(system_root, unit):
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={system_root}", "--man=no", str(system_root / "etc/systemd/system" / unit)],
        capture_output=True,
        text=True,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and output == "", output


def test_verify_would_catch_a_broken_unit(system_root):
    broken = system_root / "etc/systemd/system/zonecast-broken.service"
    text = (DEPLOY / "zonecast-ingest.service").read_text().replace("TimeoutStopSec=", "TimeoutStopSek=")
    broken.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={system_root}", "--man=no", str(broken)], capture_output=True, text=True
    )
    broken.unlink()
    assert "Unknown key 'TimeoutStopSek'" in result.stdout + result.stderr


def test_verify_the_publish_secret_drop_in_boot_sh_writes(system_root):
    """The drop-in deploy/boot.sh writes with publish auth required (LoadCredential, %d)."""
    import re

    boot = (DEPLOY / "boot.sh").read_text(encoding="utf-8")
    m = re.search(r"<<DROPIN\n(.*?)\nDROPIN\n", boot, re.S)
    assert m, "boot.sh writes no publish-secret drop-in"
    text = m.group(1).replace('${secret#"$ROOT"}', "/etc/zonecast/publish-secret") + "\n"
    assert "LoadCredential=publish-secret:/etc/zonecast/publish-secret" in text
    (system_root / "etc/zonecast/publish-secret").write_text("x" * 32)
    drop_in_dir = system_root / "etc/systemd/system/zonecast-ingest.service.d"
    drop_in_dir.mkdir()
    (drop_in_dir / "publish-secret.conf").write_text(text)
    try:
        for content, ok in ((text, True), (text.replace("LoadCredential=", "LoadCredentials="), False)):
            (drop_in_dir / "publish-secret.conf").write_text(content)
            result = subprocess.run(
                ["systemd-analyze", "verify", f"--root={system_root}", "--man=no",
                 str(system_root / "etc/systemd/system/zonecast-ingest.service")],
                capture_output=True,
                text=True,
            )  # fmt: skip
            output = (result.stdout + result.stderr).strip()
            if ok:
                assert result.returncode == 0 and output == "", output
            else:
                assert "LoadCredentials" in output, output
    finally:
        shutil.rmtree(drop_in_dir)
        (system_root / "etc/zonecast/publish-secret").unlink()


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck(script):
    result = subprocess.run(
        [have("shellcheck"), "--shell=bash", "--severity=style", str(DEPLOY / script)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
