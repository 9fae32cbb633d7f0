# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Weighted forwarding of an ALB listener or rule: read, validate, compare, rebuild.

Pure functions, no AWS: the alb_weighted_shift module fetches and writes, these decide.
A forward config here is the normalised shape
``{"weights": {target_group_arn: weight}, "order": [arn, ...], "stickiness_duration": seconds}``
(``stickiness_duration`` 0 = group stickiness disabled).
"""

from fractions import Fraction

from ansible_collections.progressive.delivery.plugins.module_utils import arns

MAX_TARGET_GROUPS = 5
MAX_WEIGHT = 999
MAX_STICKINESS_SECONDS = 604800
# A forward without ForwardConfig sends everything to its one target group.
SINGLE_FORWARD_WEIGHT = 100


def _int_value(value):
    """value as an int when it is an integer (int, or a string of digits); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def parse_weights(raw):
    """Check `weights` as given ({target_group: weight}); return (weights with int values, errors)."""
    errors = []
    if not isinstance(raw, dict) or not raw:
        return {}, ["weights must map 1-%d target groups (names or ARNs) to integer weights 0-%d, got %r"
                    % (MAX_TARGET_GROUPS, MAX_WEIGHT, raw)]
    parsed = {}
    for name, value in raw.items():
        weight = _int_value(value)
        if weight is None or not 0 <= weight <= MAX_WEIGHT:
            errors.append("weight of target group %s must be an integer within 0-%d, got %r" % (name, MAX_WEIGHT, value))
            continue
        parsed[str(name)] = weight
    if len(raw) > MAX_TARGET_GROUPS:
        errors.append("a forward action takes at most %d target groups, got %d: %s"
                      % (MAX_TARGET_GROUPS, len(raw), sorted(raw)))
    if not errors and not any(parsed.values()):
        errors.append("at least one target group needs a weight above 0 (all of %s are 0: that would drop all traffic)"
                      % sorted(parsed))
    return parsed, errors


def percent_weights(live, candidate, candidate_percent):
    """{live: 100 - p, candidate: p} for a candidate share p in percent; (weights, errors)."""
    errors = []
    percent = _int_value(candidate_percent)
    if percent is None or not 0 <= percent <= 100:
        errors.append("candidate_percent must be an integer within 0-100, got %r" % (candidate_percent,))
    if live == candidate:
        errors.append("live_target_group and candidate_target_group must differ, both are %s" % live)
    if errors:
        return {}, errors
    return {live: 100 - percent, candidate: percent}, []


def check_stickiness(duration):
    """Errors of a stickiness duration (None / 0 = disabled, else 1-604800 seconds)."""
    if duration is None:
        return []
    value = _int_value(duration)
    if value is None or not 0 <= value <= MAX_STICKINESS_SECONDS:
        return ["stickiness_duration must be 0 (disabled) or 1-%d seconds, got %r" % (MAX_STICKINESS_SECONDS, duration)]
    return []


def forward_action_index(actions):
    """Index of the (only) forward action among a listener's or rule's actions, or None."""
    for index, action in enumerate(actions or []):
        if action.get("Type") == "forward":
            return index
    return None


def read_forward(actions):
    """The normalised forward config of a listener's or rule's actions (None when there is no forward action).

    A plain forward (``TargetGroupArn`` without ``ForwardConfig``) is 100 % to its target group.
    """
    index = forward_action_index(actions)
    if index is None:
        return None
    action = actions[index]
    config = action.get("ForwardConfig") or {}
    groups = config.get("TargetGroups") or []
    if groups:
        weights = dict((g["TargetGroupArn"], int(g.get("Weight", 1))) for g in groups)
        order = [g["TargetGroupArn"] for g in groups]
    elif action.get("TargetGroupArn"):
        weights = {action["TargetGroupArn"]: SINGLE_FORWARD_WEIGHT}
        order = [action["TargetGroupArn"]]
    else:
        weights, order = {}, []
    stickiness = config.get("TargetGroupStickinessConfig") or {}
    duration = int(stickiness.get("DurationSeconds") or 0) if stickiness.get("Enabled") else 0
    return dict(weights=weights, order=order, stickiness_duration=duration)


def forward_weights(actions):
    """{target_group_arn: weight} of the forward action among a listener's or rule's actions ({} without one);
    a plain forward (``TargetGroupArn`` without ``ForwardConfig``) is 100 to its target group."""
    return dict((read_forward(actions) or {}).get("weights") or {})


def desired_forward(weights_by_arn, order, stickiness_duration):
    """The normalised forward config to apply (order: target group ARNs as given)."""
    return dict(weights=dict(weights_by_arn), order=list(order), stickiness_duration=int(stickiness_duration or 0))


def shares(weights):
    """{arn: exact share of traffic} of the target groups with weight > 0."""
    total = sum(weights.values())
    if not total:
        return {}
    return dict((arn, Fraction(w, total)) for arn, w in weights.items() if w > 0)


def same_traffic(current, desired):
    """Whether two forward configs route traffic identically.

    Weights compare as shares (90/10 equals 9/1; a target group at 0 equals one left out) and the
    stickiness must match - so an equal request is never rewritten.
    """
    if current is None:
        return False
    return (shares(current["weights"]) == shares(desired["weights"])
            and current["stickiness_duration"] == desired["stickiness_duration"])


def applied(current, desired):
    """Whether the API shows exactly the weights and stickiness that were written (the read-back)."""
    if current is None:
        return False
    return current["weights"] == desired["weights"] and current["stickiness_duration"] == desired["stickiness_duration"]


def forward_config_api(config):
    """The API's ForwardConfig for a normalised config; stickiness is always sent so reads compare equal."""
    stickiness = {"Enabled": False}
    if config["stickiness_duration"]:
        stickiness = {"Enabled": True, "DurationSeconds": config["stickiness_duration"]}
    return {
        "TargetGroups": [{"TargetGroupArn": arn, "Weight": config["weights"][arn]} for arn in config["order"]],
        "TargetGroupStickinessConfig": stickiness,
    }


def rebuild_actions(actions, config):
    """The listener's or rule's actions with only the forward action's ForwardConfig replaced.

    Every other action keeps its place and fields. Fields the API returns but refuses back are
    adjusted: an OIDC authenticate action comes back without its client secret, so it is sent
    with UseExistingClientSecret; the forward action drops a TargetGroupArn (it conflicts with a
    ForwardConfig of several groups).
    """
    index = forward_action_index(actions)
    if index is None:
        raise ValueError("no forward action among %s" % [a.get("Type") for a in actions or []])
    rebuilt = []
    for position, action in enumerate(actions):
        action = dict(action)
        if position == index:
            action.pop("TargetGroupArn", None)
            action["ForwardConfig"] = forward_config_api(config)
        elif action.get("Type") == "authenticate-oidc":
            oidc = dict(action.get("AuthenticateOidcConfig") or {})
            if "ClientSecret" not in oidc:
                oidc["UseExistingClientSecret"] = True
            action["AuthenticateOidcConfig"] = oidc
        rebuilt.append(action)
    return rebuilt


def live_target_group(config):
    """ARN of the target group with the highest weight (the first such in order on a tie); None when empty."""
    best = None
    for arn in config["order"] or sorted(config["weights"]):
        if best is None or config["weights"][arn] > config["weights"][best]:
            best = arn
    return best


# `arn:...:targetgroup/<name>/<id>` -> `<name>`; a listener rule's ARN -> its listener's ARN.
target_group_name = arns.target_group_name
listener_arn_of_rule = arns.listener_arn_of_rule


def describe_config(config, names=None):
    """A forward config for output (snake_case, with names), reusable as the module's input.

    ``weights`` by ARN and ``stickiness_duration`` can be fed back as ``weights`` /
    ``stickiness_duration`` to restore it - the rollback artifact.
    """
    if config is None:
        return None
    names = names or {}
    return dict(
        target_groups=[dict(target_group_arn=arn, target_group_name=names.get(arn) or target_group_name(arn),
                            weight=config["weights"][arn]) for arn in config["order"]],
        weights=dict(config["weights"]),
        stickiness_duration=config["stickiness_duration"],
    )


def weights_by_name(config, names=None):
    names = names or {}
    return dict((names.get(arn) or target_group_name(arn), w) for arn, w in config["weights"].items())


def percentages_by_name(config, names=None):
    """Share of traffic per target group name, in percent (rounded to 0.01)."""
    names = names or {}
    total = sum(config["weights"].values())
    return dict((names.get(arn) or target_group_name(arn), round(100.0 * w / total, 2) if total else 0.0)
                for arn, w in config["weights"].items())


def gaining_groups(current, desired):
    """ARNs (desired order) of the target groups whose share of traffic the change raises: only they need healthy
    targets first (a group losing traffic, or keeping its share, is no worse off after the change)."""
    before = shares(current["weights"]) if current else {}
    after = shares(desired["weights"])
    return [arn for arn in desired["order"] if after.get(arn, 0) > before.get(arn, 0)]


def unhealthy_groups(arns, healthy_counts, minimum):
    """[(arn, healthy count)] of `arns` with fewer than `minimum` healthy targets."""
    if not minimum:
        return []
    return [(arn, healthy_counts.get(arn, 0)) for arn in arns if healthy_counts.get(arn, 0) < minimum]
