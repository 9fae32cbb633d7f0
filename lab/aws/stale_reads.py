"""Eventual consistency, one case: after ModifyListener / ModifyRule the ELBv2 API may go on answering the old
actions for a moment, as AWS's does while a change propagates (issue 14, item 5).

Setting: LAB_STALE_READ_SECONDS (default 0: reads are fresh), or `POST /lab-api/stale-reads {"seconds": N}` at run
time. For N seconds after a change, DescribeListeners / DescribeRules return the listener's (rule's) actions as they
were before it, to every caller - the ALB data plane included, which reads through the API, so traffic follows the
old weights for that moment too.
"""
import copy
import threading
import time

from lab import config

_STATE = {"seconds": config.STALE_READ_SECONDS}
_STALE = {}                 # listener / rule ARN -> (actions before the change, stale until)
_LOCAL = threading.local()  # inside a modify call: the backend's own reads stay fresh


def set_seconds(seconds):
    _STATE["seconds"] = max(0.0, float(seconds))
    _STALE.clear()


def seconds():
    return _STATE["seconds"]


def reset():
    _STALE.clear()


def _stale_copy(item, attribute):
    entry = _STALE.get(item.arn)
    if not entry or getattr(_LOCAL, "modifying", False):
        return item
    before, until = entry
    if time.time() >= until:
        _STALE.pop(item.arn, None)
        return item
    shown = copy.copy(item)
    setattr(shown, attribute, before)
    return shown


def install():
    from moto.elbv2.models import ELBv2Backend
    if getattr(ELBv2Backend.modify_listener, "_lab_stale", False):
        return
    original_modify_listener = ELBv2Backend.modify_listener
    original_modify_rule = ELBv2Backend.modify_rule
    original_describe_listeners = ELBv2Backend.describe_listeners
    original_describe_rules = ELBv2Backend.describe_rules

    def _modify(original, attribute, find):
        def modify(self, arn, *args, **kwargs):
            _LOCAL.modifying = True
            try:
                before = None
                if seconds() > 0:
                    found = find(self, arn)
                    before = list(getattr(found, attribute)) if found is not None else None
                result = original(self, arn, *args, **kwargs)
            finally:
                _LOCAL.modifying = False
            if before is not None:
                _STALE[arn] = (before, time.time() + seconds())
            return result
        modify._lab_stale = True
        return modify

    def find_listener(backend, arn):
        for lb in backend.load_balancers.values():
            if arn in lb.listeners:
                return lb.listeners[arn]
        return None

    def find_rule(backend, arn):
        for lb in backend.load_balancers.values():
            for listener in lb.listeners.values():
                rules = listener.rules
                if arn in rules:
                    return rules[arn]
        return None

    def describe_listeners(self, *args, **kwargs):
        return [_stale_copy(item, "default_actions") for item in original_describe_listeners(self, *args, **kwargs)]

    def describe_rules(self, *args, **kwargs):
        return [_stale_copy(item, "actions") for item in original_describe_rules(self, *args, **kwargs)]

    ELBv2Backend.modify_listener = _modify(original_modify_listener, "default_actions", find_listener)
    ELBv2Backend.modify_rule = _modify(original_modify_rule, "actions", find_rule)
    ELBv2Backend.describe_listeners = describe_listeners
    ELBv2Backend.describe_rules = describe_rules
