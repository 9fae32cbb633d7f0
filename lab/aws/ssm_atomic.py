"""SSM parameter writes one at a time, as AWS makes them: PutParameter(Overwrite=false) creates a parameter once, so
of racing callers exactly one succeeds and the others get ParameterAlreadyExists. moto checks and inserts in two
Python steps and its server is threaded, so two racing creates can both succeed there (measured: 2 holders of the
deployment lock in 1 of ~40 rounds of 4 racers under load, CI of 2026-12-02). The deployment lock's one-holder
guarantee rests on that create-once, so the lab serialises SSM's writes and deletes per backend.
"""
import functools
import threading

_LOCK = threading.RLock()


def install():
    from moto.ssm.models import SimpleSystemManagerBackend
    if getattr(SimpleSystemManagerBackend.put_parameter, "_lab_atomic", False):
        return
    for name in ("put_parameter", "delete_parameter", "delete_parameters", "label_parameter_version"):
        original = getattr(SimpleSystemManagerBackend, name, None)
        if original is None:
            continue

        def serialised(self, *args, _original=original, **kwargs):
            with _LOCK:
                return _original(self, *args, **kwargs)
        functools.update_wrapper(serialised, original)
        serialised._lab_atomic = True
        setattr(SimpleSystemManagerBackend, name, serialised)
