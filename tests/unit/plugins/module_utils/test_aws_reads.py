import datetime

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils import rollout


@pytest.mark.parametrize("count, size, lengths", [
    (0, 100, []), (1, 100, [1]), (100, 100, [100]), (101, 100, [100, 1]), (250, 100, [100, 100, 50]),
    (10, 10, [10]), (11, 10, [10, 1]), (3, 1, [1, 1, 1]),
])
def test_batches_keep_order_and_limit(count, size, lengths):
    items = ["t%d" % i for i in range(count)]
    out = reads.batches(items, size)
    assert [len(b) for b in out] == lengths
    assert [x for b in out for x in b] == items


def test_batches_refuse_a_size_below_one():
    with pytest.raises(ValueError):
        reads.batches(["a"], 0)


class RecordingEcs(object):
    """Answers describe_* from a dict and records each call's size (the unit under test is the batching)."""

    def __init__(self, limit):
        self.limit = limit
        self.calls = []

    def _answer(self, ids):
        assert len(ids) <= self.limit, "the API refuses more than %d per call" % self.limit
        self.calls.append(len(ids))
        return ids

    def describe_tasks(self, aws_retry, cluster, tasks):
        return {"tasks": [{"taskArn": a} for a in self._answer(tasks)]}

    def describe_services(self, aws_retry, cluster, services, include=None):
        return {"services": [{"serviceName": s, "status": "ACTIVE"} for s in self._answer(services)]}

    def describe_container_instances(self, aws_retry, cluster, containerInstances):
        return {"containerInstances": [{"containerInstanceArn": a} for a in self._answer(containerInstances)]}


def test_every_task_is_described_100_per_call():
    arns = ["arn:aws:ecs:us-east-1:123456789012:task/prod/%04d" % i for i in range(250)]
    ecs = RecordingEcs(100)
    tasks = reads.describe_tasks(ecs, "prod", arns)
    assert [t["taskArn"] for t in tasks] == arns  # before: only the first 100
    assert ecs.calls == [100, 100, 50]
    assert reads.describe_tasks(RecordingEcs(100), "prod", []) == []


def test_services_10_and_container_instances_100_per_call():
    ecs = RecordingEcs(10)
    assert len(reads.describe_services(ecs, "prod", ["s%d" % i for i in range(23)])) == 23
    assert ecs.calls == [10, 10, 3]
    ecs = RecordingEcs(100)
    assert len(reads.describe_container_instances(ecs, "prod", ["i%d" % i for i in range(101)])) == 101
    assert ecs.calls == [100, 1]


def test_stopped_since_keeps_the_services_new_revision_stopped_in_the_window():
    now = 1000.0
    at = datetime.datetime.fromtimestamp(990.0, datetime.timezone.utc)
    old = datetime.datetime.fromtimestamp(900.0, datetime.timezone.utc)
    tasks = [
        {"taskArn": "new", "group": "service:myapp-b", "taskDefinitionArn": "td:2", "stoppedAt": at},
        {"taskArn": "stopping", "group": "service:myapp-b", "taskDefinitionArn": "td:2"},  # no stoppedAt yet: now
        {"taskArn": "before", "group": "service:myapp-b", "taskDefinitionArn": "td:2", "stoppedAt": old},
        {"taskArn": "old-revision", "group": "service:myapp-b", "taskDefinitionArn": "td:1", "stoppedAt": at},
        {"taskArn": "other-service", "group": "service:myapp-a", "taskDefinitionArn": "td:2", "stoppedAt": at},
    ]
    kept = rollout.stopped_since(tasks, "myapp-b", "td:2", 950.0, now)
    assert [t["taskArn"] for t in kept] == ["new", "stopping"]
    assert len(rollout.stopped_since(tasks, "myapp-b", None, 950.0, now)) == 3


def test_stopped_since_leaves_out_the_tasks_of_an_earlier_attempt():
    def t(epoch):
        return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    tasks = [
        # the same revision's tasks from the attempt that was rolled back: created long before, stopped just now
        {"taskArn": "rolled-back", "group": "service:myapp-b", "taskDefinitionArn": "td:2", "createdAt": t(700.0),
         "stoppedAt": t(960.0)},
        {"taskArn": "this-attempt", "group": "service:myapp-b", "taskDefinitionArn": "td:2", "createdAt": t(955.0),
         "stoppedAt": t(990.0)},
    ]
    assert [x["taskArn"] for x in rollout.stopped_since(tasks, "myapp-b", "td:2", 950.0, 1000.0)] == ["this-attempt"]
