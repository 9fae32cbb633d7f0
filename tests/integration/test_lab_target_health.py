"""ELBv2 target health in the lab follows real HTTP health checks: initial -> healthy / unhealthy, draining."""
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from test_lab_ecs import wait_for

pytestmark = pytest.mark.lab


class _Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.paths.append(self.path)
        self.send_response(self.server.code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    """A tiny HTTP server on its own loopback address whose health answer the test controls."""
    server = ThreadingHTTPServer(("127.2.0.%d" % (10 + uuid.uuid4().int % 200), 0), _Health)
    server.code, server.paths = 200, []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def target_group(lab):
    elbv2 = lab.client("elbv2")
    vpc = elbv2.describe_target_groups(Names=["myapp-a"])["TargetGroups"][0]["VpcId"]
    arn = elbv2.create_target_group(
        Name="lt-hc-%s" % uuid.uuid4().hex[:8], Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
        HealthCheckPath="/ready", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2, UnhealthyThresholdCount=2, Matcher={"HttpCode": "200-299"},
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "3"}])
    yield elbv2, arn
    elbv2.delete_target_group(TargetGroupArn=arn)


def health(elbv2, arn, **kw):
    return elbv2.describe_target_health(TargetGroupArn=arn, **kw)["TargetHealthDescriptions"]


def state_of(elbv2, arn, target_id):
    found = [h["TargetHealth"] for h in health(elbv2, arn) if h["Target"]["Id"] == target_id]
    return found[0] if found else None


def test_initial_then_healthy_then_unhealthy_by_real_checks(lab, backend, target_group):
    elbv2, arn = target_group
    address, port = backend.server_address
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": address, "Port": port}])
    first = state_of(elbv2, arn, address)
    assert first == {"State": "initial", "Reason": "Elb.RegistrationInProgress",
                     "Description": "Target registration is in progress"}
    wait_for(lambda: state_of(elbv2, arn, address)["State"] == "healthy", 20, what="healthy")
    assert backend.paths and set(backend.paths) == {"/ready"}
    [described] = health(elbv2, arn)
    assert described["Target"] == {"Id": address, "Port": port}
    backend.code = 503
    unhealthy = wait_for(lambda: (lambda s: s if s["State"] == "unhealthy" else None)(state_of(elbv2, arn, address)),
                         20, what="unhealthy")
    assert unhealthy["Reason"] == "Target.ResponseCodeMismatch"
    assert unhealthy["Description"] == "Health checks failed with these codes: [503]"
    backend.code = 204    # inside the 200-299 matcher
    wait_for(lambda: state_of(elbv2, arn, address)["State"] == "healthy", 20, what="healthy again")


def test_nothing_listening_is_unhealthy(lab, target_group):
    elbv2, arn = target_group
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "127.2.1.250", "Port": 9}])
    unhealthy = wait_for(lambda: (lambda s: s if s["State"] == "unhealthy" else None)(
        state_of(elbv2, arn, "127.2.1.250")), 20, what="unhealthy")
    assert unhealthy["Reason"] == "Target.FailedHealthChecks"


def test_draining_for_the_deregistration_delay_then_gone(lab, backend, target_group):
    elbv2, arn = target_group
    address, port = backend.server_address
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": address, "Port": port}])
    wait_for(lambda: state_of(elbv2, arn, address)["State"] == "healthy", 20, what="healthy")
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": address, "Port": port}])
    deregistered = time.time()
    assert state_of(elbv2, arn, address) == {"State": "draining", "Reason": "Target.DeregistrationInProgress",
                                             "Description": "Target deregistration is in progress"}
    assert health(elbv2, arn, Targets=[{"Id": address, "Port": port}])[0]["TargetHealth"]["State"] == "draining"
    wait_for(lambda: state_of(elbv2, arn, address) is None, 10, interval=0.2, what="draining to end")
    assert 2.5 <= time.time() - deregistered <= 6
    after = health(elbv2, arn, Targets=[{"Id": address, "Port": port}])[0]["TargetHealth"]
    assert after["State"] == "unused" and after["Reason"] == "Target.NotRegistered"
