"""The ecr_push_event_inputs filter: registered, and its refusals are filter errors Ansible reports."""
import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.filter.ecr_event import FilterModule

REPO = Path(__file__).resolve().parents[4]
SAMPLE = json.loads((REPO / "examples" / "eventbridge" / "ecr-push-event.json").read_text())


def test_registered_and_parses_the_sample():
    ecr_push_event_inputs = FilterModule().filters()["ecr_push_event_inputs"]
    assert ecr_push_event_inputs(SAMPLE)["digest"] == SAMPLE["detail"]["image-digest"]
    assert ecr_push_event_inputs(SAMPLE, "myapp")["image_tag"] == "v1.2.3"
    assert ecr_push_event_inputs(SAMPLE, "")["repository"] == "myapp"


def test_refusals_are_filter_errors():
    ecr_push_event_inputs = FilterModule().filters()["ecr_push_event_inputs"]
    delete = dict(SAMPLE, detail=dict(SAMPLE["detail"], **{"action-type": "DELETE"}))
    with pytest.raises(AnsibleFilterError, match="is a DELETE, not a PUSH"):
        ecr_push_event_inputs(delete)
    with pytest.raises(AnsibleFilterError, match="for repository myapp, not other"):
        ecr_push_event_inputs(SAMPLE, "other")


def test_documented_beside_the_filter():
    import yaml

    doc = yaml.safe_load((REPO / "plugins" / "filter" / "ecr_push_event_inputs.yml").read_text())
    assert doc["DOCUMENTATION"]["name"] == "ecr_push_event_inputs"
    assert set(doc["RETURN"]["_value"]["contains"]) == set(FilterModule().filters()["ecr_push_event_inputs"](SAMPLE))
