# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An ECR push event (as EventBridge delivers it) turned into a deployment's inputs.

Pure functions, no AWS and no Ansible: the `ecr_push_event_inputs` filter wraps them.
The event shape is EventBridge's `ECR Image Action` event:
{"source": "aws.ecr", "detail-type": "ECR Image Action", "account": ..., "region": ...,
 "detail": {"action-type": "PUSH", "result": "SUCCESS", "repository-name": ..., "image-digest": ..., "image-tag": ...}}
"""

import json
import re

from ansible_collections.progressive.delivery.plugins.module_utils.ecr_image import check_digest, image_uri, registry_host

SOURCE = "aws.ecr"
DETAIL_TYPE = "ECR Image Action"
ACCOUNT_RE = re.compile(r"^\d{12}$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# ECR repository names: lowercase, digits, . _ - and / separated namespaces, 2-256 characters.
REPOSITORY_RE = re.compile(r"^(?=.{2,256}$)[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class EcrEventError(ValueError):
    """The event is not a successful ECR image push that names a tag, or it is malformed."""


def load_event(event):
    """The event as a dict: a dict is taken as it is, a string is parsed as JSON."""
    if isinstance(event, (str, bytes)):
        try:
            event = json.loads(event)
        except ValueError as e:
            raise EcrEventError("the ECR push event is not valid JSON: %s" % e)
    if not isinstance(event, dict):
        raise EcrEventError("the ECR push event must be a JSON object (EventBridge's event), got %s" % type(event).__name__)
    return event


def push_event_inputs(event, repository=None, account=None, region=None):
    """{image_tag, repository, digest, region, account, registry, image_uri, event_id, time} of a successful ECR
    image push event; raises EcrEventError naming what is wrong for anything else.

    `repository`, `account` and `region`, when given, are where the deployment's image lives: an event from another
    repository, account or region is refused (an EventBridge rule or bus shared wider than it should be).
    """
    expected_account, expected_region = account, region
    event = load_event(event)
    source, detail_type = event.get("source"), event.get("detail-type")
    if source != SOURCE or detail_type != DETAIL_TYPE:
        raise EcrEventError("not an ECR image event: source %r, detail-type %r (expected %r, %r); "
                            "give the EventBridge event of an image push as it is delivered"
                            % (source, detail_type, SOURCE, DETAIL_TYPE))
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise EcrEventError("the ECR image event has no detail object")
    action, result = detail.get("action-type"), detail.get("result")
    if action != "PUSH":
        raise EcrEventError("the ECR image event is a %s, not a PUSH: only a pushed image is deployed" % (action,))
    if result != "SUCCESS":
        raise EcrEventError("the ECR image push did not succeed (result %r): nothing to deploy" % (result,))
    name, digest, tag = detail.get("repository-name"), detail.get("image-digest"), detail.get("image-tag")
    if not isinstance(name, str) or not REPOSITORY_RE.match(name):
        raise EcrEventError("the ECR push event's repository-name %r is not an ECR repository name" % (name,))
    if repository and name != repository:
        raise EcrEventError("the ECR push event is for repository %s, not %s: check the EventBridge rule's "
                            "repository-name (ecs_validate_ecr_repository)" % (name, repository))
    if check_digest(digest):
        raise EcrEventError("the ECR push event's image-digest: %s" % check_digest(digest))
    if not tag:
        raise EcrEventError("the ECR push of %s@%s carries no image-tag (pushed by digest, untagged): "
                            "deployments are of tagged images" % (name, digest))
    if not isinstance(tag, str) or not TAG_RE.match(tag):
        raise EcrEventError("the ECR push event's image-tag %r is not a valid image tag" % (tag,))
    account, region = str(event.get("account") or ""), str(event.get("region") or "")
    if not ACCOUNT_RE.match(account):
        raise EcrEventError("the ECR push event's account %r is not a 12-digit AWS account id" % (account,))
    if not REGION_RE.match(region):
        raise EcrEventError("the ECR push event's region %r is not an AWS region" % (region,))
    if expected_account and account != str(expected_account):
        raise EcrEventError("the ECR push event comes from account %s, not %s (ecs_validate_ecr_account): only pushes to "
                            "the configured registry are deployed" % (account, expected_account))
    if expected_region and region != str(expected_region):
        raise EcrEventError("the ECR push event comes from region %s, not %s (ecs_validate_ecr_region): only pushes to "
                            "the configured registry are deployed" % (region, expected_region))
    return {
        "image_tag": tag,
        "repository": name,
        "digest": digest,
        "region": region,
        "account": account,
        "registry": registry_host(account, region),
        "image_uri": image_uri(account, region, name, digest),
        "event_id": event.get("id") or "",
        "time": event.get("time") or "",
    }
