"""Security and wiring properties of template.yaml and the files it depends on.

Run from the repository root:  .venv/bin/pytest deploy/
Needs cfn-lint (its loader understands !Ref, !Sub, !GetAtt ...) and pytest.
Every assertion compares real values: break the property in template.yaml and it fails.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Iterator

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
AZS = ("az1", "az2")
DISTRIBUTION_ARN = "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"
PUBLISH_SECRET_ARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${PublishSecretParameter}"

# Actions that change or remove objects, or that imply everything.
S3_WRITE = re.compile(r"^s3:(\*|Put.*|Delete.*|Restore.*|Replicate.*|AbortMultipartUpload)$", re.I)


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn_yaml.load(str(TEMPLATE_PATH))


@pytest.fixture(scope="module")
def resources(template: dict) -> dict:
    return template["Resources"]


def of_type(resources: dict, type_name: str) -> dict:
    return {k: v for k, v in resources.items() if v["Type"] == type_name}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def text(value: Any) -> str:
    """A plain string, or the template string of a !Sub."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    raise AssertionError(f"expected a string or !Sub, got {value!r}")


def statements(policy_document: dict) -> list[dict]:
    return as_list(policy_document["Statement"])


def principals(statement: dict) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    out: list[str] = []
    for value in (principal or {}).values():
        out.extend(str(v) for v in as_list(value))
    return out


def role_statements(role: dict) -> Iterator[dict]:
    """Every statement a role may hold; a conditional one (!If [cond, statement, NoValue])
    counts as held."""
    for policy in role["Properties"].get("Policies", []):
        for st in statements(policy["PolicyDocument"]):
            if "Fn::If" in st:
                _, yes, no = st["Fn::If"]
                yield from (b for b in (yes, no) if b != {"Ref": "AWS::NoValue"})
            else:
                yield st


def distribution_config(resources: dict) -> dict:
    (dist,) = of_type(resources, "AWS::CloudFront::Distribution").values()
    return dist["Properties"]["DistributionConfig"]


# --- bucket -------------------------------------------------------------------------------


def test_bucket_blocks_all_public_access(resources):
    buckets = of_type(resources, "AWS::S3::Bucket")
    assert buckets, "no bucket"
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        block = props["PublicAccessBlockConfiguration"]
        for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            assert block.get(key) is True, f"{name}: {key} must be true"
        assert props["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
        sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms", "aws:kms:dsse")
        assert "AccessControl" not in props and "WebsiteConfiguration" not in props


def test_bucket_lifecycle_follows_the_retention_parameter(resources):
    rules = resources["MediaBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(
        r["Status"] == "Enabled" and r.get("ExpirationInDays") == {"Ref": "SegmentRetentionDays"} for r in rules
    )


def rust_const_secs(path: Path, name: str) -> int:
    """The seconds of `pub const NAME: Duration = Duration::from_secs(N);` in a Rust file."""
    source = path.read_text()
    match = re.search(rf"pub const {name}: Duration = Duration::from_secs\((\d+)\);", source)
    assert match, f"no `pub const {name}: Duration = Duration::from_secs(..)` in {path}"
    return int(match.group(1))


def test_rendition_lists_are_rewritten_well_inside_the_retention(template, resources):
    """The lifecycle rule expires every object, renditions.json included (no filter exempts
    it); the ingest keeps a running stream's list younger than its rewrite interval, which
    must stay far below the shortest retention the parameter allows (issue 17, part 1)."""
    rules = resources["MediaBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = [r for r in rules if r["Status"] == "Enabled" and "ExpirationInDays" in r]
    assert expiring, rules
    # S3 counts from the object's creation, rounded up to the next midnight UTC: a rewrite
    # restarts the count, so the bound is the retention itself, at least a day.
    shortest_days = int(template["Parameters"]["SegmentRetentionDays"]["MinValue"])
    for rule in expiring:
        assert rule["ExpirationInDays"] == {"Ref": "SegmentRetentionDays"}, rule
    refresh = rust_const_secs(ROOT / "ingest" / "src" / "publish" / "rendition_list.rs", "LIST_REFRESH")
    # A hundred rewrites within the shortest retention: a store outage of hours, or many
    # failed rewrites in a row, still leaves the list alive.
    assert 100 * refresh <= shortest_days * 86400, (refresh, shortest_days)
    # And often enough that a list deleted anyway (by hand, by a rule an operator added)
    # comes back before viewers give up: within a minute.
    assert refresh <= 60, refresh


def test_bucket_policy_allows_only_this_distribution(resources):
    policies = of_type(resources, "AWS::S3::BucketPolicy")
    assert policies
    allows = 0
    for policy in policies.values():
        for st in statements(policy["Properties"]["PolicyDocument"]):
            wildcard = any(p == "*" for p in principals(st))
            if st["Effect"] == "Allow":
                assert not wildcard, f"public Allow statement: {st}"
                assert principals(st) == ["cloudfront.amazonaws.com"], st
                assert as_list(st["Action"]) == ["s3:GetObject"], "CloudFront reads objects, nothing else"
                source_arn = st["Condition"]["StringEquals"]["AWS:SourceArn"]
                assert text(source_arn) == DISTRIBUTION_ARN
                for resource in as_list(st["Resource"]):
                    assert re.fullmatch(r"\$\{MediaBucket\.Arn\}/az[12]/\*\.ts", text(resource)), resource
                allows += 1
            else:
                # The one kind of wildcard statement allowed: deny anything without TLS.
                assert st["Effect"] == "Deny"
                assert st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert allows == 1


# --- CloudFront ---------------------------------------------------------------------------


def test_every_origin_uses_origin_access_control(resources):
    oacs = of_type(resources, "AWS::CloudFront::OriginAccessControl")
    origins = distribution_config(resources)["Origins"]
    assert len(origins) == 2
    kinds = set()
    for origin in origins:
        ref = origin.get("OriginAccessControlId")
        assert ref, f"origin {origin['Id']} has no OriginAccessControlId"
        oac_name = ref["Fn::GetAtt"][0]
        config = oacs[oac_name]["Properties"]["OriginAccessControlConfig"]
        assert config["SigningBehavior"] == "always"
        assert config["SigningProtocol"] == "sigv4"
        kind = config["OriginAccessControlOriginType"]
        kinds.add(kind)
        if kind == "s3":
            assert origin["DomainName"] == {"Fn::GetAtt": ["MediaBucket", "RegionalDomainName"]}
            assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
        else:
            assert kind == "lambda"
            assert "PlaylistFunctionUrl" in str(origin["DomainName"])
            assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert kinds == {"s3", "lambda"}


def test_function_url_is_iam_only_and_open_to_this_distribution_only(resources):
    fn = resources["PlaylistFunction"]["Properties"]
    assert fn["FunctionUrlConfig"]["AuthType"] == "AWS_IAM"
    perms = of_type(resources, "AWS::Lambda::Permission")
    actions = set()
    for perm in perms.values():
        props = perm["Properties"]
        assert props["Principal"] == "cloudfront.amazonaws.com"
        assert text(props["SourceArn"]) == DISTRIBUTION_ARN
        assert props["FunctionName"] == {"Ref": "PlaylistFunction"}
        actions.add(props["Action"])
        if props["Action"] == "lambda:InvokeFunction":
            assert props.get("InvokedViaFunctionUrl") is True
        else:
            assert props.get("FunctionUrlAuthType") == "AWS_IAM"
    assert actions == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}


def test_errors_are_cached_for_at_most_one_second(resources):
    errors = {e["ErrorCode"]: e for e in distribution_config(resources)["CustomErrorResponses"]}
    for code in (403, 404, 500, 502, 503, 504):
        assert code in errors, f"no CustomErrorResponse for {code}"
        assert errors[code]["ErrorCachingMinTTL"] <= 1
        assert "ResponsePagePath" not in errors[code], "the origin's own error body must pass through"


def test_playlists_go_to_lambda_keyed_on_viewer_host(resources):
    config = distribution_config(resources)
    (playlists,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "*.m3u8"]
    assert playlists["TargetOriginId"] == "playlists-lambda"
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == "segments-s3"
    cache = resources[playlists["CachePolicyId"]["Ref"]]["Properties"]["CachePolicyConfig"]
    assert cache["MinTTL"] == 0 and cache["DefaultTTL"] <= 1 and cache["MaxTTL"] >= 86400
    key = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    assert [h.lower() for h in key["HeadersConfig"]["Headers"]] == ["x-zonecast-viewer-host"]
    assert key["CookiesConfig"]["CookieBehavior"] == "none"
    assert key["QueryStringsConfig"]["QueryStringBehavior"] == "none"
    orp = resources[playlists["OriginRequestPolicyId"]["Ref"]]["Properties"]["OriginRequestPolicyConfig"]
    assert orp["HeadersConfig"]["HeaderBehavior"] == "whitelist"
    forwarded = [h.lower() for h in orp["HeadersConfig"]["Headers"]]
    assert "host" not in forwarded, "a function URL rejects the viewer's Host"
    assert "cloudfront-forwarded-proto" in forwarded


def test_both_behaviors_run_the_viewer_request_function(resources):
    config = distribution_config(resources)
    for behavior in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]:
        assert behavior["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")
        (assoc,) = behavior["FunctionAssociations"]
        assert assoc["EventType"] == "viewer-request"
        assert assoc["FunctionARN"] == {"Fn::GetAtt": ["ViewerRequestFunction", "FunctionARN"]}
        assert behavior["ResponseHeadersPolicyId"] == {"Ref": "CorsResponseHeadersPolicy"}


def test_inline_cloudfront_function_is_cloudfront_viewer_request_js(resources):
    fn = resources["ViewerRequestFunction"]["Properties"]
    assert fn["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert fn["AutoPublish"] is True
    source = (ROOT / "cloudfront" / "viewer-request.js").read_text(encoding="utf-8")
    assert str(fn["FunctionCode"]) == source


def test_custom_domain_is_conditional(template, resources):
    config = distribution_config(resources)
    assert config["Aliases"]["Fn::If"][0] == "HasCustomDomain"
    aliases = [text(a) for a in config["Aliases"]["Fn::If"][1]]
    assert aliases == [f"media-hls{s}.${{DomainName}}" for s in ("", "-az1", "-az2")]
    cert = config["ViewerCertificate"]["Fn::If"]
    assert cert[0] == "HasCustomDomain"
    assert cert[1]["SslSupportMethod"] == "sni-only"
    assert cert[1]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert cert[2] == {"CloudFrontDefaultCertificate": True}
    assert config["HttpVersion"] == "http2and3"


# --- functions ----------------------------------------------------------------------------


def test_every_function_is_arm64_on_provided_al2023(template, resources):
    functions = of_type(resources, "AWS::Serverless::Function")
    assert functions
    globals_fn = template.get("Globals", {}).get("Function", {})
    for name, fn in functions.items():
        props = fn["Properties"]
        assert props.get("Runtime", globals_fn.get("Runtime")) == "provided.al2023", name
        assert props.get("Architectures", globals_fn.get("Architectures")) == ["arm64"], name
        assert props["Handler"] == "bootstrap"
        assert fn["Metadata"]["BuildMethod"] == "rust-cargolambda"
    assert resources["PlaylistFunction"]["Metadata"]["BuildProperties"]["Binary"] == "playlist"
    assert resources["PlaylistFunction"]["Properties"]["CodeUri"] == "./lambdas"
    assert resources["MonitorFunction"]["Metadata"]["BuildProperties"]["Binary"] == "monitor"
    assert resources["MonitorFunction"]["Properties"]["CodeUri"] == "./lambdas"
    # Every binary a function names is a [[bin]] of the lambdas crate.
    cargo = (ROOT / "lambdas" / "Cargo.toml").read_text(encoding="utf-8")
    bins = set(re.findall(r'\[\[bin\]\]\s*name = "([^"]+)"', cargo))
    for name, fn in functions.items():
        assert fn["Metadata"]["BuildProperties"]["Binary"] in bins, name


def test_monitor_function_reads_indexes_and_lists_app_and_stream_prefixes_only(resources):
    (policy,) = resources["MonitorFunction"]["Properties"]["Policies"]
    by_action = {}
    for st in statements(policy):
        assert st["Effect"] == "Allow"
        (action,) = as_list(st["Action"])
        by_action[action] = st
    assert set(by_action) == {"s3:GetObject", "s3:ListBucket"}
    # The same objects as the playlist function, nothing else.
    (playlist_policy,) = resources["PlaylistFunction"]["Properties"]["Policies"]
    (playlist_get,) = [st for st in statements(playlist_policy) if st["Action"] == "s3:GetObject"]
    assert "Condition" not in by_action["s3:GetObject"]
    assert sorted(map(text, as_list(by_action["s3:GetObject"]["Resource"]))) == sorted(
        map(text, as_list(playlist_get["Resource"]))
    )
    listing = by_action["s3:ListBucket"]
    assert listing["Resource"] == {"Fn::GetAtt": ["MediaBucket", "Arn"]}
    cond = listing["Condition"]
    assert cond["StringEquals"] == {"s3:delimiter": "/"}
    allowed = as_list(cond["StringLike"]["s3:prefix"])
    denied = as_list(cond["StringNotLike"]["s3:prefix"])

    def may_list(prefix: str) -> bool:
        return any(fnmatchcase(prefix, p) for p in allowed) and not any(fnmatchcase(prefix, p) for p in denied)

    # What lambdas/src/monitor/s3.rs lists: the apps of an AZ, the streams of an app.
    for az in AZS:
        assert may_list(f"{az}/") and may_list(f"{az}/live/")
        # Never a stream's or a rendition's own keys (its segments), nor the whole bucket.
        assert not may_list(f"{az}/live/show/") and not may_list(f"{az}/live/show/720p/")
    assert not may_list("") and not may_list("other/")


def test_monitor_runs_every_minute_once(resources):
    props = resources["MonitorFunction"]["Properties"]
    (event,) = props["Events"].values()
    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == "rate(1 minute)"
    assert event["Properties"].get("Enabled", True) is True
    # A run ends before the next starts; a late or retried run would report an old minute.
    assert props["Timeout"] < 60
    assert props["EventInvokeConfig"] == {"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 0}
    env = props["Environment"]["Variables"]
    assert env["ZONECAST_BUCKET"] == {"Ref": "MediaBucket"}
    assert env["ZONECAST_STACK"] == {"Ref": "AWS::StackName"}
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": "MonitorLogGroup"}


def test_playlist_function_reads_index_objects_only(resources):
    (policy,) = resources["PlaylistFunction"]["Properties"]["Policies"]
    by_action = {}
    for st in statements(policy):
        assert st["Effect"] == "Allow"
        assert "Condition" not in st
        (action,) = as_list(st["Action"])
        by_action[action] = as_list(st["Resource"])
    assert set(by_action) == {"s3:GetObject", "s3:ListBucket"}
    assert sorted(text(r) for r in by_action["s3:GetObject"]) == [
        "${MediaBucket.Arn}/az1/*/index.json",
        "${MediaBucket.Arn}/az1/*/renditions.json",
        "${MediaBucket.Arn}/az2/*/index.json",
        "${MediaBucket.Arn}/az2/*/renditions.json",
    ]
    # On the bucket itself, unconditionally: that is what makes S3 answer a missing index with
    # 404 NoSuchKey and keep 403 for a real refusal (README.md, "Try the playlist function").
    assert by_action["s3:ListBucket"] == [{"Fn::GetAtt": ["MediaBucket", "Arn"]}]


# --- ingest -------------------------------------------------------------------------------


@pytest.mark.parametrize("az", AZS)
def test_instance_role_writes_only_its_own_prefix(resources, az):
    role = resources[f"IngestRole{az.capitalize()}"]
    peer = "az2" if az == "az1" else "az1"
    writes = 0
    for st in role_statements(role):
        assert st["Effect"] == "Allow"
        actions = as_list(st["Action"])
        s3_actions = [a for a in actions if str(a).lower().startswith("s3:")]
        if not s3_actions:
            continue
        for resource in as_list(st["Resource"]):
            arn = text(resource)
            assert arn.startswith("${MediaBucket.Arn}/"), f"{az}: S3 on {arn} (bucket-level or other bucket)"
            key = arn[len("${MediaBucket.Arn}/") :]
            if any(S3_WRITE.match(a) for a in s3_actions):
                assert key.startswith(f"{az}/"), f"{az} may write {key}"
                writes += 1
            else:
                assert s3_actions == ["s3:GetObject"], s3_actions
                assert key.startswith(f"{az}/") or (
                    key.startswith(f"{peer}/") and key.endswith(("/index.json", "/renditions.json"))
                ), key
    assert writes == 1, f"{az}: expected exactly one writable resource"


@pytest.mark.parametrize("az", AZS)
def test_instance_role_other_permissions_are_scoped(resources, az):
    role = resources[f"IngestRole{az.capitalize()}"]
    by_action = {}
    for st in role_statements(role):
        for action in as_list(st["Action"]):
            assert "*" not in str(action), f"wildcard action {action}"
            by_action.setdefault(str(action), []).extend(as_list(st["Resource"]))
    assert [text(r) for r in by_action["cloudfront:CreateInvalidation"]] == [DISTRIBUTION_ARN]
    assert by_action["lambda:GetLayerVersion"] == [{"Ref": "IngestBinaryLayer"}]
    eips = [text(r) for r in by_action["ec2:AssociateAddress"] if "elastic-ip" in text(r)]
    assert eips == [f"arn:${{AWS::Partition}}:ec2:${{AWS::Region}}:${{AWS::AccountId}}:elastic-ip/${{Eip{az.capitalize()}.AllocationId}}"]
    assert by_action["cloudformation:SignalResource"] == [{"Ref": "AWS::StackId"}]
    assert [text(r) for r in by_action["ssm:GetParameter"]] == [PUBLISH_SECRET_ARN]
    # Only these take "*": describe calls have no resource-level permissions, and
    # PutMetricData is held to one namespace by a condition (checked below).
    wildcard = sorted(a for a, rs in by_action.items() if "*" in rs)
    assert wildcard == ["cloudwatch:PutMetricData", "ec2:DescribeAddresses"]


def az_tag_condition(az: str) -> dict:
    return {"StringEquals": {"aws:ResourceTag/zonecast:az": az, "aws:ResourceTag/zonecast:stack": {"Ref": "AWS::StackName"}}}


@pytest.mark.parametrize("az", AZS)
def test_elastic_ip_moves_only_onto_this_stacks_instances_of_the_same_az(resources, az):
    suffix = az.capitalize()
    sts = [st for st in role_statements(resources[f"IngestRole{suffix}"]) if "ec2:AssociateAddress" in as_list(st["Action"])]
    assert len(sts) == 2
    for st in sts:
        assert as_list(st["Action"]) == ["ec2:AssociateAddress"]
        arns = [text(r) for r in as_list(st["Resource"])]
        if any("elastic-ip" in a for a in arns):
            assert arns == [f"arn:${{AWS::Partition}}:ec2:${{AWS::Region}}:${{AWS::AccountId}}:elastic-ip/${{Eip{suffix}.AllocationId}}"]
        else:
            assert sorted(arns) == [
                "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*",
                "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-interface/*",
            ]
            assert st["Condition"] == az_tag_condition(az)
    # The tags that condition reads: on the instance and its interface (launch template) and
    # on the group (for SetInstanceHealth below).
    data = resources[f"IngestLaunchTemplate{suffix}"]["Properties"]["LaunchTemplateData"]
    specs = {spec["ResourceType"]: {t["Key"]: t["Value"] for t in spec["Tags"]} for spec in data["TagSpecifications"]}
    for kind in ("instance", "network-interface"):
        assert specs[kind]["zonecast:az"] == az
        assert specs[kind]["zonecast:stack"] == {"Ref": "AWS::StackName"}
    group_tags = {t["Key"]: t["Value"] for t in resources[f"IngestGroup{suffix}"]["Properties"]["Tags"]}
    assert group_tags == {"zonecast:az": az, "zonecast:stack": {"Ref": "AWS::StackName"}}


@pytest.mark.parametrize("az", AZS)
def test_instance_marks_only_its_own_groups_unhealthy_and_puts_only_zonecast_metrics(resources, az):
    sts = {a: st for st in role_statements(resources[f"IngestRole{az.capitalize()}"]) for a in as_list(st["Action"])}
    health = sts["autoscaling:SetInstanceHealth"]
    assert as_list(health["Action"]) == ["autoscaling:SetInstanceHealth"]
    assert text(health["Resource"]) == (
        "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*"
    )
    assert health["Condition"] == az_tag_condition(az)
    metrics = sts["cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "ZoneCast"}}
    assert as_list(sts["ec2:DescribeAddresses"]["Action"]) == ["ec2:DescribeAddresses"]


def test_layer_is_named_per_stack(resources):
    name = text(resources["IngestBinaryLayer"]["Properties"]["LayerName"])
    assert name.startswith("${AWS::StackName}-")


@pytest.mark.parametrize("az", AZS)
def test_each_az_has_its_own_group_profile_subnet_and_address(resources, az):
    suffix = az.capitalize()
    group = resources[f"IngestGroup{suffix}"]["Properties"]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == ("1", "1", "1")
    assert group["VPCZoneIdentifier"] == [{"Ref": f"Subnet{suffix}"}]
    assert group["HealthCheckType"] == "EC2"
    assert group["LaunchTemplate"]["LaunchTemplateId"] == {"Ref": f"IngestLaunchTemplate{suffix}"}
    data = resources[f"IngestLaunchTemplate{suffix}"]["Properties"]["LaunchTemplateData"]
    assert data["IamInstanceProfile"]["Arn"] == {"Fn::GetAtt": [f"IngestInstanceProfile{suffix}", "Arn"]}
    assert resources[f"IngestInstanceProfile{suffix}"]["Properties"]["Roles"] == [{"Ref": f"IngestRole{suffix}"}]
    assert data["MetadataOptions"]["HttpTokens"] == "required", "IMDSv2 only"
    (nic,) = data["NetworkInterfaces"]
    # The Elastic IP goes onto the secondary private IP; the primary keeps the instance's own
    # public IP, so a drained instance still reaches S3 and EC2 (deploy/boot.sh).
    assert nic["SecondaryPrivateIpAddressCount"] == 1 and nic["AssociatePublicIpAddress"] is True
    header = user_data_parts(resources, suffix)[0]
    assert f"\nZONECAST_AZ={az}\n" in header
    assert f"ZONECAST_EIP_ALLOCATION_ID=${{Eip{suffix}.AllocationId}}" in header
    assert f"ZONECAST_SIGNAL_RESOURCE=IngestGroup{suffix}\n" in header
    assert "ZONECAST_LAYER_ARN=${IngestBinaryLayer}" in header


def user_data_parts(resources: dict, suffix: str) -> list[str]:
    data = resources[f"IngestLaunchTemplate{suffix}"]["Properties"]["LaunchTemplateData"]
    separator, parts = data["UserData"]["Fn::Base64"]["Fn::Join"]
    assert separator == ""
    return [text(p) for p in parts]


@pytest.mark.parametrize("suffix", ["Az1", "Az2"])
def test_user_data_runs_deploy_boot_sh_verbatim(resources, suffix):
    header, boot, footer = user_data_parts(resources, suffix)
    assert boot == (ROOT / "deploy" / "boot.sh").read_text(encoding="utf-8"), "run python3 deploy/embed.py"
    assert header.endswith("cat > /usr/local/sbin/zonecast-boot <<'ZONECAST_BOOT_SH'\n")
    assert footer.startswith("ZONECAST_BOOT_SH\n") and "ZONECAST_BOOT_SH" not in boot
    assert footer.rstrip().endswith("exec /usr/local/sbin/zonecast-boot")
    # EC2 limits user data to 16 KB before base64.
    assert len((header + boot + footer).encode()) < 16384


def test_every_setting_the_scripts_read_is_written_or_defaulted(resources):
    header = user_data_parts(resources, "Az1")[0]
    written = set(re.findall(r"^(ZONECAST_[A-Z_]+)=", header, re.M))
    written |= {"ZONECAST_INSTANCE_ID", "ZONECAST_EIP_PRIVATE_IP"}  # instance.env, by boot.sh
    for script in ("boot.sh", "zonecast-eip-watch.sh", "zonecast-healthcheck.sh", "zonecast-metrics.sh"):
        source = (ROOT / "deploy" / script).read_text(encoding="utf-8")
        used = set(re.findall(r"\$\{?(ZONECAST_[A-Z_]+)", source))
        defaulted = set(re.findall(r"\$\{(ZONECAST_[A-Z_]+):-", source))
        assert used - defaulted <= written, f"{script} reads {sorted(used - defaulted - written)} that nothing writes"


def test_ingest_stop_timeout_exceeds_its_drain_timeout(resources):
    header = user_data_parts(resources, "Az1")[0]
    drain = int(re.search(r"^ZONECAST_DRAIN_TIMEOUT_SECS=(\d+)$", header, re.M).group(1))
    unit = (ROOT / "deploy" / "zonecast-ingest.service").read_text(encoding="utf-8")
    stop = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))
    assert stop > drain, "systemd would SIGKILL a draining ingest"
    assert re.search(r"^KillSignal=SIGTERM$", unit, re.M)


@pytest.mark.parametrize("suffix", ["Az1", "Az2"])
def test_deploy_replaces_each_group_new_instance_before_old(resources, suffix):
    group = resources[f"IngestGroup{suffix}"]
    # A new group next to the old one; the old one is deleted only after the whole update
    # succeeded (rolling update of a 1-instance group would stop the old instance first).
    assert group["UpdatePolicy"] == {"AutoScalingReplacingUpdate": {"WillReplace": True}}
    creation = group["CreationPolicy"]
    assert creation["ResourceSignal"]["Count"] == 1
    assert creation["AutoScalingCreationPolicy"]["MinSuccessfulInstancesPercent"] == 100
    minutes = int(re.fullmatch(r"PT(\d+)M", creation["ResourceSignal"]["Timeout"]).group(1))
    header = user_data_parts(resources, suffix)[0]
    rejoin = int(re.search(r"^ZONECAST_REJOIN_TIMEOUT_SECS=(\d+)$", header, re.M).group(1))
    boot = (ROOT / "deploy" / "boot.sh").read_text(encoding="utf-8")
    health = int(re.search(r"HEALTH_TIMEOUT=\$\{ZONECAST_HEALTH_TIMEOUT_SECS:-(\d+)\}", boot).group(1))
    # Boot, layer download and install take a few minutes at most on top of these.
    assert minutes * 60 >= health + rejoin + 600


def test_ami_is_pinned(template):
    params = template["Parameters"]
    assert params["AmiId"]["Type"] == "AWS::EC2::Image::Id"
    assert "Default" not in params["AmiId"], "a concrete id is per region: no default"
    for name, param in params.items():
        assert not str(param["Type"]).startswith("AWS::SSM::Parameter::Value"), f"{name} is resolved again on every deploy"
    for suffix in ("Az1", "Az2"):
        image = template["Resources"][f"IngestLaunchTemplate{suffix}"]["Properties"]["LaunchTemplateData"]["ImageId"]
        assert image == {"Ref": "AmiId"}


def test_instances_read_each_others_health_for_the_hand_over(resources):
    rule = resources["IngestHealthFromPeers"]["Properties"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 8935, 8935)
    assert rule["GroupId"] == rule["SourceSecurityGroupId"] == {"Ref": "IngestSecurityGroup"}
    assert "Condition" not in resources["IngestHealthFromPeers"]


def test_az2_rolls_only_after_az1(resources):
    assert resources["IngestGroupAz2"]["DependsOn"] == "IngestGroupAz1"


def test_security_group_opens_rtmp_only(resources):
    (rule,) = resources["IngestSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 1935, 1935)
    assert rule["CidrIp"] == {"Ref": "IngestCidr"}
    health = resources["IngestHealthIngress"]
    assert health["Condition"] == "HasHealthCheckCidr"
    assert health["Properties"]["FromPort"] == 8935


def sub_variables(resources: dict, suffix: str) -> dict:
    """The variables of the user data header's !Sub (its list form)."""
    data = resources[f"IngestLaunchTemplate{suffix}"]["Properties"]["LaunchTemplateData"]
    sub = data["UserData"]["Fn::Base64"]["Fn::Join"][1][0]["Fn::Sub"]
    assert isinstance(sub, list) and len(sub) == 2, sub
    return sub[1]


@pytest.mark.parametrize("suffix,peer", [("Az1", "EipAz2"), ("Az2", "EipAz1")])
def test_each_ingest_relays_to_its_peers_elastic_ip(template, resources, suffix, peer):
    header = user_data_parts(resources, suffix)[0]
    ingest_env = header.split("cat > /etc/zonecast/ingest.env")[1].split("\nENV\n")[0]
    boot_env = header.split("cat > /etc/zonecast/boot.env")[1].split("\nENV\n")[0]
    assert re.findall(r"^ZONECAST_RELAY_TO=.*$", ingest_env, re.M) == ["ZONECAST_RELAY_TO=${PeerRelayHost}:1935"]
    assert "RELAY" not in boot_env
    host = sub_variables(resources, suffix)["PeerRelayHost"]
    condition, us_east_1, elsewhere = host["Fn::If"]
    assert condition == "IsUsEast1"
    assert template["Conditions"]["IsUsEast1"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    # ec2-<a>-<b>-<c>-<d>.compute-1.amazonaws.com in us-east-1, .<region>.compute. elsewhere: the
    # public DNS name of the peer's Elastic IP (never its own).
    dashed = {"Fn::Join": ["-", {"Fn::Split": [".", {"Ref": peer}]}]}
    assert us_east_1["Fn::Sub"] == ["ec2-${Dashed}.compute-1.${AWS::URLSuffix}", {"Dashed": dashed}]
    assert elsewhere["Fn::Sub"] == ["ec2-${Dashed}.${AWS::Region}.compute.${AWS::URLSuffix}", {"Dashed": dashed}]


def test_the_ingests_reach_each_other_on_rtmp(resources):
    rule = resources["IngestRelayFromPeers"]["Properties"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 1935, 1935)
    # Only the ingests themselves (their private addresses, which the peer's Elastic IP DNS
    # name resolves to inside the VPC), not the world.
    assert rule["GroupId"] == rule["SourceSecurityGroupId"] == {"Ref": "IngestSecurityGroup"}
    assert "CidrIp" not in rule and "Condition" not in resources["IngestRelayFromPeers"]


def test_layer_is_built_by_the_deploy_makefile(resources):
    layer = resources["IngestBinaryLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["ContentUri"] == "./deploy"
    makefile = (ROOT / "deploy" / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^build-IngestBinaryLayer:", makefile, re.M)
    assert "$(ARTIFACTS_DIR)/bin/zonecast-ingest" in makefile
    def make_list(name: str) -> list[str]:
        m = re.search(rf"^{name} := ((?:.*\\\n)*.*)$", makefile, re.M)
        return m.group(1).replace("\\\n", " ").split()

    def boot_list(name: str) -> list[str]:
        boot = (ROOT / "deploy" / "boot.sh").read_text(encoding="utf-8")
        return re.search(rf"^{name}=\(([^)]*)\)", boot, re.M).group(1).split()

    # The layer ships exactly what the boot script installs.
    assert make_list("UNITS") == boot_list("UNITS")
    assert make_list("SCRIPTS") == boot_list("SCRIPTS")
    for shipped in make_list("UNITS") + make_list("SCRIPTS"):
        assert (ROOT / "deploy" / shipped).is_file(), shipped


def test_systemd_unit_restarts_and_reads_the_user_data_env():
    unit = (ROOT / "deploy" / "zonecast-ingest.service").read_text(encoding="utf-8")
    for line in (
        "Restart=always",
        "RestartSec=1",
        "EnvironmentFile=/etc/zonecast/ingest.env",
        "ExecStart=/usr/local/bin/zonecast-ingest",
    ):
        assert re.search(rf"^{re.escape(line)}$", unit, re.M), line


def test_the_two_launch_templates_differ_only_in_their_az(resources):
    def data(suffix):
        return resources[f"IngestLaunchTemplate{suffix}"]["Properties"]["LaunchTemplateData"]

    # Besides its AZ, each names its peer's Elastic IP (the relay target).
    az1 = repr(data("Az1")).replace("{'Ref': 'EipAz2'}", "{'Ref': 'PEER'}")
    az2 = repr(data("Az2")).replace("{'Ref': 'EipAz1'}", "{'Ref': 'PEER'}")
    az2 = az2.replace("Az2", "Az1").replace("az2", "az1")
    assert "PEER" in az1
    assert az1 == az2


def test_steering_manifests_go_to_lambda_keyed_on_host_and_pathway_only(resources):
    config = distribution_config(resources)
    (steering,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "*/steering.json"]
    assert steering["TargetOriginId"] == "playlists-lambda"
    cache = resources[steering["CachePolicyId"]["Ref"]]["Properties"]["CachePolicyConfig"]
    key = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    assert [h.lower() for h in key["HeadersConfig"]["Headers"]] == ["x-zonecast-viewer-host"]
    assert key["CookiesConfig"]["CookieBehavior"] == "none"
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "whitelist", "QueryStrings": ["_HLS_pathway"]}
    # TTL from the function's Cache-Control (about one target duration, up to 10 s), bounded.
    assert cache["MinTTL"] == 0 and cache["DefaultTTL"] <= 2 and 10 <= cache["MaxTTL"] <= 60
    # _HLS_throughput reaches neither the key nor the function.
    orp = resources[steering["OriginRequestPolicyId"]["Ref"]]["Properties"]["OriginRequestPolicyConfig"]
    assert orp["QueryStringsConfig"]["QueryStringBehavior"] == "none"
    assert orp["CookiesConfig"]["CookieBehavior"] == "none"
    assert "host" not in [h.lower() for h in orp["HeadersConfig"]["Headers"]]


def test_index_json_is_never_served(resources):
    """index.json reaches no behavior but the default (S3), where the bucket policy lets
    CloudFront read segments only: S3 answers 403."""
    from fnmatch import fnmatchcase

    config = distribution_config(resources)
    paths = [
        "/az1/live/show/index.json",
        "/live/show/index.json",
        "/az2/a/b/index.json",
        "/az1/live/show/720p/index.json",
        "/az1/live/show/renditions.json",
    ]
    for behavior in config["CacheBehaviors"]:
        for path in paths:
            assert not fnmatchcase(path, behavior["PathPattern"]), (behavior["PathPattern"], path)
    (policy,) = of_type(resources, "AWS::S3::BucketPolicy").values()
    for st in statements(policy["Properties"]["PolicyDocument"]):
        if st["Effect"] != "Allow":
            continue
        for resource in as_list(st["Resource"]):
            pattern = text(resource).replace("${MediaBucket.Arn}/", "")
            for path in paths:
                assert not fnmatchcase(path.lstrip("/"), pattern), (pattern, path)


# --- alarms -------------------------------------------------------------------------------

ALARM_ACTIONS = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


def metrics_the_instances_put() -> tuple[str, set[str]]:
    script = (ROOT / "deploy" / "zonecast-metrics.sh").read_text(encoding="utf-8")
    namespace = re.search(r"--namespace (\S+)", script).group(1)
    return namespace, set(re.findall(r"\$\(datum (\w+) ", script))


def metrics_the_monitor_prints() -> tuple[str, set[str]]:
    source = (ROOT / "lambdas" / "src" / "monitor.rs").read_text(encoding="utf-8")
    namespace = re.search(r'pub const NAMESPACE: &str = "(\w+)";', source).group(1)
    return namespace, set(re.findall(r'pub const METRIC_\w+: &str = "(\w+)";', source))


def dims(az: str) -> list:
    return [{"Name": "Stack", "Value": {"Ref": "AWS::StackName"}}, {"Name": "AZ", "Value": az}]


def test_alarms_watch_what_the_instances_put_and_notify_the_optional_topic(template, resources):
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 7
    namespace, names = metrics_the_instances_put()
    monitor_namespace, monitor_names = metrics_the_monitor_prints()
    assert monitor_namespace == namespace
    names |= monitor_names
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == ALARM_ACTIONS, name
        assert props["OKActions"] == ALARM_ACTIONS, name
        metrics = [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
        if "MetricName" in props:
            metrics.append(props)
        for metric in metrics:
            if name == "MonitorFailingAlarm":
                continue
            assert metric["Namespace"] == namespace
            assert metric["MetricName"] in names, f"{name}: nothing puts {metric['MetricName']}"


@pytest.mark.parametrize("az", AZS)
def test_alarm_ingest_not_running(resources, az):
    props = resources[f"IngestNotRunningAlarm{az.capitalize()}"]["Properties"]
    assert (props["MetricName"], props["Statistic"], props["Dimensions"]) == ("IngestUp", "Maximum", dims(az))
    assert (props["ComparisonOperator"], props["Threshold"]) == ("LessThanThreshold", 1)
    # A lost instance puts nothing at all: missing data is an alarm.
    assert props["TreatMissingData"] == "breaching"
    assert props["Period"] * props["DatapointsToAlarm"] <= 300
    # Not on a first create: the alarm exists only once the AZ's instance signalled, and the
    # boot puts a datapoint before it signals (deploy/test_boot.py).
    assert resources[f"IngestNotRunningAlarm{az.capitalize()}"]["DependsOn"] == f"IngestGroup{az.capitalize()}"


@pytest.mark.parametrize("az", AZS)
def test_alarm_segment_uploads_failing(resources, az):
    props = resources[f"UploadsFailingAlarm{az.capitalize()}"]["Properties"]
    assert (props["MetricName"], props["Statistic"], props["Dimensions"]) == ("UploadRetries", "Sum", dims(az))
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] >= 2, "a single retried PUT is no alarm"


@pytest.mark.parametrize(
    "alarm, metric",
    [("StreamOnOneAzAlarm", "StreamsServedByOneAz"), ("StreamOnNoAzAlarm", "StreamsServedByNoAz")],
)
def test_alarms_on_streams_served_by_one_az_or_none(template, resources, alarm, metric):
    resource = resources[alarm]
    props = resource["Properties"]
    assert metric in metrics_the_monitor_prints()[1]
    assert (props["MetricName"], props["Dimensions"]) == (
        metric,
        [{"Name": "Stack", "Value": {"Ref": "AWS::StackName"}}],
    )
    # One run a minute; every minute of the configured run must show a stream in that state.
    assert (props["Statistic"], props["Period"]) == ("Minimum", 60)
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == {"Ref": "StreamAlarmMinutes"}
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
    # A fresh stack: no run yet is not an alarm, and an empty bucket reports 0 (the monitor's
    # tests). A first create: made once both ingests signalled.
    assert props["TreatMissingData"] == "notBreaching"
    assert resource["DependsOn"] == "IngestGroupAz2"
    assert resources["IngestGroupAz2"]["DependsOn"] == "IngestGroupAz1"
    minutes = template["Parameters"]["StreamAlarmMinutes"]
    assert minutes["Type"] == "Number" and 2 <= minutes["Default"] <= minutes["MaxValue"] <= 60 * 24
    assert "StreamAlarmMinutes" in template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"][3][
        "Parameters"
    ]


def test_the_old_count_comparing_alarm_is_gone_and_no_alarm_name_is_reused(resources):
    assert "OneAzOnlyAlarm" not in resources
    names = [text(a["Properties"]["AlarmName"]) for a in of_type(resources, "AWS::CloudWatch::Alarm").values()]
    assert len(names) == len(set(names))
    # The old alarm's name: a new resource under it would be deleted with the old one.
    assert "${AWS::StackName}-stream-on-one-az" not in names


def test_alarm_monitor_failing(resources):
    props = resources["MonitorFailingAlarm"]["Properties"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "MonitorFunction"}}]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
    assert props["TreatMissingData"] == "notBreaching"


# --- sam local invoke ---------------------------------------------------------------------


def test_events_env_vars_file_overrides_what_the_function_declares(resources):
    import json

    env_file = json.loads((ROOT / "events" / "sam-local" / "env-vars.json").read_text(encoding="utf-8"))
    declared = resources["PlaylistFunction"]["Properties"]["Environment"]["Variables"]
    # sam local invoke only overrides variables the template declares for that function.
    assert set(env_file) == {"PlaylistFunction"}
    assert set(env_file["PlaylistFunction"]) <= set(declared)
    assert "ZONECAST_BUCKET" in env_file["PlaylistFunction"]


def test_readme_sam_local_invoke_command_uses_the_real_output_and_env_file(template):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "BucketName" in template["Outputs"]
    assert "OutputKey=='BucketName'" in readme
    assert re.search(r"sam local invoke PlaylistFunction .*--env-vars \S+", readme)
    assert "events/sam-local/env-vars.json" in readme


def test_the_readme_figures_are_the_scripts_figures(resources):
    """The numbers README.md ("What a deploy, an instance loss and a failed boot do") states."""
    deploy = ROOT / "deploy"
    header = user_data_parts(resources, "Az1")[0]
    boot = (deploy / "boot.sh").read_text(encoding="utf-8")
    watch = (deploy / "zonecast-eip-watch.sh").read_text(encoding="utf-8")
    check = (deploy / "zonecast-healthcheck.sh").read_text(encoding="utf-8")
    unit = (deploy / "zonecast-ingest.service").read_text(encoding="utf-8")
    assert re.search(r"^ZONECAST_REJOIN_TIMEOUT_SECS=120$", header, re.M)
    assert re.search(r"^ZONECAST_DRAIN_TIMEOUT_SECS=10$", header, re.M)
    assert "ZONECAST_HEALTH_TIMEOUT_SECS:-120}" in boot
    assert "ZONECAST_EIP_WATCH_SECS:-3}" in watch
    assert "ZONECAST_STALL_SECS:-60}" in check and "ZONECAST_HEALTH_GRACE_SECS:-20}" in check
    assert re.search(r"^TimeoutStopSec=15$", unit, re.M) and re.search(r"^RestartSec=1$", unit, re.M)
    assert re.search(r"^StartLimitIntervalSec=0$", unit, re.M)
    timer = (deploy / "zonecast-healthcheck.timer").read_text(encoding="utf-8")
    assert re.search(r"^OnUnitActiveSec=10s$", timer, re.M)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for phrase in ("at most 120 s", "within about 3 s", "systemd allows it 15 s", "the drain takes at most 10 s",
                   "for 60 s", "never within 20 s of a start", "runs every 10 s"):
        assert phrase in readme, phrase


# --- publish auth -------------------------------------------------------------------------


def test_publish_auth_is_on_by_default_with_the_secret_from_one_ssm_parameter(template, resources):
    params = template["Parameters"]
    assert params["PublishAuth"]["Default"] == "required"
    assert sorted(params["PublishAuth"]["AllowedValues"]) == ["off", "required"]
    name = params["PublishSecretParameter"]
    assert name["Type"] == "String" and name["Default"].startswith("/")
    assert re.fullmatch(name["AllowedPattern"], name["Default"])
    assert not re.fullmatch(name["AllowedPattern"], "no-leading-slash")
    assert template["Conditions"]["PublishAuthRequired"] == {"Fn::Equals": [{"Ref": "PublishAuth"}, "required"]}
    for suffix in ("Az1", "Az2"):
        header = user_data_parts(resources, suffix)[0]
        ingest_env = header.split("cat > /etc/zonecast/ingest.env")[1].split("\nENV\n")[0]
        boot_env = header.split("cat > /etc/zonecast/boot.env")[1].split("\nENV\n")[0]
        assert re.search(r"^ZONECAST_PUBLISH_AUTH=\$\{PublishAuth\}$", ingest_env, re.M)
        assert re.search(r"^ZONECAST_PUBLISH_AUTH=\$\{PublishAuth\}$", boot_env, re.M)
        assert re.search(r"^ZONECAST_PUBLISH_SECRET_PARAMETER=\$\{PublishSecretParameter\}$", boot_env, re.M)
        # The secret itself is never in the user data (anyone with ec2:DescribeInstanceAttribute
        # reads that): boot.sh fetches it.
        assert "PUBLISH_SECRET=" not in header


@pytest.mark.parametrize("az", AZS)
def test_only_the_secret_parameter_is_readable_and_only_with_publish_auth_on(resources, az):
    role = resources[f"IngestRole{az.capitalize()}"]
    conditional = []
    for policy in role["Properties"]["Policies"]:
        for st in statements(policy["PolicyDocument"]):
            if "Fn::If" in st:
                conditional.append(st["Fn::If"])
            else:
                assert not any(str(a).startswith("ssm:") for a in as_list(st["Action"])), st
    (cond,) = conditional
    assert cond[0] == "PublishAuthRequired" and cond[2] == {"Ref": "AWS::NoValue"}
    statement = cond[1]
    assert statement["Effect"] == "Allow" and "Condition" not in statement
    assert as_list(statement["Action"]) == ["ssm:GetParameter"]
    assert [text(r) for r in as_list(statement["Resource"])] == [PUBLISH_SECRET_ARN]


def test_ingest_spools_to_its_state_directory():
    """Segments S3 cannot take yet go to a spool that survives a service restart."""
    template = TEMPLATE_PATH.read_text()
    assert template.count("ZONECAST_SPOOL_DIR=/var/lib/zonecast/spool") == 2
    unit = (ROOT / "deploy" / "zonecast-ingest.service").read_text()
    assert re.search(r"^StateDirectory=zonecast$", unit, re.M)


# --- ingest.<domain>: the address for an encoder with one output --------------------------

# What an encoder needs besides DNS to come back: its own retry delay (ffmpeg in a loop: about
# 1 s; OBS: its Retry Delay), with room to spare.
ENCODER_RETRY_SECS = 10


def test_ingest_entry_name_needs_the_zone_and_the_checkers_prefix_list(template):
    condition = template["Conditions"]["HasIngestFailoverDns"]["Fn::And"]
    assert {"Condition": "HasIngestDns"} in condition
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "HealthCheckPrefixListId"}, ""]}]} in condition
    assert template["Parameters"]["HealthCheckPrefixListId"]["Default"] == ""


def test_ingest_entry_name_fails_over_from_az1_to_az2_on_their_health_checks(resources):
    group = resources["IngestEntryDnsRecords"]
    assert group["Condition"] == "HasIngestFailoverDns"
    records = group["Properties"]["RecordSets"]
    assert [r["Failover"] for r in records] == ["PRIMARY", "SECONDARY"]
    for record, (az, eip) in zip(records, [("Az1", "EipAz1"), ("Az2", "EipAz2")]):
        assert text(record["Name"]) == "ingest.${DomainName}"
        assert record["Type"] == "A"
        assert int(record["TTL"]) <= 10
        assert record["ResourceRecords"] == [{"Fn::GetAtt": [eip, "PublicIp"]}]
        assert record["HealthCheckId"] == {"Ref": f"IngestHealthCheck{az}"}
        check = resources[f"IngestHealthCheck{az}"]
        assert check["Condition"] == "HasIngestFailoverDns"
        config = check["Properties"]["HealthCheckConfig"]
        # /healthz answers 503 while the ingest drains: Route 53 moves encoders off it then too.
        assert (config["Type"], config["Port"], config["ResourcePath"]) == ("HTTP", 8935, "/healthz")
        assert config["IPAddress"] == {"Fn::GetAtt": [eip, "PublicIp"]}
    assert len({r["SetIdentifier"] for r in records}) == 2


def test_only_route53_checkers_reach_the_health_port_for_ingest_entry(resources):
    rule = resources["IngestHealthFromRoute53"]
    assert rule["Condition"] == "HasIngestFailoverDns"
    props = rule["Properties"]
    assert (props["IpProtocol"], props["FromPort"], props["ToPort"]) == ("tcp", 8935, 8935)
    assert props["SourcePrefixListId"] == {"Ref": "HealthCheckPrefixListId"}
    assert "CidrIp" not in props


@pytest.mark.parametrize("suffix", ["Az1", "Az2"])
def test_reconnect_grace_outlasts_a_move_through_ingest_entry(template, resources, suffix):
    """The stream must stay live (no ENDLIST) while a single-output encoder whose AZ died finds
    the other AZ: health checks failing, the TTL running out, the encoder retrying."""
    header = user_data_parts(resources, suffix)[0]
    assert re.findall(r"^ZONECAST_RECONNECT_GRACE_SECS=.*$", header, re.M) == [
        "ZONECAST_RECONNECT_GRACE_SECS=${ReconnectGraceSecs}"
    ]
    grace = int(template["Parameters"]["ReconnectGraceSecs"]["Default"])
    (record, _) = resources["IngestEntryDnsRecords"]["Properties"]["RecordSets"]
    config = resources["IngestHealthCheckAz1"]["Properties"]["HealthCheckConfig"]
    detect = int(config["RequestInterval"]) * int(config["FailureThreshold"])
    assert grace >= detect + int(record["TTL"]) + ENCODER_RETRY_SECS
