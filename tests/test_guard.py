"""The cardinality guard: past its series limit a metric's new label sets share one
`__overflow__` series, counted in `obsagent_series_dropped_total{metric}` with one warning; an
over-long label value is a ValueError; and memory stays bounded whatever the app does. The
limits are process-wide, so each case runs in a process of its own."""

from __future__ import annotations

import json
import re
import subprocess
import sys


def run(script: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_label_sets_past_the_limit_overflow_and_are_counted_with_one_warning():
    result = run(
        "import obsagent\n"
        "obsagent.set_series_limit(3)\n"
        "c = obsagent.Counter('logins', 'Logins.', ['user'])\n"
        "for user in 'abcdefg':\n"
        "    c.labels(user).inc()\n"
        "print(obsagent.generate_latest().decode())\n"
    )
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("logins_total")] == [
        'logins_total{user="a"} 1.0',
        'logins_total{user="b"} 1.0',
        'logins_total{user="c"} 1.0',
        'logins_total{user="__overflow__"} 4.0',
    ]
    assert 'obsagent_series_dropped_total{metric="logins"} 4.0' in lines
    warnings = [json.loads(line) for line in result.stderr.splitlines()]
    assert len(warnings) == 1 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", warnings[0].pop("ts")), warnings
    assert warnings == [
        {
            "level": "warn",
            "msg": "series limit reached",
            "collector": "cardinality",
            "detail": "logins has 3 series; new label sets go to __overflow__",
        }
    ]


def test_an_over_long_label_value_is_a_value_error_and_loses_nothing():
    result = run(
        "import obsagent\n"
        "obsagent.set_label_value_limit(16)\n"
        "g = obsagent.Gauge('paths', 'Paths.', ['path'])\n"
        "g.labels('/short').set(1)\n"
        "try:\n"
        "    g.labels('/' + 'x' * 40).set(2)\n"
        "except ValueError as err:\n"
        "    print('refused:', err)\n"
        "print(obsagent.generate_latest().decode())\n"
    )
    assert 'refused: label "path" of "paths" is 41 bytes long; the limit is 16' in result.stdout
    assert 'paths{path="/short"} 1.0\n' in result.stdout


def test_a_million_distinct_label_values_keep_memory_bounded():
    result = run(
        "import json, obsagent\n"
        "def rss():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS')) * 1024\n"
        "obsagent.set_series_limit(10_000)\n"
        "c = obsagent.Counter('events', 'Events.', ['session'])\n"
        "for i in range(20_000):\n"
        "    c.labels(str(i)).inc()\n"
        "before = rss()\n"
        "for i in range(20_000, 1_000_000):\n"
        "    c.labels(str(i)).inc()\n"
        "body = obsagent.generate_latest()\n"
        "print(json.dumps({'before': before, 'after': rss(), 'lines': body.count(b'events_total{')}))\n"
    )
    figures = json.loads(result.stdout)
    grown = figures["after"] - figures["before"]
    before = figures["before"] / 2**20
    print(f"RSS after 20,000 label values {before:.1f} MiB, after 1,000,000: +{grown / 2**20:.2f} MiB")
    assert figures["lines"] == 10_001, "the limit's series and the overflow one"
    assert grown < 8 * 2**20, f"RSS grew {grown} bytes past the series limit"
