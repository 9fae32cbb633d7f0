"""A counter of changes to what the ALB data plane routes by: ELBv2 writes through the API, targets registered or
deregistered (by the API or by the lab's ECS scheduler), a target's health state changing, a reset. The data plane
(lab/alb.py) reads its routing snapshot through the API when the counter moved, and otherwise only now and then, so
an idle lab does not describe its load balancer every second.
"""
import threading

_lock = threading.Lock()
_count = [0]


def bump():
    with _lock:
        _count[0] += 1


def generation():
    return _count[0]
