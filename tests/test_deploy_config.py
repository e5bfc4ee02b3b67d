"""deploy_hook's configuration: key rules, deploy buckets and the OSS endpoint are checked when loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from snapstack.config import ConfigError, DeployConfig, KeyRule, deploy_buckets, load_config, oss_endpoint

ROOT = Path(__file__).resolve().parents[1]
POLICY = {"name": "deploy", "selector": {"disk_tags": {"env": "prod"}}}


def config(**parts):
    return {"policy": POLICY, **parts}


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ({"pattern": "releases/{app}/", "disk_tags": {"app": "{version}"}}, "['version'] not captured"),
        (
            {"pattern": "releases/{app}/", "disk_tags": {"app": "{app}"}, "deploy_id": "{app}-{version}"},
            "deploy_id",
        ),
        ({"pattern": "releases/{app}/", "instance_tags": {"role": "{role}"}}, "instance_tags.role"),
        ({"pattern": "releases/{app}/", "disk_tags": {"app": "{0}"}}, "not a placeholder"),
        ({"pattern": "releases/{app}/", "disk_tags": {"app": "{app!r}"}}, "not a placeholder"),
        ({"pattern": "releases/{app}/", "disk_tags": {"app": "{app.x}"}}, "not a placeholder"),
        ({"pattern": "releases/{app}/", "disk_tags": {"app": "{app"}}, "disk_tags.app"),
        ({"pattern": "releases/{app}/{app}/", "disk_tags": {"app": "{app}"}}, "twice"),
        ({"pattern": "releases/{App}/", "disk_tags": {"app": "web"}}, "braces only in placeholders"),
        ({"pattern": "releases/{app}/"}, "needs disk_tags or instance_tags"),
        ({"pattern": "/releases/", "disk_tags": {"app": "web"}}, "leading '/'"),
    ],
)
def test_a_key_rule_that_could_fail_at_invocation_is_refused_when_loaded(rule, needle, tmp_path):
    (tmp_path / "snapstack.json").write_text(json.dumps(config(key_rules=[rule])))
    with pytest.raises(ConfigError) as info:
        load_config(DeployConfig, tmp_path, env={})
    assert needle in str(info.value)
    assert info.value.field.startswith("key_rules.0")


SEGMENT = st.text(alphabet=st.characters(blacklist_characters="/", blacklist_categories=("Cs",)), min_size=1)


@given(app=SEGMENT, version=SEGMENT, rest=st.text(max_size=20))
def test_a_loaded_key_rule_never_fails_on_a_key(app, version, rest):
    rule = KeyRule(
        pattern="releases/{app}/{version}/",
        disk_tags={"app": "{app}"},
        instance_tags={"tier": "{app}-{version}"},
        deploy_id="{app}@{version}",
    )
    match = rule.match(f"releases/{app}/{version}/{rest}")
    assert match is not None
    assert match.selector.disk_tags == {"app": app}
    assert match.deploy_id == f"{app}@{version}"
    assert rule.match(f"other/{app}/{version}/") is None


def test_rules_are_tried_in_order_and_a_rule_without_deploy_id_leaves_it_to_the_object():
    cfg = DeployConfig.model_validate(
        config(
            key_rules=[
                {
                    "pattern": "releases/{app}/{version}/",
                    "disk_tags": {"app": "{app}"},
                    "deploy_id": "{app}-{version}",
                },
                {"pattern": "releases/{app}/", "disk_tags": {"app": "{app}"}},
            ]
        )
    )
    release = cfg.release_of("releases/web/1.4.2/a.tar.gz")
    assert release is not None and release.deploy_id == "web-1.4.2"
    single = cfg.release_of("releases/web/web-1.4.2.tar.gz")
    assert single is not None and single.deploy_id is None and single.selector.disk_tags == {"app": "web"}
    assert cfg.release_of("uploads/x") is None


def test_the_shipped_deploy_configuration_loads():
    cfg = load_config(DeployConfig, ROOT / "functions" / "deploy_hook", env={})
    assert cfg.buckets == ("snapstack-deploys",)
    assert cfg.release_of("releases/web/1.4.2/manifest.json").deploy_id == "web-1.4.2"


def test_deploy_buckets_come_from_the_configuration_and_the_stack():
    cfg = DeployConfig.model_validate(config(buckets=["snapstack-deploys"]))
    assert deploy_buckets(cfg, {}) == {"snapstack-deploys"}
    assert deploy_buckets(cfg, {"SNAPSTACK_DEPLOY_BUCKETS": "a-bucket, other-1"}) == {
        "snapstack-deploys",
        "a-bucket",
        "other-1",
    }
    with pytest.raises(ConfigError, match="SNAPSTACK_DEPLOY_BUCKETS"):
        deploy_buckets(cfg, {"SNAPSTACK_DEPLOY_BUCKETS": "Bad_Bucket"})
    with pytest.raises(ValidationError, match="bucket names"):
        DeployConfig.model_validate(config(buckets=["x.attacker.example/"]))


def test_the_oss_endpoint_comes_from_configuration_or_the_functions_region():
    assert oss_endpoint("cn-hangzhou", {}).url == "https://oss-cn-hangzhou-internal.aliyuncs.com"
    given_ = oss_endpoint("cn-hangzhou", {"SNAPSTACK_OSS_ENDPOINT": "http://127.0.0.1:9000/"})
    assert (given_.url, given_.path_style) == ("http://127.0.0.1:9000", False)
    assert oss_endpoint(
        "x", {"SNAPSTACK_OSS_ENDPOINT": "http://h:1", "SNAPSTACK_OSS_PATH_STYLE": "true"}
    ).path_style


@pytest.mark.parametrize(
    "endpoint",
    ["ftp://h", "http://user:pw@h", "http://h/path", "http://h?x=1", "h:9000", "http://", "http://h:99999"],
)
def test_an_endpoint_that_is_not_a_plain_host_is_refused(endpoint):
    with pytest.raises(ConfigError, match="SNAPSTACK_OSS_ENDPOINT"):
        oss_endpoint("cn-hangzhou", {"SNAPSTACK_OSS_ENDPOINT": endpoint})


@pytest.mark.parametrize("region", ["x.attacker.example/", "x@127.0.0.1:9/", "", "CN-HANGZHOU"])
def test_a_region_that_is_not_a_region_id_never_becomes_a_host(region):
    with pytest.raises(ConfigError, match="region"):
        oss_endpoint(region, {})
