from ansible_collections.progressive.delivery.plugins.filter import input_checks as f


def test_filters_are_registered_and_feed_the_pure_functions():
    filters = f.FilterModule().filters()
    assert filters["deployment_input_problems"]({"image_tag": "v1", "image_tag_pattern": "v1", "execution_id": "42",
                                                 "lock_name": "/l"}) == []
    assert "ecs_validate_lock_name" in filters["deployment_input_problems"](
        {"image_tag": "v1", "image_tag_pattern": "v1", "execution_id": "42", "lock_name": "/aws/l"})[0]
    steps = [{"percent": 10, "watch_seconds": 300}, {"percent": 100, "watch_seconds": 600}]
    assert filters["lock_ttl"](steps) == 1500
    assert filters["lock_ttl"](steps, 1, 0, 900, 300, 0) == 1500 and filters["lock_ttl"](steps, 1, 0, 0, 0, 60) == 60
