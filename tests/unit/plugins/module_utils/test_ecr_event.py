"""ECR push events (EventBridge JSON) turned into a deployment's inputs, and everything else refused."""
import copy
import json
from pathlib import Path

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.ecr_event import EcrEventError, push_event_inputs

REPO = Path(__file__).resolve().parents[4]
DIGEST = "sha256:" + "7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678"

# The shape of AWS's "Event for a completed image push" (Amazon ECR events and EventBridge).
PUSH = {
    "version": "0",
    "id": "13cde686-328b-6117-af20-0e5566167482",
    "detail-type": "ECR Image Action",
    "source": "aws.ecr",
    "account": "123456789012",
    "time": "2019-11-16T01:54:34Z",
    "region": "us-west-2",
    "resources": [],
    "detail": {
        "result": "SUCCESS",
        "repository-name": "checkout",
        "image-digest": DIGEST,
        "action-type": "PUSH",
        "image-tag": "v1.2.3",
    },
}


def changed(path, value):
    """PUSH with one field (dotted path into detail, or top level) replaced; value None deletes it."""
    event = copy.deepcopy(PUSH)
    target, key = (event["detail"], path[len("detail."):]) if path.startswith("detail.") else (event, path)
    if value is None:
        del target[key]
    else:
        target[key] = value
    return event


def test_a_successful_push_gives_tag_repository_digest_account_region():
    assert push_event_inputs(PUSH) == {
        "image_tag": "v1.2.3",
        "repository": "checkout",
        "digest": DIGEST,
        "region": "us-west-2",
        "account": "123456789012",
        "registry": "123456789012.dkr.ecr.us-west-2.amazonaws.com",
        "image_uri": "123456789012.dkr.ecr.us-west-2.amazonaws.com/checkout@" + DIGEST,
        "event_id": "13cde686-328b-6117-af20-0e5566167482",
        "time": "2019-11-16T01:54:34Z",
    }


def test_json_text_and_namespaced_repositories_and_china_regions():
    assert push_event_inputs(json.dumps(PUSH))["image_tag"] == "v1.2.3"
    assert push_event_inputs(changed("detail.repository-name", "team/checkout-api"))["repository"] == "team/checkout-api"
    china = push_event_inputs(changed("region", "cn-north-1"))
    assert china["registry"] == "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"


def test_the_committed_sample_event_parses():
    sample = json.loads((REPO / "examples" / "eventbridge" / "ecr-push-event.json").read_text())
    inputs = push_event_inputs(sample, repository="myapp")
    assert (inputs["repository"], inputs["image_tag"]) == ("myapp", "v1.2.3")


@pytest.mark.parametrize("event, message", [
    (changed("source", "aws.ecs"), "not an ECR image event: source 'aws.ecs'"),
    (changed("detail-type", "ECR Image Scan"), "detail-type 'ECR Image Scan'"),
    (changed("detail-type", "ECR Pull Through Cache Action"), "expected 'aws.ecr', 'ECR Image Action'"),
    (changed("detail", None), "no detail object"),
    (changed("detail.action-type", "DELETE"), "is a DELETE, not a PUSH"),
    (changed("detail.result", "FAILURE"), "did not succeed (result 'FAILURE')"),
    (changed("detail.image-tag", None), "carries no image-tag"),
    (changed("detail.image-tag", ""), "carries no image-tag"),
    (changed("detail.image-tag", "v1 2"), "image-tag 'v1 2' is not a valid image tag"),
    (changed("detail.image-digest", "sha256:abc"), "image-digest: digest must be sha256:<64 lowercase hex digits>"),
    (changed("detail.image-digest", None), "image-digest: digest must be"),
    (changed("detail.repository-name", "Checkout"), "repository-name 'Checkout' is not an ECR repository name"),
    (changed("account", "{{123456789012}}"), "account '{{123456789012}}' is not a 12-digit AWS account id"),
    (changed("region", "nowhere"), "region 'nowhere' is not an AWS region"),
    ("{not json", "not valid JSON"),
    (["a", "list"], "must be a JSON object"),
    (PUSH["detail"], "not an ECR image event"),
])
def test_anything_but_a_successful_tagged_push_is_refused_saying_why(event, message):
    with pytest.raises(EcrEventError) as error:
        push_event_inputs(event)
    assert message in str(error.value)


def test_an_event_for_another_repository_is_refused_when_the_repository_is_given():
    assert push_event_inputs(PUSH, repository="checkout")["repository"] == "checkout"
    with pytest.raises(EcrEventError, match="for repository checkout, not payments: check the EventBridge rule"):
        push_event_inputs(PUSH, repository="payments")


def test_an_event_from_another_account_or_region_is_refused_when_they_are_given():
    account, region = PUSH["account"], PUSH["region"]
    assert push_event_inputs(PUSH, account=account, region=region)["account"] == account
    with pytest.raises(EcrEventError, match="comes from account %s, not 999999999999" % account):
        push_event_inputs(PUSH, account="999999999999")
    with pytest.raises(EcrEventError, match="comes from region %s, not eu-west-3" % region):
        push_event_inputs(PUSH, region="eu-west-3")
