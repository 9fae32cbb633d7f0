"""The seeded world (issue 3 §6), created through the API like a user would, against the lab endpoint.

VPC, subnets, security groups, log group, ECR repository `myapp` with every catalogue tag (and its scan
findings), secrets DB_PASSWORD / API_KEY, task + execution roles, a deployer user and role allowed the
flow's actions and a restricted user missing some, task definition family `myapp` on the live tag, target
groups myapp-a / myapp-b, ALB myapp-alb with the production listener (weighted, 100 % to the live slot)
and the test listener (100 % to the idle slot), services myapp-a (live) and myapp-b (desired 0).
A server certificate from the lab CA (lab/tls.py) for the ALB's DNS name and 127.0.0.1, imported into ACM; the
listeners whose API ports LAB_TLS_LISTENERS lists (e.g. "9000", "80,9000") are HTTPS with it, the others HTTP.

shape="single" seeds the seed's own account instead of the two slots: one service `myapp-ecs-service` behind one
target group `myapp-tg-blue`, a plain forward (TargetGroupArn, no ForwardConfig) on the production listener and no
test listener - what playbooks/ecs_adopt.yml adopts.
"""
import hashlib
import json

import boto3
import yaml
from botocore.config import Config

from lab import config, tls

HEALTH_CHECK = {"HealthCheckPath": "/health", "HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 2,
                "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 2}
DEREGISTRATION_DELAY_S = 5
LOG_GROUP = "/ecs/%s" % config.APP
SECRETS = {"DB_PASSWORD": "lab-db-password-%s", "API_KEY": "lab-api-key-%s"}
DEPLOYER_USER = "deployer"
DEPLOYER_ROLE = "myapp-deployer"
RESTRICTED_USER = "deployer-readonly"
TASK_ROLE = "myapp-task-role"
EXECUTION_ROLE = "myapp-execution-role"

# What a blue-green run does, by service (the IAM preflight simulates these).
DEPLOYER_ACTIONS = [
    "sts:GetCallerIdentity", "iam:SimulatePrincipalPolicy", "iam:GetRole", "iam:PassRole",
    "ecr:DescribeImages", "ecr:DescribeImageScanFindings", "ecr:DescribeRepositories", "ecr:BatchGetImage",
    "ecr:StartImageScan",
    "ecs:Describe*", "ecs:List*", "ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition",
    "ecs:UpdateService", "ecs:CreateService", "ecs:TagResource",
    "elasticloadbalancing:Describe*", "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:AddTags",
    "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
    "cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics",
    "ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter", "ssm:AddTagsToResource", "ssm:DescribeParameters",
    "secretsmanager:DescribeSecret", "logs:DescribeLogGroups", "logs:CreateLogStream", "logs:PutLogEvents",
    "servicequotas:GetServiceQuota", "servicequotas:GetAWSDefaultServiceQuota", "ecs:UntagResource",
]
READONLY_ACTIONS = ["sts:GetCallerIdentity", "ecr:Describe*", "ecs:Describe*", "ecs:List*",
                    "elasticloadbalancing:Describe*", "cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics"]
READONLY_DENY = ["ecs:DeleteService", "ecs:UpdateService", "elasticloadbalancing:Delete*",
                 "elasticloadbalancing:ModifyListener"]


_SESSION = []


def client(service, endpoint=None):
    """A boto3 client for the lab endpoint (one shared session: service models are loaded once)."""
    if not _SESSION:
        _SESSION.append(boto3.session.Session())
    return _SESSION[0].client(service, endpoint_url=endpoint or config.AWS_ENDPOINT, region_name=config.REGION,
                              aws_access_key_id="testing", aws_secret_access_key="testing",
                              config=Config(user_agent_extra="lab-seed", retries={"max_attempts": 2},
                                            connect_timeout=2, read_timeout=30))


def load_catalogue(path=None):
    with open(path or config.CATALOGUE_FILE) as f:
        return yaml.safe_load(f)


def image_manifest(tag):
    """A distinct docker v2 manifest per tag, so every tag has its own digest."""
    def digest(kind):
        return "sha256:" + hashlib.sha256(("%s:%s:%s" % (config.APP, tag, kind)).encode()).hexdigest()
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1470,
                   "digest": digest("config")},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 3 * 1024 * 1024,
                    "digest": digest("layer0")},
                   {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 512 * 1024,
                    "digest": digest("layer1")}],
    }, indent=3)


def _policy(statements):
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


SERVICES = ("ec2", "logs", "ecr", "secretsmanager", "iam", "ecs", "elbv2", "acm")


def register_findings(out):
    """Give every seeded image its catalogue scan findings (in the daemon's process: moto's ECR backend)."""
    from lab.aws import ecr_findings
    for tag, digest in out["digests"].items():
        ecr_findings.set_findings(config.ACCOUNT_ID, config.REGION, config.APP, digest, out["findings"].get(tag))


def seed(endpoint=None, desired_count=None, with_findings=True, shape=None):
    """Create the world (shape "slots" or "single", see the module's docstring). Returns a dict of the ARNs and ids
    a test or `lab status` needs.

    with_findings=False when seeding from another process than the daemon's (see main): the daemon then
    calls register_findings(out) itself."""
    c = lambda s: client(s, endpoint)  # noqa: E731
    desired_count = config.DESIRED_COUNT if desired_count is None else desired_count
    shape = shape or config.SHAPE
    if shape not in config.SHAPES:
        raise ValueError("unknown world shape %r (known: %s)" % (shape, ", ".join(config.SHAPES)))
    out = {"shape": shape}
    ec2 = c("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "lab-vpc"}])
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.%d.0/24" % i, AvailabilityZone=config.REGION + az)
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    alb_sg = ec2.create_security_group(GroupName="myapp-alb-sg", Description="myapp ALB", VpcId=vpc)["GroupId"]
    task_sg = ec2.create_security_group(GroupName="myapp-tasks-sg", Description="myapp tasks", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=task_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": config.CONTAINER_PORT, "ToPort": config.CONTAINER_PORT,
        "UserIdGroupPairs": [{"GroupId": alb_sg}]}])
    out.update(vpc_id=vpc, subnet_ids=subnets, alb_security_group=alb_sg, task_security_group=task_sg)

    c("logs").create_log_group(logGroupName=LOG_GROUP)

    # ECR: every catalogue tag, each with its own digest and scan findings
    catalogue = load_catalogue()
    ecr = c("ecr")
    repo = ecr.create_repository(repositoryName=catalogue["repository"],
                                 imageScanningConfiguration={"scanOnPush": True})["repository"]
    out["repository_uri"] = repo["repositoryUri"]
    out["digests"], out["findings"] = {}, {}
    for tag, entry in catalogue["images"].items():
        image = ecr.put_image(repositoryName=repo["repositoryName"], imageManifest=image_manifest(tag),
                              imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
                              imageTag=tag)["image"]
        digest = image["imageId"]["imageDigest"]
        out["digests"][tag] = digest
        out["findings"][tag] = entry.get("findings") or {}
    if with_findings:
        register_findings(out)

    sm = c("secretsmanager")
    out["secrets"] = {}
    for name, pattern in SECRETS.items():
        value = pattern % hashlib.sha256(name.encode()).hexdigest()[:12]
        out["secrets"][name] = sm.create_secret(Name=name, SecretString=value)["ARN"]

    iam = c("iam")
    assume = lambda svc: json.dumps({"Version": "2012-10-17", "Statement": [  # noqa: E731
        {"Effect": "Allow", "Principal": {"Service": svc}, "Action": "sts:AssumeRole"}]})
    task_role = iam.create_role(RoleName=TASK_ROLE, AssumeRolePolicyDocument=assume("ecs-tasks.amazonaws.com"))["Role"]
    iam.put_role_policy(RoleName=TASK_ROLE, PolicyName="myapp-task", PolicyDocument=_policy([
        {"Effect": "Allow", "Action": ["cloudwatch:PutMetricData", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "*"}]))
    exec_role = iam.create_role(RoleName=EXECUTION_ROLE,
                                AssumeRolePolicyDocument=assume("ecs-tasks.amazonaws.com"))["Role"]
    iam.put_role_policy(RoleName=EXECUTION_ROLE, PolicyName="myapp-execution", PolicyDocument=_policy([
        {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage",
                                       "ecr:GetDownloadUrlForLayer", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": list(out["secrets"].values())}]))
    out.update(task_role_arn=task_role["Arn"], execution_role_arn=exec_role["Arn"])

    deploy_doc = _policy([
        {"Sid": "Deploy", "Effect": "Allow", "Action": [a for a in DEPLOYER_ACTIONS if a != "iam:PassRole"],
         "Resource": "*"},
        {"Sid": "PassTaskRoles", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": [task_role["Arn"], exec_role["Arn"]]}])
    policy_arn = iam.create_policy(PolicyName="myapp-deployer", PolicyDocument=deploy_doc)["Policy"]["Arn"]
    iam.create_user(UserName=DEPLOYER_USER)
    iam.attach_user_policy(UserName=DEPLOYER_USER, PolicyArn=policy_arn)
    deployer_role = iam.create_role(RoleName=DEPLOYER_ROLE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": "arn:aws:iam::%s:root" % config.ACCOUNT_ID}}]}))
    iam.attach_role_policy(RoleName=DEPLOYER_ROLE, PolicyArn=policy_arn)
    iam.create_user(UserName=RESTRICTED_USER)
    iam.put_user_policy(UserName=RESTRICTED_USER, PolicyName="readonly", PolicyDocument=_policy([
        {"Effect": "Allow", "Action": READONLY_ACTIONS, "Resource": "*"},
        {"Effect": "Deny", "Action": READONLY_DENY, "Resource": "*"}]))
    out.update(deployer_user_arn=iam.get_user(UserName=DEPLOYER_USER)["User"]["Arn"],
               deployer_role_arn=deployer_role["Role"]["Arn"], deployer_policy_arn=policy_arn,
               restricted_user_arn=iam.get_user(UserName=RESTRICTED_USER)["User"]["Arn"])

    ecs = c("ecs")
    ecs.create_cluster(clusterName=config.CLUSTER, capacityProviders=["FARGATE"],
                       settings=[{"name": "containerInsights", "value": "disabled"}])
    live = catalogue["images"][config.LIVE_TAG]
    td = ecs.register_task_definition(
        family=config.APP, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        taskRoleArn=task_role["Arn"], executionRoleArn=exec_role["Arn"],
        containerDefinitions=[{
            "name": config.CONTAINER_NAME, "image": "%s:%s" % (repo["repositoryUri"], config.LIVE_TAG),
            "essential": True, "memory": 512,
            "portMappings": [{"containerPort": config.CONTAINER_PORT, "protocol": "tcp"}],
            "environment": [{"name": "APP_ENV", "value": "production"},
                            {"name": "VERSION", "value": config.LIVE_TAG},
                            {"name": "LOG_LEVEL", "value": "info"}],
            "secrets": [{"name": name, "valueFrom": arn} for name, arn in out["secrets"].items()],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": LOG_GROUP, "awslogs-region": config.REGION, "awslogs-stream-prefix": config.APP}},
        }],
        tags=[{"key": "app", "value": config.APP}, {"key": "description", "value": live.get("description", "")}],
    )["taskDefinition"]
    out["task_definition_arn"] = td["taskDefinitionArn"]

    elbv2 = c("elbv2")
    lb = elbv2.create_load_balancer(Name=config.ALB_NAME, Subnets=subnets, SecurityGroups=[alb_sg],
                                    Scheme="internet-facing", Type="application",
                                    Tags=[{"Key": "app", "Value": config.APP}])["LoadBalancers"][0]
    issued = tls.issue_server_certificate([lb["DNSName"]], ["127.0.0.1"])
    cert_arn = c("acm").import_certificate(Certificate=issued["certificate"], PrivateKey=issued["private_key"],
                                           CertificateChain=issued["chain"],
                                           Tags=[{"Key": "app", "Value": config.APP}])["CertificateArn"]
    out.update(certificate_arn=cert_arn, ca_bundle=str(tls.ca_bundle_path()))

    def protocol(port):
        if port in config.TLS_LISTENERS:
            return {"Protocol": "HTTPS", "Certificates": [{"CertificateArn": cert_arn}]}
        return {"Protocol": "HTTP"}

    out.update(load_balancer_arn=lb["LoadBalancerArn"], dns_name=lb["DNSName"])
    service_args = dict(
        cluster=config.CLUSTER, taskDefinition=td["taskDefinitionArn"], launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [task_sg],
                                                      "assignPublicIp": "DISABLED"}},
        deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100,
                                 "deploymentCircuitBreaker": {"enable": True, "rollback": False}},
        healthCheckGracePeriodSeconds=0, propagateTags="SERVICE")
    if shape == "single":
        tg = _target_group(elbv2, vpc, config.SINGLE_TARGET_GROUP, [{"Key": "app", "Value": config.APP}])
        prod = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], **protocol(config.PROD_LISTENER_PORT),
                                     Port=config.PROD_LISTENER_PORT,
                                     DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]
        out.update(target_groups={"single": tg}, prod_listener_arn=prod["ListenerArn"], test_listener_arn=None)
        ecs.create_service(serviceName=config.SINGLE_SERVICE, desiredCount=desired_count,
                           loadBalancers=[{"targetGroupArn": tg, "containerName": config.CONTAINER_NAME,
                                           "containerPort": config.CONTAINER_PORT}],
                           tags=[{"key": "app", "value": config.APP}, {"key": "team", "value": "payments"}],
                           **service_args)
        return out

    tgs = {}
    for slot in config.SLOTS:
        tgs[slot] = _target_group(elbv2, vpc, "%s-%s" % (config.APP, slot),
                                  [{"Key": "app", "Value": config.APP}, {"Key": "slot", "Value": slot}])
    out["target_groups"] = tgs
    live_slot = config.LIVE_SLOT
    idle_slot = [s for s in config.SLOTS if s != live_slot][0]
    stickiness = {"Enabled": False}
    prod = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], **protocol(config.PROD_LISTENER_PORT),
                                 Port=config.PROD_LISTENER_PORT, DefaultActions=[{
                                     "Type": "forward", "ForwardConfig": {
                                         "TargetGroups": [{"TargetGroupArn": tgs[s], "Weight": 100 if s == live_slot
                                                           else 0} for s in config.SLOTS],
                                         "TargetGroupStickinessConfig": stickiness}}])["Listeners"][0]
    test = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], **protocol(config.TEST_LISTENER_PORT),
                                 Port=config.TEST_LISTENER_PORT, DefaultActions=[{
                                     "Type": "forward", "ForwardConfig": {
                                         "TargetGroups": [{"TargetGroupArn": tgs[idle_slot], "Weight": 100}],
                                         "TargetGroupStickinessConfig": stickiness}}])["Listeners"][0]
    out.update(prod_listener_arn=prod["ListenerArn"], test_listener_arn=test["ListenerArn"])

    for slot in config.SLOTS:
        ecs.create_service(
            serviceName="%s-%s" % (config.APP, slot), desiredCount=desired_count if slot == live_slot else 0,
            loadBalancers=[{"targetGroupArn": tgs[slot], "containerName": config.CONTAINER_NAME,
                            "containerPort": config.CONTAINER_PORT}],
            tags=[{"key": "app", "value": config.APP}, {"key": "slot", "value": slot}], **service_args)
    return out


def _target_group(elbv2, vpc, name, tags):
    """A target group of the app's tasks (health check /health, deregistration delay 5 s); its ARN."""
    arn = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=config.CONTAINER_PORT, VpcId=vpc, TargetType="ip",
                                    HealthCheckProtocol="HTTP", Matcher={"HttpCode": "200"}, Tags=tags,
                                    **HEALTH_CHECK)["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": str(DEREGISTRATION_DELAY_S)}])
    return arn


def main(argv=None):
    """Seed from a process of its own (the daemon starts it first thing): loading the botocore models here
    overlaps with the daemon importing moto, on the other core. Prints the seed's result as JSON."""
    import argparse
    import socket
    import sys
    import time
    parser = argparse.ArgumentParser(prog="python -m lab.seed")
    parser.add_argument("--endpoint", default=config.AWS_ENDPOINT)
    parser.add_argument("--wait", type=float, default=60.0, help="wait this long for the endpoint to listen")
    parser.add_argument("--shape", choices=config.SHAPES, default=config.SHAPE, help="the world's shape")
    args = parser.parse_args(argv)
    for service in SERVICES:
        client(service, args.endpoint)
    host, port = args.endpoint.rsplit("/", 1)[-1].rsplit(":", 1)
    deadline = time.time() + args.wait
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
            break
        except OSError:
            if time.time() > deadline:
                sys.stderr.write("endpoint %s did not listen within %.0f s\n" % (args.endpoint, args.wait))
                return 2
            time.sleep(0.05)
    sys.stdout.write(json.dumps(seed(args.endpoint, with_findings=False, shape=args.shape)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
