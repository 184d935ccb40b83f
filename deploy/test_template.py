"""Security and wiring properties of template.yaml and the files it depends on.

Run from the repository root:  .venv/bin/pytest deploy/
Needs cfn-lint (its loader understands !Ref, !Sub, !GetAtt ...) and pytest.
Every assertion compares real values: break the property in template.yaml and it fails.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
AZS = ("az1", "az2")
DISTRIBUTION_ARN = "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"

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
    for policy in role["Properties"].get("Policies", []):
        yield from statements(policy["PolicyDocument"])


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
    for code in (403, 404, 503):
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


def test_playlist_function_reads_index_objects_only(resources):
    (policy,) = resources["PlaylistFunction"]["Properties"]["Policies"]
    for st in statements(policy):
        assert st["Effect"] == "Allow"
        assert as_list(st["Action"]) == ["s3:GetObject"]
        assert sorted(text(r) for r in as_list(st["Resource"])) == [
            "${MediaBucket.Arn}/az1/*/index.json",
            "${MediaBucket.Arn}/az2/*/index.json",
        ]


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
                assert key.startswith(f"{az}/") or (key.startswith(f"{peer}/") and key.endswith("/index.json")), key
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


@pytest.mark.parametrize("az", AZS)
def test_each_az_has_its_own_group_profile_subnet_and_address(resources, az):
    suffix = az.capitalize()
    group = resources[f"IngestGroup{suffix}"]["Properties"]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == ("1", "1", "1")
    assert group["VPCZoneIdentifier"] == [{"Ref": f"Subnet{suffix}"}]
    assert group["HealthCheckType"] == "EC2"
    assert group["LaunchTemplate"]["LaunchTemplateId"] == {"Ref": f"IngestLaunchTemplate{suffix}"}
    update = resources[f"IngestGroup{suffix}"]["UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert update["WaitOnResourceSignals"] is True
    data = resources[f"IngestLaunchTemplate{suffix}"]["Properties"]["LaunchTemplateData"]
    assert data["IamInstanceProfile"]["Arn"] == {"Fn::GetAtt": [f"IngestInstanceProfile{suffix}", "Arn"]}
    assert resources[f"IngestInstanceProfile{suffix}"]["Properties"]["Roles"] == [{"Ref": f"IngestRole{suffix}"}]
    assert data["MetadataOptions"]["HttpTokens"] == "required", "IMDSv2 only"
    user_data = text(data["UserData"]["Fn::Base64"])
    assert f"\nZONECAST_AZ={az}\n" in user_data
    assert f"ZONECAST_EIP_ALLOCATION_ID=${{Eip{suffix}.AllocationId}}" in user_data
    assert f"ZONECAST_SIGNAL_RESOURCE=IngestGroup{suffix}\n" in user_data
    assert "ZONECAST_LAYER_ARN=${IngestBinaryLayer}" in user_data


def test_az2_rolls_only_after_az1(resources):
    assert resources["IngestGroupAz2"]["DependsOn"] == "IngestGroupAz1"


def test_security_group_opens_rtmp_only(resources):
    (rule,) = resources["IngestSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 1935, 1935)
    assert rule["CidrIp"] == {"Ref": "IngestCidr"}
    health = resources["IngestHealthIngress"]
    assert health["Condition"] == "HasHealthCheckCidr"
    assert health["Properties"]["FromPort"] == 8935


def test_layer_is_built_by_the_deploy_makefile(resources):
    layer = resources["IngestBinaryLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["ContentUri"] == "./deploy"
    makefile = (ROOT / "deploy" / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^build-IngestBinaryLayer:", makefile, re.M)
    assert "$(ARTIFACTS_DIR)/bin/zonecast-ingest" in makefile
    for shipped in ("boot.sh", "zonecast-healthcheck.sh", "zonecast-ingest.service", "zonecast-healthcheck.timer"):
        assert shipped in makefile and (ROOT / "deploy" / shipped).is_file(), shipped


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

    az1 = repr(data("Az1"))
    az2 = repr(data("Az2")).replace("Az2", "Az1").replace("az2", "az1")
    assert az1 == az2
