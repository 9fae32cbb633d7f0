"""ModifyListener checks its default actions as AWS does: a forward to a target group that does not exist is refused
(TargetGroupNotFound) and the listener is left as it was. moto checks the actions of CreateListener, CreateRule and
ModifyRule, but not of ModifyListener ("Is currently not validated"), so a module could write a listener that
forwards nowhere and never hear of it in the lab."""


def install():
    from moto.elbv2.models import ELBv2Backend, FakeAction
    if getattr(ELBv2Backend.modify_listener, "_lab_checked", False):
        return
    original = ELBv2Backend.modify_listener

    def modify_listener(self, arn, *args, **kwargs):
        actions = kwargs.get("actions") if "actions" in kwargs else (args[4] if len(args) > 4 else None)
        if actions:
            self._validate_actions([FakeAction(action) for action in actions])
        return original(self, arn, *args, **kwargs)

    modify_listener._lab_checked = True
    ELBv2Backend.modify_listener = modify_listener
