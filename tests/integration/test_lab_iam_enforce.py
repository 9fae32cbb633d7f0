"""The lab enforces docs' policy on its deployer (lab/aws/iam_enforce.py): what the flow does on its own resources is
allowed, the same action elsewhere is refused with AWS's error for the protocol, and other keys stay unchecked."""
import json

import botocore.exceptions
import pytest

pytestmark = pytest.mark.lab

LOCK = "/progressive-delivery/locks/prod-ecs-cluster/myapp"


def error_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    return info.value.response


def test_the_deployer_is_held_to_the_rendered_policy(lab_world):
    lab = lab_world
    assert lab.iam_enforce(True) is True
    try:
        ecs, elbv2, ssm, sts = (lab.deployer_client(s) for s in ("ecs", "elbv2", "ssm", "sts"))
        assert sts.get_caller_identity()["Arn"] == "arn:aws:iam::123456789012:user/progressive-deployer"
        # allowed on the slot services, the lock parameter; Describe* on *
        assert len(ecs.describe_services(cluster="prod-ecs-cluster", services=["myapp-a", "myapp-b"])["services"]) == 2
        assert elbv2.describe_load_balancers(Names=["myapp-alb"])["LoadBalancers"]
        with pytest.raises(ssm.exceptions.ParameterNotFound):
            ssm.get_parameter(Name=LOCK)
        # refused: another service (JSON protocol), a write never granted, another parameter
        denied = error_of(lambda: ecs.update_service(cluster="prod-ecs-cluster", service="someone-else", desiredCount=1))
        assert denied["Error"]["Code"] == "AccessDeniedException" and denied["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert ("progressive-deployer is not authorized to perform: ecs:UpdateService on resource: "
                "arn:aws:ecs:us-east-1:123456789012:service/prod-ecs-cluster/someone-else") in denied["Error"]["Message"]
        assert error_of(lambda: ecs.delete_service(cluster="prod-ecs-cluster", service="myapp-b"))["Error"]["Code"] == \
            "AccessDeniedException"
        assert error_of(lambda: ssm.put_parameter(Name="/other/param", Value="x", Type="String"))["Error"]["Code"] == \
            "AccessDeniedException"
        # query protocol: AccessDenied; a listener of another load balancer is out of scope
        lb = lab.client("elbv2").create_load_balancer(Name="other-alb", Subnets=[
            s["SubnetId"] for s in lab.client("ec2").describe_subnets()["Subnets"]][:2])["LoadBalancers"][0]
        other = lab.client("elbv2").create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=81,
                                                    DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
                                                        "StatusCode": "200"}}])["Listeners"][0]["ListenerArn"]
        denied = error_of(lambda: elbv2.modify_listener(ListenerArn=other, Port=82))
        assert denied["Error"]["Code"] == "AccessDenied"
        # the lab's own (admin) key is not checked
        lab.client("ssm").put_parameter(Name="/other/param", Value="x", Type="String", Overwrite=True)
        records = [json.loads(line) for line in (lab.state_dir / "iam-denied.jsonl").read_text().splitlines()]
        assert {"action": "elasticloadbalancing:ModifyListener", "resource": other + "", "decision": "implicitDeny"}.items() <= \
            records[-1].items()
        # switched off, the deployer may do what it was refused
        assert lab.iam_enforce(False) is False
        ssm.put_parameter(Name="/other/param", Value="y", Type="String", Overwrite=True)
    finally:
        lab.iam_enforce()
        lab.client("ssm").delete_parameter(Name="/other/param")
        elb = lab.client("elbv2")
        for lb in elb.describe_load_balancers()["LoadBalancers"]:
            if lb["LoadBalancerName"] == "other-alb":
                elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
