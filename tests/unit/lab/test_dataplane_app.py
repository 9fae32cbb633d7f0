"""The sample app's behaviour lookup and per-request draw (no sockets)."""
import json
import random

import pytest

from lab.app import server


def test_behaviour_from_the_catalogue_by_tag(tmp_path):
    assert server.load_behaviour("v1.2.4-errors", env={}, here=tmp_path) == {
        "error_rate": 0.05, "extra_latency_ms": 0.0, "health": "ok"}
    assert server.load_behaviour("v1.2.4-slow", env={}, here=tmp_path)["extra_latency_ms"] == 200.0
    assert server.load_behaviour("v1.2.4-unhealthy", env={}, here=tmp_path)["health"] == "fail"


def test_unknown_tag_is_healthy(tmp_path):
    assert server.load_behaviour("v9.9.9", env={}, here=tmp_path) == server.HEALTHY


def test_baked_behaviour_json_beats_the_catalogue_and_env_beats_both(tmp_path):
    (tmp_path / "behaviour.json").write_text(json.dumps({"health": "fail"}))
    assert server.load_behaviour("v1.2.4-slow", env={}, here=tmp_path) == {
        "error_rate": 0.0, "extra_latency_ms": 0.0, "health": "fail"}
    env = {"LAB_BEHAVIOUR": json.dumps({"error_rate": 0.5})}
    assert server.load_behaviour("v1.2.4-slow", env=env, here=tmp_path)["error_rate"] == 0.5
    assert server.load_behaviour("v1.2.4-slow", env=env, here=tmp_path)["health"] == "ok"


def test_bad_health_value_is_refused(tmp_path):
    with pytest.raises(ValueError):
        server.load_behaviour("x", env={"LAB_BEHAVIOUR": json.dumps({"health": "maybe"})}, here=tmp_path)


def test_draw_injects_errors_at_the_rate_and_adds_latency():
    state = server.AppState("t", "t", {"error_rate": 0.05, "extra_latency_ms": 200.0, "health": "ok"},
                            rng=random.Random(7))
    draws = [state.draw() for _ in range(4000)]
    errors = sum(1 for _, fail in draws if fail)
    assert 150 <= errors <= 250
    low, high = server.BASE_LATENCY_MS
    assert all((200 + low) / 1000 <= delay <= (200 + high) / 1000 for delay, _ in draws)
    assert state.served == 4000
    healthy = server.AppState("t", "t", dict(server.HEALTHY), rng=random.Random(7))
    assert not any(healthy.draw()[1] for _ in range(1000))


def test_status_reports_version_tag_and_task_without_secrets(monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", "hunter2-secret")
    state = server.state_from_env({"LAB_IMAGE_TAG": "v1.2.3", "VERSION": "1.2.3", "ECS_TASK_ARN": "arn:task/1",
                                   "LAB_BEHAVIOUR": "{}"})
    status = state.status()
    assert (status["version"], status["tag"], status["task_arn"]) == ("1.2.3", "v1.2.3", "arn:task/1")
    assert "hunter2" not in json.dumps(status)
