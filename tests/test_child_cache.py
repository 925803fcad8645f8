"""`labels()` keeps the most recently used children in a small cache keyed by the argument
strings; these tests pin down that the cache never changes what is counted."""

from __future__ import annotations

import obsagent


def test_equal_strings_that_are_different_objects_find_the_same_child(registry):
    counter = obsagent.Counter("cache_hits", "Hits.", ["method", "path"], registry=registry)
    counter.labels("GET", "/a").inc()
    method, path = "".join(["G", "ET"]), "/" + "a"
    assert method is not "GET"  # noqa: F632 - the point is that they are distinct objects
    counter.labels(method, path).inc()
    counter.labels(method="GET", path="/a").inc()
    assert registry.get_sample_value("cache_hits_total", {"method": "GET", "path": "/a"}) == 3


def test_remove_and_clear_are_not_hidden_by_the_cache(registry):
    counter = obsagent.Counter("cache_removed", "Removed.", ["k"], registry=registry)
    old = counter.labels("x")
    old.inc(5)
    counter.remove("x")
    assert registry.get_sample_value("cache_removed_total", {"k": "x"}) is None
    fresh = counter.labels("x")
    assert fresh is not old
    fresh.inc()
    old.inc(100)  # the removed child still works but is no longer exported
    assert registry.get_sample_value("cache_removed_total", {"k": "x"}) == 1
    counter.clear()
    counter.labels("x").inc(2)
    assert registry.get_sample_value("cache_removed_total", {"k": "x"}) == 2


def test_many_label_sets_cycling_through_the_cache_stay_exact(registry):
    counter = obsagent.Counter("cache_many", "Many.", ["k"], registry=registry)
    keys = [f"key{i}" for i in range(500)]
    for _ in range(3):
        for i, key in enumerate(keys):
            counter.labels(key).inc(i)
    assert all(registry.get_sample_value("cache_many_total", {"k": key}) == 3 * i for i, key in enumerate(keys))


def test_non_string_values_are_converted_and_cached_alike(registry):
    counter = obsagent.Counter("cache_status", "Status.", ["code"], registry=registry)
    counter.labels(200).inc()
    counter.labels("200").inc()
    counter.labels(code=200).inc()
    assert registry.get_sample_value("cache_status_total", {"code": "200"}) == 3
