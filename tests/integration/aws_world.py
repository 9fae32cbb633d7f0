"""Small blue-green worlds built with boto3 in a bare moto server, for module tests."""
import json

DIGEST_LIVE = "sha256:" + "a" * 64
DIGEST_NEW = "sha256:" + "b" * 64
REPO_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp"


def blue_green(moto, app="myapp", cluster="prod-ecs-cluster", live_weight=100, candidate_image=None, desired=2):
    """ALB with a weighted prod listener over target groups <app>-a/<app>-b, services <app>-a/<app>-b."""
    ec2, elbv2, ecs = moto.client("ec2"), moto.client("elbv2"), moto.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.%d.0/24" % i, AvailabilityZone="us-east-1" + z)["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName="%s-sg" % app, Description="app", VpcId=vpc)["GroupId"]
    lb = elbv2.create_load_balancer(Name="%s-alb" % app, Subnets=subnets, SecurityGroups=[sg])["LoadBalancers"][0]
    tgs = {}
    for slot in ("a", "b"):
        tgs[slot] = elbv2.create_target_group(Name="%s-%s" % (app, slot), Protocol="HTTP", Port=8080, VpcId=vpc,
                                              TargetType="ip", HealthCheckPath="/health")["TargetGroups"][0]["TargetGroupArn"]
    listener = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[{
        "Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tgs["a"], "Weight": live_weight}, {"TargetGroupArn": tgs["b"], "Weight": 100 - live_weight}]}}])["Listeners"][0]
    ecs.create_cluster(clusterName=cluster)
    images = {"a": REPO_URI + "@" + DIGEST_LIVE, "b": candidate_image or REPO_URI + "@" + DIGEST_LIVE}
    services = {}
    for slot in ("a", "b"):
        td = ecs.register_task_definition(
            family="%s-%s" % (app, slot) if candidate_image and slot == "b" else app,
            requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
            containerDefinitions=[{"name": app, "image": images[slot], "memory": 512,
                                   "portMappings": [{"containerPort": 8080}]}])["taskDefinition"]
        services[slot] = ecs.create_service(
            cluster=cluster, serviceName="%s-%s" % (app, slot), taskDefinition=td["taskDefinitionArn"],
            desiredCount=desired if slot == "a" else 0, launchType="FARGATE",
            loadBalancers=[{"targetGroupArn": tgs[slot], "containerName": app, "containerPort": 8080}],
            networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}},
            tags=[{"key": "slot", "value": slot}])["service"]
    return dict(lb=lb, listener=listener, target_groups=tgs, services=services, vpc=vpc, subnets=subnets, sg=sg)


def ssm_value(moto, name):
    return json.loads(moto.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])
