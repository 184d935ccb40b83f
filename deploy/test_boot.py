"""The instance scripts against a stub aws CLI and a fake instance metadata service (conftest.py).

deploy/boot.sh (the launch templates' user data): success on a fresh stack, a deploy's
hand-over (the address moves only once the new ingest is healthy; the signal waits for the
streams), the streams not coming back, layer download failure, Elastic IP failure, health never
green; each failure in and outside a deploy. Then the helpers the layer ships:
zonecast-eip-watch.sh, zonecast-healthcheck.sh, zonecast-metrics.sh.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from cfnlint.decode import cfn_yaml
from conftest import ALLOCATION, DEPLOY, NEW, OLD, PUBLISH_SECRET, PUBLISH_SECRET_PARAMETER, ROOT

BOOT = DEPLOY / "boot.sh"
WATCH = DEPLOY / "zonecast-eip-watch.sh"
HEALTHCHECK = DEPLOY / "zonecast-healthcheck.sh"
METRICS = DEPLOY / "zonecast-metrics.sh"
LAYER_ARN = "arn:aws:lambda:eu-west-1:123456789012:layer:zonecast-zonecast-ingest:7"
SUBSTITUTIONS = {
    "AWS::Region": "eu-west-1",
    "AWS::StackName": "zonecast",
    "IngestBinaryLayer": LAYER_ARN,
    "EipAz1.AllocationId": ALLOCATION,
    "MediaBucket": "zonecast-mediabucket-1a2b3c",
    "Distribution": "E2EXAMPLE",
    "TargetDurationMs": "2000",
    "Window": "6",
    "ReconnectGraceSecs": "60",
    "PublishAuth": "required",
    "PublishSecretParameter": PUBLISH_SECRET_PARAMETER,
    "PeerRelayHost": "ec2-203-0-113-20.eu-west-1.compute.amazonaws.com",
}


def user_data_file(name: str) -> str:
    """A file the az1 launch template's user data writes (heredoc `cat > /etc/zonecast/NAME`),
    with the template's !Sub variables filled in as CloudFormation would."""
    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    data = template["Resources"]["IngestLaunchTemplateAz1"]["Properties"]["LaunchTemplateData"]
    header = data["UserData"]["Fn::Base64"]["Fn::Join"][1][0]["Fn::Sub"]
    header = header[0] if isinstance(header, list) else header
    m = re.search(rf"cat > /etc/zonecast/{re.escape(name)} <<'ENV'\n(.*?)\nENV\n", header, re.S)
    assert m, f"user data writes no /etc/zonecast/{name}"
    body = re.sub(r"\$\{([^}]+)\}", lambda v: SUBSTITUTIONS[v.group(1)], m.group(1))
    return body + "\n"


def boot(fake, rejoin_secs: int = 3, publish_auth: str = "required", **env):
    boot_env = user_data_file("boot.env").replace("ZONECAST_PUBLISH_AUTH=required", f"ZONECAST_PUBLISH_AUTH={publish_auth}")
    (fake.root / "etc/zonecast/boot.env").write_text(boot_env + f"ZONECAST_REJOIN_TIMEOUT_SECS={rejoin_secs}\n")
    result = fake.run(BOOT, **env)
    print(result.stderr)
    return result


def installed(fake) -> None:
    root = fake.root
    assert (root / "usr/local/bin/zonecast-ingest").stat().st_mode & 0o111
    for script in ("zonecast-healthcheck.sh", "zonecast-metrics.sh", "zonecast-eip-watch.sh"):
        assert (root / "usr/local/lib/zonecast" / script).stat().st_mode & 0o111, script
    for unit in ("zonecast-ingest.service", "zonecast-eip-watch.service", "zonecast-metrics.timer"):
        assert (root / "etc/systemd/system" / unit).read_text() == (DEPLOY / unit).read_text()
    env = (root / "etc/zonecast/instance.env").read_text()
    assert env == f"ZONECAST_INSTANCE_ID={NEW}\nZONECAST_EIP_PRIVATE_IP=10.0.1.11\n"


def signals(fake) -> list[str]:
    return [a[a.index("--status") + 1] for a in fake.aws("cloudformation signal-resource")]


# --- boot.sh: success -----------------------------------------------------------------------


def test_boot_on_a_new_stack_takes_the_free_address_and_signals(fake):
    result = boot(fake)
    assert result.returncode == 0
    installed(fake)
    (assoc,) = fake.aws("ec2 associate-address")
    assert assoc[assoc.index("--allocation-id") + 1] == ALLOCATION
    assert assoc[assoc.index("--instance-id") + 1] == NEW
    # The secondary private IP: the primary keeps the instance's own public IP.
    assert assoc[assoc.index("--private-ip-address") + 1] == "10.0.1.11"
    assert "--allow-reassociation" in assoc
    assert signals(fake) == ["SUCCESS"]
    (sig,) = fake.aws("cloudformation signal-resource")
    assert sig[sig.index("--logical-resource-id") + 1] == "IngestGroupAz1"
    assert sig[sig.index("--unique-id") + 1] == NEW
    assert not fake.aws("autoscaling set-instance-health")
    # Started before the address moved; the watch only once it holds the address.
    start = fake.index("systemctl", "enable", "--now", "zonecast-ingest.service")
    take = fake.index("aws", "ec2", "associate-address")
    watch = fake.index("systemctl", "enable", "--now", "zonecast-eip-watch.service")
    assert start < take < watch < fake.index("aws", "cloudformation", "signal-resource")
    enabled = fake.calls("systemctl")[[c[:3] for c in fake.calls("systemctl")].index(["enable", "--now", "zonecast-ingest.service"])]
    assert enabled == ["enable", "--now", "zonecast-ingest.service", "zonecast-healthcheck.timer", "zonecast-metrics.timer"]
    layer = fake.aws("lambda get-layer-version-by-arn")
    assert layer and layer[0][layer[0].index("--arn") + 1] == LAYER_ARN


def test_deploy_hands_over_only_when_healthy_and_signals_once_the_streams_are_back(fake):
    fake.update(holder=OLD, holder_ip="127.0.0.2", old={"publishes": 2})
    fake.update(me={"publishes": 0, "publishes_when_holding": 0})

    # The encoders come back 1.5 s after the address moved.
    import threading

    def encoders_reconnect():
        deadline = time.time() + 20
        while time.time() < deadline:
            if fake.state()["holder"] == NEW:
                time.sleep(1.5)
                fake.update(me={"publishes_when_holding": 2})
                return
            time.sleep(0.05)

    threading.Thread(target=encoders_reconnect, daemon=True).start()
    started = time.time()
    result = boot(fake, rejoin_secs=20)
    assert result.returncode == 0
    assert signals(fake) == ["SUCCESS"]
    assert time.time() - started >= 1.5, "signalled before the streams were back"
    assert "the address is on i-0old00000000000001 (127.0.0.2), which publishes 2 stream(s)" in result.stderr
    assert "publishing 2 stream(s) (the previous instance had 2)" in result.stderr
    assert fake.state()["holder"] == NEW
    assert fake.index("aws", "ec2", "describe-addresses") < fake.index("aws", "ec2", "associate-address")


def test_deploy_whose_streams_do_not_come_back_gives_the_address_back_and_fails(fake):
    fake.update(holder=OLD, holder_ip="127.0.0.2", old={"publishes": 1})
    result = boot(fake, rejoin_secs=1)
    assert result.returncode == 1
    assert "streams did not come back: 0 of 1 publish(es) within 1 s" in result.stderr
    assert signals(fake) == ["FAILURE"]
    # Drained first, then the address went back to the previous instance's own private IP.
    back = fake.aws("ec2 associate-address")[-1]
    assert back[back.index("--instance-id") + 1] == OLD
    assert back[back.index("--private-ip-address") + 1] == "127.0.0.2"
    assert fake.state()["holder"] == OLD
    drain = fake.index("systemctl", "stop", "zonecast-ingest.service")
    assert drain < len(fake.calls()) - 1 - [c[:3] for c in reversed(fake.calls())].index(["aws", "ec2", "associate-address"])
    # In a deploy CloudFormation deletes the new group: never marked unhealthy (that would start
    # another instance that takes the address while the group is being deleted).
    assert not fake.aws("autoscaling set-instance-health")


def test_streams_not_back_outside_a_deploy_keeps_serving(fake):
    fake.update(holder=OLD, holder_ip="127.0.0.2", old={"publishes": 1}, signal="refuse")
    result = boot(fake, rejoin_secs=1)
    assert result.returncode == 0
    assert fake.state()["holder"] == NEW
    assert not fake.aws("autoscaling set-instance-health")
    assert ["stop", "zonecast-ingest.service"] not in fake.calls("systemctl")


def test_an_instance_already_holding_the_address_waits_for_nothing(fake):
    fake.update(holder=NEW, holder_ip="10.0.1.11")
    assert boot(fake).returncode == 0
    assert signals(fake) == ["SUCCESS"]


# --- boot.sh: failures ----------------------------------------------------------------------


def failed_before_the_address(fake, result, in_deploy: bool) -> None:
    assert result.returncode == 1
    assert signals(fake) == ["FAILURE"]
    health = fake.aws("autoscaling set-instance-health")
    if in_deploy:
        # CloudFormation accepted the FAILURE: it rolls the deploy back itself.
        assert not health
    else:
        (call,) = health
        assert call[call.index("--instance-id") + 1] == NEW
        assert call[call.index("--health-status") + 1] == "Unhealthy"
        assert "--no-should-respect-grace-period" in call
    # The address never moved: the previous instance keeps its encoders.
    assert not fake.aws("ec2 associate-address")
    assert fake.state()["holder"] == OLD


@pytest.mark.parametrize("in_deploy", [True, False], ids=["deploy", "self-healing"])
def test_layer_download_failure(fake, in_deploy):
    fake.update(holder=OLD, holder_ip="127.0.0.2", layer_missing=True, signal="accept" if in_deploy else "refuse")
    result = boot(fake)
    assert "FAILED: layer download: the layer content could not be fetched" in result.stderr
    failed_before_the_address(fake, result, in_deploy)
    assert not (fake.root / "usr/local/bin/zonecast-ingest").exists()


@pytest.mark.parametrize("in_deploy", [True, False], ids=["deploy", "self-healing"])
def test_layer_version_not_readable(fake, in_deploy):
    fake.update(holder=OLD, holder_ip="127.0.0.2", fail={"get-layer-version-by-arn": "AccessDeniedException"})
    fake.update(signal="accept" if in_deploy else "refuse")
    result = boot(fake)
    assert "FAILED: layer download: get-layer-version-by-arn failed" in result.stderr
    failed_before_the_address(fake, result, in_deploy)


@pytest.mark.parametrize("in_deploy", [True, False], ids=["deploy", "self-healing"])
def test_elastic_ip_failure(fake, in_deploy):
    fake.update(holder=OLD, holder_ip="127.0.0.2", fail={"associate-address": "UnauthorizedOperation"})
    fake.update(signal="accept" if in_deploy else "refuse")
    result = boot(fake)
    assert "FAILED: Elastic IP: associate-address failed" in result.stderr
    assert result.returncode == 1
    assert signals(fake) == ["FAILURE"]
    assert bool(fake.aws("autoscaling set-instance-health")) is not in_deploy
    assert fake.state()["holder"] == OLD


def test_secondary_ip_never_configured(fake):
    fake.update(holder=OLD, holder_ip="127.0.0.2", configured_ips=["10.0.1.10"], signal="refuse")
    result = boot(fake)
    assert "FAILED: Elastic IP: 10.0.1.11 is not configured on any interface" in result.stderr
    failed_before_the_address(fake, result, in_deploy=False)


@pytest.mark.parametrize("in_deploy", [True, False], ids=["deploy", "self-healing"])
def test_health_never_green(fake, in_deploy):
    fake.update(holder=OLD, holder_ip="127.0.0.2", me={"up": False}, signal="accept" if in_deploy else "refuse")
    started = time.time()
    result = boot(fake, ZONECAST_HEALTH_TIMEOUT_SECS="2")
    assert time.time() - started < 15
    assert "FAILED: health never green: no answer from /healthz within 2 s" in result.stderr
    assert "journal: (stub)" in result.stderr, "the ingest's last log lines go to the console"
    failed_before_the_address(fake, result, in_deploy)


def test_no_instance_metadata_token(fake):
    result = boot(fake, ZONECAST_IMDS_URL="http://127.0.0.1:9/")
    assert result.returncode == 1
    assert "FAILED: instance metadata: no IMDSv2 token" in result.stderr
    assert signals(fake) == ["FAILURE"]


@pytest.mark.parametrize(
    "listed",
    [["10.0.1.10", "10.0.1.11"], ["10.0.1.11", "10.0.1.10"]],
    ids=["primary-first", "primary-last"],
)
def test_the_address_goes_on_the_ip_that_is_not_local_ipv4_in_any_order(fake, listed):
    """The metadata service documents no order for local-ipv4s: the secondary is the address
    that is not local-ipv4 (issue 17, part 4)."""
    fake.update(primary_ip="10.0.1.10", private_ips=listed)
    result = boot(fake)
    assert result.returncode == 0
    (assoc,) = fake.aws("ec2 associate-address")
    assert assoc[assoc.index("--private-ip-address") + 1] == "10.0.1.11"
    installed(fake)


def test_no_secondary_ip_besides_the_primary_fails_before_the_address(fake):
    fake.update(primary_ip="10.0.1.10", private_ips=["10.0.1.10"], holder=OLD, holder_ip="127.0.0.2", signal="refuse")
    result = boot(fake)
    assert "FAILED: no secondary private IP besides 10.0.1.10" in result.stderr
    failed_before_the_address(fake, result, in_deploy=False)


PEER = SUBSTITUTIONS["PeerRelayHost"]


@pytest.mark.parametrize(
    "answer, error",
    [
        (["10.0.2.20"], None),
        ([], "resolves to nothing"),
        (["203.0.113.20"], "resolves to 203.0.113.20"),
    ],
    ids=["vpc-dns-private", "no-vpc-dns", "public-address"],
)
def test_boot_checks_that_the_relay_name_resolves_to_a_private_address(fake, answer, error):
    """The relay's peer name resolves to the peer's private address only with the VPC's DNS
    attributes on: without, the boot log says so clearly, and the boot still succeeds (direct
    publishes do not need the relay)."""
    (fake.root / "etc/zonecast/ingest.env").write_text(user_data_file("ingest.env"))
    fake.update(dns={PEER: answer} if answer else {})
    result = boot(fake)
    assert result.returncode == 0
    assert signals(fake) == ["SUCCESS"]
    assert ["ahostsv4", PEER] in fake.calls("getent")
    if error is None:
        assert f"relay to the peer ingest: {PEER} is 10.0.2.20 (private)" in result.stderr
        assert "RELAY ERROR" not in result.stderr
    else:
        line = next(l for l in result.stderr.splitlines() if "RELAY ERROR" in l)
        assert error in line and PEER in line
        assert "enableDnsSupport and enableDnsHostnames" in line


def test_boot_puts_the_figures_once_before_it_signals(fake):
    """The "ingest not running" alarm is made after the signal (DependsOn the group): a real
    IngestUp datapoint must be in CloudWatch by then, or a first create would see the alarm
    fire on the missing minutes before it (issue 17, part 3)."""
    result = boot(fake)
    assert result.returncode == 0
    metrics = fake.index("systemctl", "start", "zonecast-metrics.service")
    assert fake.index("aws", "ec2", "associate-address") < metrics
    assert metrics < fake.index("aws", "cloudformation", "signal-resource")


# --- zonecast-eip-watch.sh ------------------------------------------------------------------


def watch(fake, **state):
    (fake.root / "etc/zonecast/boot.env").write_text(user_data_file("boot.env"))
    (fake.root / "etc/zonecast/instance.env").write_text(
        f"ZONECAST_INSTANCE_ID={OLD}\nZONECAST_EIP_PRIVATE_IP=10.0.1.21\n"
    )
    fake.update(**state)
    result = fake.run(WATCH, "--once")
    print(result.stderr)
    assert result.returncode == 0
    return result


def handed_over(fake) -> bool:
    return (fake.root / "run/zonecast/handed-over").exists()


def test_watch_drains_when_a_newer_instance_took_the_address(fake):
    watch(fake, holder=NEW, holder_ip="10.0.1.11")
    stops = [c for c in fake.calls("systemctl") if c[0] == "stop"]
    assert stops == [["stop", "zonecast-healthcheck.timer", "zonecast-metrics.timer"], ["stop", "zonecast-ingest.service"]]
    assert handed_over(fake)
    # Once only.
    watch(fake)
    assert len([c for c in fake.calls("systemctl") if c[0] == "stop"]) == 2


def test_watch_takes_a_free_address_back_and_restarts_the_ingest(fake):
    watch(fake, holder=NEW, holder_ip="10.0.1.11")
    # The deploy rolled back: CloudFormation deleted the new group, the address is free.
    watch(fake, holder=None, holder_ip=None)
    back = fake.aws("ec2 associate-address")[-1]
    assert back[back.index("--instance-id") + 1] == OLD
    assert back[back.index("--private-ip-address") + 1] == "10.0.1.21"
    assert fake.calls("systemctl")[-1] == ["start", "zonecast-ingest.service", "zonecast-healthcheck.timer", "zonecast-metrics.timer"]
    assert not handed_over(fake)


def test_watch_restarts_the_ingest_when_the_address_is_given_back(fake):
    watch(fake, holder=NEW, holder_ip="10.0.1.11")
    watch(fake, holder=OLD, holder_ip="10.0.1.21")
    assert fake.calls("systemctl")[-1][0] == "start"
    assert not fake.aws("ec2 associate-address")


def test_watch_leaves_a_serving_instance_alone_and_ignores_api_errors(fake):
    watch(fake, holder=OLD, holder_ip="10.0.1.21")
    watch(fake, fail={"describe-addresses": "RequestLimitExceeded"})
    assert fake.calls("systemctl") == []
    assert not fake.aws("ec2 associate-address")


# --- zonecast-healthcheck.sh ----------------------------------------------------------------

METRICS_TEXT = """zonecast_segments_uploaded_total{{az="az1"}} {seg}
zonecast_indexes_uploaded_total{{az="az1"}} {idx}
zonecast_upload_retries_total{{az="az1"}} {retries}
zonecast_uploads_pending{{az="az1"}} {pending}
zonecast_publishes_active{{az="az1"}} 1
"""


def healthcheck(fake, **state):
    fake.update(**state)
    result = fake.run(HEALTHCHECK)
    print(result.stderr)
    assert result.returncode == 0
    return [c for c in fake.calls("systemctl") if c[0] == "restart"]


def test_healthcheck_restarts_a_hung_ingest(fake):
    assert healthcheck(fake, me={"up": False}) == [["restart", "zonecast-ingest.service"]]


def test_healthcheck_leaves_a_starting_or_stopped_ingest_alone(fake):
    assert healthcheck(fake, me={"up": False}, unit={"ActiveState": "deactivating"}) == []


def test_healthcheck_restarts_an_ingest_that_stopped_producing(fake):
    text = METRICS_TEXT.format(seg=40, idx=41, retries=0, pending=0)
    assert healthcheck(fake, me={"publishes": 1, "metrics": text}) == []
    progress = fake.root / "run/zonecast/healthcheck.progress"
    fingerprint, since = progress.read_text().split()
    # Same counters 61 s later: stuck.
    progress.write_text(f"{fingerprint} {int(since) - 61}\n")
    assert healthcheck(fake) == [["restart", "zonecast-ingest.service"]]


def test_healthcheck_keeps_an_ingest_that_produces_or_waits_for_s3(fake):
    progress = fake.root / "run/zonecast/healthcheck.progress"
    for n, (seg, retries, pending) in enumerate([(40, 0, 0), (41, 0, 0), (41, 3, 1), (41, 5, 2)]):
        text = METRICS_TEXT.format(seg=seg, idx=seg, retries=retries, pending=pending)
        if progress.exists():
            fingerprint, since = progress.read_text().split()
            progress.write_text(f"{fingerprint} {int(since) - 120}\n")
        assert healthcheck(fake, me={"publishes": 1, "metrics": text}) == [], n


def test_healthcheck_never_restarts_an_idle_ingest(fake):
    text = METRICS_TEXT.format(seg=0, idx=0, retries=0, pending=0)
    healthcheck(fake, me={"publishes": 0, "metrics": text})
    assert not (fake.root / "run/zonecast/healthcheck.progress").exists()


# --- zonecast-metrics.sh --------------------------------------------------------------------


def put_metrics(fake, **state):
    (fake.root / "etc/zonecast/boot.env").write_text(user_data_file("boot.env"))
    fake.update(**state)
    result = fake.run(METRICS)
    print(result.stderr)
    assert result.returncode == 0
    call = fake.aws("cloudwatch put-metric-data")[-1]
    assert call[call.index("--namespace") + 1] == "ZoneCast"
    assert call[call.index("--region") + 1] == "eu-west-1"
    data = json.loads(call[call.index("--metric-data") + 1])
    for datum in data:
        assert datum["Dimensions"] == [{"Name": "Stack", "Value": "zonecast"}, {"Name": "AZ", "Value": "az1"}]
    return {d["MetricName"]: d["Value"] for d in data}


def test_metrics_report_a_running_ingest_with_deltas(fake):
    text = METRICS_TEXT.format(seg=40, idx=41, retries=2, pending=1)
    first = put_metrics(fake, me={"publishes": 2, "metrics": text})
    assert first == {"IngestUp": 1, "Publishes": 2, "SegmentsUploaded": 40, "UploadRetries": 2, "UploadsPending": 1}
    text = METRICS_TEXT.format(seg=70, idx=71, retries=2, pending=0)
    second = put_metrics(fake, me={"metrics": text})
    assert second == {"IngestUp": 1, "Publishes": 2, "SegmentsUploaded": 30, "UploadRetries": 0, "UploadsPending": 0}
    # A restarted ingest counts from 0 again.
    text = METRICS_TEXT.format(seg=5, idx=5, retries=0, pending=0)
    assert put_metrics(fake, me={"metrics": text})["SegmentsUploaded"] == 5


def test_metrics_report_a_dead_ingest(fake):
    assert put_metrics(fake, me={"up": False}) == {
        "IngestUp": 0,
        "Publishes": 0,
        "SegmentsUploaded": 0,
        "UploadRetries": 0,
        "UploadsPending": 0,
    }


# --- boot.sh: the publish secret ------------------------------------------------------------

DROP_IN = "etc/systemd/system/zonecast-ingest.service.d/publish-secret.conf"


def test_boot_hands_the_publish_secret_to_the_ingest_as_a_credential(fake):
    result = boot(fake)
    assert result.returncode == 0, result.stderr
    (call,) = fake.aws("ssm get-parameter")
    assert call[call.index("--name") + 1] == PUBLISH_SECRET_PARAMETER
    assert "--with-decryption" in call and call[call.index("--region") + 1] == "eu-west-1"
    secret = fake.root / "etc/zonecast/publish-secret"
    assert secret.read_text().strip() == PUBLISH_SECRET
    assert secret.stat().st_mode & 0o777 == 0o600
    # systemd reads the file as root and gives the ingest's dynamic user its own copy.
    assert (fake.root / DROP_IN).read_text() == (
        "[Service]\n"
        "LoadCredential=publish-secret:/etc/zonecast/publish-secret\n"
        "Environment=ZONECAST_PUBLISH_SECRET_FILE=%d/publish-secret\n"
    )
    # Fetched before the ingest starts; the secret is in no log and on no command line.
    assert fake.index("aws", "ssm", "get-parameter") < fake.index("systemctl", "enable", "--now", "zonecast-ingest.service")
    assert PUBLISH_SECRET not in result.stderr + result.stdout
    assert PUBLISH_SECRET not in fake.log_path.read_text()
    assert PUBLISH_SECRET not in (fake.root / "etc/zonecast/boot.env").read_text()
    assert signals(fake) == ["SUCCESS"]


def test_boot_fails_before_taking_the_address_without_the_publish_secret(fake):
    fake.update(ssm_parameters={PUBLISH_SECRET_PARAMETER: None})  # not there
    result = boot(fake)
    assert result.returncode == 1
    assert "publish secret: ssm get-parameter /zonecast/publish-secret failed" in result.stderr
    assert "ParameterNotFound" in result.stderr
    assert signals(fake) == ["FAILURE"]
    assert not fake.aws("ec2 associate-address")
    assert ["enable", "--now", "zonecast-ingest.service"] not in [c[:3] for c in fake.calls("systemctl")]
    assert not (fake.root / "etc/zonecast/publish-secret").exists()
    assert not (fake.root / "etc/zonecast/publish-secret.new").exists()


def test_boot_refuses_a_short_publish_secret(fake):
    fake.update(ssm_parameters={PUBLISH_SECRET_PARAMETER: "short"})
    result = boot(fake)
    assert result.returncode == 1
    assert "fewer than 16 characters" in result.stderr and "short" not in result.stderr.split("FAILED")[-1]
    assert signals(fake) == ["FAILURE"]


def test_boot_with_publish_auth_off_reads_no_secret(fake):
    fake.update(ssm_parameters={PUBLISH_SECRET_PARAMETER: None})  # not there
    result = boot(fake, publish_auth="off")
    assert result.returncode == 0, result.stderr
    assert not fake.aws("ssm get-parameter")
    assert not (fake.root / DROP_IN).exists()
    assert signals(fake) == ["SUCCESS"]
