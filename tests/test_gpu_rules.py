"""The GPU health alerts of `obsagent rules` (XID errors, row remapping, NVLink): promtool checks
them and its unit tests fire each on the series the gpu collector serves, and only then; and
the alerts fire against the daemon's own scrape of the stand-in NVML (a real XID event, a link
taken down)."""

from __future__ import annotations

import re
import subprocess

from conftest import (
    OBSAGENT,
    alert_unit_tests,
    check_rules,
    firing,
    nvml_standin,
    run_alert_unit_tests,
    samples,
    scrape,
    start_daemon,
    stop_daemon,
    wait_for,
)
from conftest import input_series as series
from obsagent.rules import Thresholds, gpu_health_alerts

TARGET = {"job": "node", "instance": "host:9100"}
GPU = {**TARGET, "gpu": "0", "uuid": "GPU-1", "name": "NVIDIA H100"}


XID = {**GPU, "xid": "79"}
LINK = {**GPU, "link": "2"}
LINK_ERRORS = {**LINK, "type": "crc_flit"}
# alert: (series that fire it at 30m, series that don't, the labels it fires with)
CASES = {
    # An XID's series starts at 1 at 25m: the first event fires too.
    "GPUXidError": (
        [series("nvidia_gpu_xid_errors_total", XID, "_x25 1x15")],
        [series("nvidia_gpu_xid_errors_total", XID, "1x40")],
        XID,
    ),
    "GPURowRemapFailed": (
        [series("nvidia_gpu_remapped_rows_failed", GPU, "0x20 1x20")],
        [series("nvidia_gpu_remapped_rows_failed", GPU, "0x40")],
        GPU,
    ),
    "GPURowRemapPending": (
        [series("nvidia_gpu_remapped_rows_pending", GPU, "0x5 1x35")],
        [series("nvidia_gpu_remapped_rows_pending", GPU, "0x20 1x20")],  # pending for only 10 minutes
        GPU,
    ),
    "GPUNVLinkDown": (
        [series("nvidia_gpu_nvlink_active", LINK, "1x20 0x20")],
        [series("nvidia_gpu_nvlink_active", LINK, "1x40")],
        LINK,
    ),
    "GPUNVLinkErrors": (
        [series("nvidia_gpu_nvlink_errors_total", LINK_ERRORS, "0x25 3x15")],
        [series("nvidia_gpu_nvlink_errors_total", LINK_ERRORS, "3x40")],
        LINK_ERRORS,
    ),
}


def test_promtool_fires_each_gpu_health_alert_only_when_it_should(tmp_path):
    rules = subprocess.run([*OBSAGENT, "rules"], capture_output=True, text=True, check=True).stdout
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(rules)
    check_rules(rules_file)
    assert set(CASES) == {alert.name for alert in gpu_health_alerts()}
    tests = []
    for alert in gpu_health_alerts():
        fires, quiet, labels = CASES[alert.name]
        rule = alert.rule(Thresholds().runbook_url)
        assert rule["expr"] in rules, f"{alert.name} is in the rules file"
        tests += alert_unit_tests(alert.name, [(fires, [firing(rule, labels)]), (quiet, [])])
    run_alert_unit_tests(rules_file, tests)


def test_the_alerts_name_what_the_collector_serves(tmp_path):
    """Every series the alerts read, with the labels they name, in a scrape of the stand-in."""
    events = tmp_path / "xids"
    events.write_text("0 79\n")
    library = nvml_standin(tmp_path / "lib", "two_gpus.txt", f"xid_events={events}\n")
    process, base = start_daemon(
        "--collector.disable-defaults",
        "--collector.gpu",
        f"--collector.gpu.nvml-library={library}",
        "--collector.gpu.interval=50ms",
    )
    try:
        scraped = wait_for(lambda: (s := samples(scrape(base))).get("nvidia_gpu_xid_errors_total") and s, 5)
    finally:
        stop_daemon(process)
    for alert in gpu_health_alerts():
        names = set(re.findall(r"nvidia_gpu_\w+", alert.expr))
        wanted = set(re.findall(r"\$labels\.(\w+)", alert.description)) - {"instance"}
        for name in names:
            assert scraped.get(name), f"{alert.name}: {name} is served"
            labels = {label for key in scraped[name] for label, _ in key}
            assert wanted <= labels, f"{alert.name}: {name} has {sorted(labels)}, the alert names {sorted(wanted)}"
