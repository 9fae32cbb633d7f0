"""IAM enforced in the lab: every AWS request signed with the lab deployer's access key is authorized against the
deployer's identity policies, as AWS would, before moto serves it.

The deployer is IAM user `progressive-deployer` (fixed keys below, the lab inventory's aws_access_key /
aws_secret_key) whose only policy is docs' least-privilege policy rendered for inventories/lab
(tools/render_iam_policy.py --inventory inventories/lab). Requests with any other key (the lab's seeding, the
tests' admin clients, the ALB data plane, the task runner) are not checked, like an administrator's.

Setting: LAB_IAM_ENFORCE (default 1; 0 lets the deployer do anything, as before). Denials go to the caller as
AWS's error (`AccessDeniedException` for JSON protocols, `AccessDenied` for query ones, HTTP 403, the message naming
the action and resource) and to STATE_DIR/iam-denied.jsonl.

This is the lab's own check (lab/aws/iam_policy.py's evaluation), not moto's INITIAL_NO_AUTH_ACTION_COUNT: moto's
authorizer checks every action on Resource "*" (so any statement scoped to an ARN never matches), turns on for every
caller at once (the seeding and the data plane included), and does not know implied actions such as iam:PassRole.

What it covers: Allow / Deny, Action / NotAction, Resource / NotResource wildcards of the user's inline and attached
policies (and its groups'); the resource ARN(s) of each action the collection calls, from the request's parameters
(RESOURCES below); iam:PassRole implied by ecs:RegisterTaskDefinition's task and execution roles with
iam:PassedToService=ecs-tasks.amazonaws.com; conditions with the operators StringEquals/StringLike/ArnEquals/ArnLike
(and their Not forms) on the keys the lab knows (iam:PassedToService, ecs:cluster), any other condition fails.
Not covered: S3 (its own request path in moto), resource-based policies, permission boundaries, SCPs, session
policies, tag conditions (aws:ResourceTag, ...), assumed-role sessions; an action missing from RESOURCES is checked
on "*" (so a statement scoped to an ARN denies it - add the action to RESOURCES).
"""
import json
import logging
import re
import threading
import time

from lab import config

LOG = logging.getLogger("lab.iam")

DEPLOYER_USER = "progressive-deployer"
DEPLOYER_POLICY = "progressive-delivery"
DEPLOYER_ACCESS_KEY = "AKIAPDLABDEPLOYER001"
DEPLOYER_SECRET_KEY = "pd-lab-deployer-secret-2c9f71e04ab36d58"
ACCESS_KEY = re.compile(r"Credential=([^/\s,]+)/")
# IAM prefix of a service whose signing name differs.
IAM_PREFIX = {"monitoring": "cloudwatch"}
JSON_PROTOCOLS = ("json", "rest-json", "smithy-rpc-v2-cbor")

_STATE = {"enforce": config.IAM_ENFORCE, "lock": threading.Lock()}


def enforcing():
    return _STATE["enforce"]


def set_enforcing(value):
    _STATE["enforce"] = bool(value)


# ----------------------------------------------------------------- resources of a request (pure, unit-tested)

def _name(value):
    """The last path part of a name-or-ARN."""
    return str(value).rsplit("/", 1)[-1] if value else value


def _cluster(params):
    return _name(params.get("cluster") or "default")


def _ecs_arn(ctx, kind, *parts):
    return "arn:%s:ecs:%s:%s:%s/%s" % (ctx["partition"], ctx["region"], ctx["account"], kind, "/".join(parts))


def _services(params, ctx, key):
    cluster = _cluster(params)
    values = params.get(key)
    values = values if isinstance(values, list) else [values]
    return [v if str(v).startswith("arn:") else _ecs_arn(ctx, "service", cluster, v) for v in values if v]


def _tasks(params, ctx):
    cluster = _cluster(params)
    return [t if str(t).startswith("arn:") else _ecs_arn(ctx, "task", cluster, t) for t in params.get("tasks") or []]


def _elb(ctx, kind, rest):
    return "arn:%s:elasticloadbalancing:%s:%s:%s/%s" % (ctx["partition"], ctx["region"], ctx["account"], kind, rest)


def _parameter(ctx, name):
    name = str(name)
    if name.startswith("arn:"):
        return name
    return "arn:%s:ssm:%s:%s:parameter%s" % (ctx["partition"], ctx["region"], ctx["account"],
                                             name if name.startswith("/") else "/" + name)


def _repository(params, ctx):
    return "arn:%s:ecr:%s:%s:repository/%s" % (ctx["partition"], ctx["region"], params.get("registryId") or ctx["account"],
                                               params.get("repositoryName"))


def _role(ctx, name):
    name = str(name)
    return name if name.startswith("arn:") else "arn:%s:iam::%s:role/%s" % (ctx["partition"], ctx["account"], name)


def _log_group(params, ctx):
    return "arn:%s:logs:%s:%s:log-group:%s:log-stream:%s" % (ctx["partition"], ctx["region"], ctx["account"],
                                                             params.get("logGroupName"), params.get("logStreamName") or "")


def _secret(params, ctx):
    secret = str(params.get("SecretId"))
    if secret.startswith("arn:"):
        return secret
    return "arn:%s:secretsmanager:%s:%s:secret:%s" % (ctx["partition"], ctx["region"], ctx["account"], secret)


def _target_group_create(params, ctx):
    return _elb(ctx, "targetgroup", "%s/*" % params.get("Name"))


def _listener_of(load_balancer_arn):
    return str(load_balancer_arn).replace(":loadbalancer/", ":listener/") + "/*"


# action -> f(params, ctx) -> [resource ARN]; "*" for actions AWS gives no resource type.
STAR = lambda params, ctx: ["*"]  # noqa: E731
RESOURCES = {
    "sts:GetCallerIdentity": STAR,
    "sts:AssumeRole": lambda p, c: [p.get("RoleArn")],
    "iam:GetRole": lambda p, c: [_role(c, p.get("RoleName"))],
    "iam:SimulatePrincipalPolicy": lambda p, c: [p.get("PolicySourceArn")],
    "iam:ListAccountAliases": STAR,
    "ecr:DescribeImages": lambda p, c: [_repository(p, c)],
    "ecr:BatchGetImage": lambda p, c: [_repository(p, c)],
    "ecr:DescribeImageScanFindings": lambda p, c: [_repository(p, c)],
    "ecr:StartImageScan": lambda p, c: [_repository(p, c)],
    "ecr:GetAuthorizationToken": STAR,
    "ecs:DescribeTaskDefinition": STAR,
    "ecs:RegisterTaskDefinition": STAR,
    "ecs:ListTaskDefinitions": STAR,
    "ecs:DeregisterTaskDefinition": STAR,
    "ecs:DescribeServices": lambda p, c: _services(p, c, "services"),
    "ecs:UpdateService": lambda p, c: _services(p, c, "service"),
    "ecs:CreateService": lambda p, c: _services(p, c, "serviceName"),
    "ecs:DeleteService": lambda p, c: _services(p, c, "service"),
    "ecs:TagResource": lambda p, c: [p.get("resourceArn")],
    "ecs:UntagResource": lambda p, c: [p.get("resourceArn")],
    "ecs:ListTagsForResource": lambda p, c: [p.get("resourceArn")],
    "ecs:ListTasks": STAR,
    "ecs:DescribeTasks": _tasks,
    "ecs:DescribeClusters": lambda p, c: [_ecs_arn(c, "cluster", _name(x)) for x in p.get("clusters") or ["default"]],
    "ecs:DescribeContainerInstances": lambda p, c: [
        x if str(x).startswith("arn:") else _ecs_arn(c, "container-instance", _cluster(p), x)
        for x in p.get("containerInstances") or []],
    "elasticloadbalancing:ModifyListener": lambda p, c: [p.get("ListenerArn")],
    "elasticloadbalancing:CreateListener": lambda p, c: [_listener_of(p.get("LoadBalancerArn"))],
    "elasticloadbalancing:ModifyRule": lambda p, c: [p.get("RuleArn")],
    "elasticloadbalancing:ModifyTargetGroup": lambda p, c: [p.get("TargetGroupArn")],
    "elasticloadbalancing:ModifyTargetGroupAttributes": lambda p, c: [p.get("TargetGroupArn")],
    "elasticloadbalancing:RegisterTargets": lambda p, c: [p.get("TargetGroupArn")],
    "elasticloadbalancing:DeregisterTargets": lambda p, c: [p.get("TargetGroupArn")],
    "elasticloadbalancing:CreateTargetGroup": lambda p, c: [_target_group_create(p, c)],
    "elasticloadbalancing:AddTags": lambda p, c: list(p.get("ResourceArns") or []),
    "elasticloadbalancing:RemoveTags": lambda p, c: list(p.get("ResourceArns") or []),
    "cloudwatch:GetMetricData": STAR,
    "cloudwatch:GetMetricStatistics": STAR,
    "ssm:GetParameter": lambda p, c: [_parameter(c, p.get("Name"))],
    "ssm:PutParameter": lambda p, c: [_parameter(c, p.get("Name"))],
    "ssm:DeleteParameter": lambda p, c: [_parameter(c, p.get("Name"))],
    "ssm:GetParameters": lambda p, c: [_parameter(c, n) for n in p.get("Names") or []],
    "ssm:LabelParameterVersion": lambda p, c: [_parameter(c, p.get("Name"))],
    "ssm:GetParameterHistory": lambda p, c: [_parameter(c, p.get("Name"))],
    "ssm:AddTagsToResource": lambda p, c: [_parameter(c, p.get("ResourceId"))],
    "ssm:DescribeParameters": STAR,
    "secretsmanager:DescribeSecret": lambda p, c: [_secret(p, c)],
    "logs:CreateLogStream": lambda p, c: [_log_group(p, c)],
    "logs:PutLogEvents": lambda p, c: [_log_group(p, c)],
    "servicequotas:GetServiceQuota": lambda p, c: ["arn:%s:servicequotas:%s:%s:%s/%s" % (
        c["partition"], c["region"], c["account"], p.get("ServiceCode"), p.get("QuotaCode"))],
}


def request_checks(action, params, ctx):
    """[(action, resource, context)] the request needs allowed: the action on each of its resources, plus the
    actions it implies (iam:PassRole of the roles a task definition names)."""
    derive = RESOURCES.get(action, STAR)
    try:
        resources = [r for r in derive(params, ctx) if r] or ["*"]
    except Exception:           # parameters not as expected: AWS would check the ARN it resolved; the lab cannot
        resources = ["*"]
    context = {}
    if action == "ecs:ListTasks":
        context["ecs:cluster"] = _ecs_arn(ctx, "cluster", _cluster(params))
    checks = [(action, r, context) for r in resources]
    if action == "ecs:RegisterTaskDefinition":
        for key in ("taskRoleArn", "executionRoleArn"):
            if params.get(key):
                checks.append(("iam:PassRole", _role(ctx, params[key]), {"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
    return checks


# ----------------------------------------------------------------- conditions (the keys the lab knows)

def _condition_holds(operator, key, expected, context):
    base = operator.replace("IfExists", "")
    negate = base.startswith(("StringNot", "ArnNot"))
    if key not in context:
        return operator.endswith("IfExists") or negate
    from lab.aws.iam_policy import wildcard_match
    values = expected if isinstance(expected, list) else [expected]
    actual = context[key]
    if base in ("StringEquals", "ArnEquals", "StringNotEquals", "ArnNotEquals"):
        hit = actual in values
    elif base in ("StringLike", "ArnLike", "StringNotLike", "ArnNotLike"):
        hit = any(wildcard_match(v, actual) for v in values)
    else:
        return False            # an operator the lab does not evaluate never holds
    return not hit if negate else hit


def conditions_hold(condition, context):
    """Every operator/key of a statement's Condition holds for `context` ({key: value})."""
    for operator, pairs in (condition or {}).items():
        for key, expected in pairs.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


def decide(policies, action, resource, context):
    """(decision, matched statement sids) of one action on one resource: explicitDeny, allowed or implicitDeny."""
    from lab.aws.iam_policy import _matches_action, _matches_resource, statements
    allows, denies = [], []
    for policy in policies:
        for statement in statements(policy["document"]):
            if not (_matches_action(statement, action) and _matches_resource(statement, resource)):
                continue
            if not conditions_hold(statement.get("Condition"), context):
                continue
            (denies if statement.get("Effect") == "Deny" else allows).append(statement.get("Sid") or policy["id"])
    if denies:
        return "explicitDeny", denies
    if allows:
        return "allowed", allows
    return "implicitDeny", []


# ----------------------------------------------------------------- in the daemon: the deployer and the hook

def iam_backend():
    from moto.iam.models import iam_backends
    return iam_backends[config.ACCOUNT_ID]["aws"]


def lab_policy_document():
    """docs' policy rendered for inventories/lab."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("render_iam_policy", str(config.REPO / "tools" / "render_iam_policy.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return json.loads(module.render(inventory=str(config.REPO / "inventories" / "lab")))


def create_deployer(document=None):
    """User progressive-deployer with the lab's policy as its only permission, and the inventory's fixed keys."""
    backend = iam_backend()
    document = document or lab_policy_document()
    try:
        backend.get_user(DEPLOYER_USER)
    except Exception:
        backend.create_user(region_name=config.REGION, user_name=DEPLOYER_USER, path="/", tags=[])
    backend.put_user_policy(DEPLOYER_USER, DEPLOYER_POLICY, json.dumps(document))
    user = backend.get_user(DEPLOYER_USER)
    if not any(k.access_key_id == DEPLOYER_ACCESS_KEY for k in user.access_keys):
        key = backend.create_access_key(DEPLOYER_USER)       # moto makes random keys: give it the inventory's
        backend.access_keys.pop(key.physical_resource_id, None)
        key.access_key_id = DEPLOYER_ACCESS_KEY
        key.secret_access_key = DEPLOYER_SECRET_KEY
        backend.access_keys[key.physical_resource_id] = key
    return user.arn


def _deployer_policies():
    from lab.aws.iam_simulate import principal_policies
    return principal_policies(iam_backend(), "arn:aws:iam::%s:user/%s" % (config.ACCOUNT_ID, DEPLOYER_USER))


def _request_params(response):
    """The request's parameters, whatever its protocol (JSON body, or query / form fields)."""
    body = response.body
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            body = None
    if isinstance(body, str) and body.strip().startswith("{"):
        try:
            return json.loads(body)
        except ValueError:
            pass
    try:
        return response._get_params()
    except Exception:
        return {}


def _log_denial(record):
    try:
        path = config.STATE_DIR / "iam-denied.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with _STATE["lock"], path.open("a") as f:
            f.write(json.dumps(record) + "\n")
    except OSError:
        pass


def check_request(response):
    """None when the request may proceed, else (code, message) of the denial."""
    if not enforcing():
        return None
    match = ACCESS_KEY.search(response.headers.get("Authorization", "") or "")
    if not match or match.group(1) != DEPLOYER_ACCESS_KEY:
        return None
    from moto.core.responses import get_service_model
    service_model = get_service_model(response.boto3_service_name)
    prefix = IAM_PREFIX.get(service_model.signing_name, service_model.signing_name)
    action = "%s:%s" % (prefix, response._get_action())
    if action == "sts:GetCallerIdentity":      # AWS answers it whatever the policies say
        return None
    ctx = {"partition": "aws", "region": getattr(response, "region", None) or config.REGION, "account": config.ACCOUNT_ID}
    params = _request_params(response)
    policies = _deployer_policies()
    user_arn = "arn:aws:iam::%s:user/%s" % (config.ACCOUNT_ID, DEPLOYER_USER)
    for needed, resource, context in request_checks(action, params, ctx):
        decision, dummy = decide(policies, needed, resource, context)
        if decision != "allowed":
            why = "with an explicit deny in an identity-based policy" if decision == "explicitDeny" else \
                "because no identity-based policy allows the %s action" % needed
            message = "User: %s is not authorized to perform: %s on resource: %s %s" % (user_arn, needed, resource, why)
            _log_denial({"t": round(time.time(), 3), "action": needed, "request": action, "resource": resource,
                         "decision": decision, "derived": action in RESOURCES})
            LOG.info("denied: %s", message)
            code = "AccessDeniedException" if service_model.protocol in JSON_PROTOCOLS else "AccessDenied"
            return code, message
    return None


def install():
    """Authorize every request of the deployer's key before moto dispatches it (BaseResponse.call_action)."""
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult, BaseResponse

    original = BaseResponse.call_action
    if getattr(original, "_lab_iam", False):
        return

    class AccessDenied(ServiceException):
        pass

    def call_action(self):
        try:
            denied = check_request(self)
        except Exception as e:
            LOG.exception("IAM check failed; the request is served unchecked")
            _log_denial({"t": round(time.time(), 3), "error": "%s: %s" % (type(e).__name__, e)})
            denied = None
        if denied is None:
            return original(self)
        error = AccessDenied(denied[0], denied[1])
        status, headers, body = self.serialized(ActionResult(error))
        headers, body = self._enrich_response(headers, body)
        return 403, headers, body

    call_action._lab_iam = True
    BaseResponse.call_action = call_action
