"""The collection resolves and one module_defaults group reaches ours, amazon.aws's and community.aws's modules."""
from harness import localhost_play, run_playbook


def test_action_group_reaches_amazon_and_community_aws(moto):
    play = localhost_play([
        {"name": "caller", "amazon.aws.aws_caller_info": {}, "register": "caller"},
        {"name": "ecr", "community.aws.ecs_ecr": {"name": "group-check"}},
    ], moto.url)
    result = run_playbook(play)
    assert result.rc == 0, result
    # moto's default account proves the calls went to the moto endpoint, not to AWS.
    assert result.task("caller")["account"] == "123456789012"
    assert result.task("ecr")["changed"] is True
    assert moto.client("ecr").describe_repositories()["repositories"][0]["repositoryName"] == "group-check"
