"""The GPU health alerts of `obsagent rules` (XID errors, row remapping, NVLink): promtool checks
them and its unit tests fire each on the series the gpu collector serves, and only then; and
the alerts fire against the daemon's own scrape of the stand-in NVML (a real XID event, a link
taken down)."""

from __future__ import annotations

import re
import subprocess

from conftest import OBSAGENT, nvml_standin, peer, samples, scrape, start_daemon, stop_daemon, wait_for
from obsagent.rules import Thresholds, gpu_health_alerts, to_yaml

TARGET = {"job": "node", "instance": "host:9100"}
GPU = {**TARGET, "gpu": "0", "uuid": "GPU-1", "name": "NVIDIA H100"}


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{rendered}}}", "values": values}


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


def rendered(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)


def test_promtool_fires_each_gpu_health_alert_only_when_it_should(tmp_path):
    rules = subprocess.run([*OBSAGENT, "rules"], capture_output=True, text=True, check=True).stdout
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(rules)
    checked = subprocess.run([peer("promtool"), "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert set(CASES) == {alert.name for alert in gpu_health_alerts()}
    tests = []
    for alert in gpu_health_alerts():
        firing, quiet, labels = CASES[alert.name]
        rule = alert.rule(Thresholds().runbook_url)
        assert rule["expr"] in rules, f"{alert.name} is in the rules file"
        expected = {
            "exp_labels": {**labels, "severity": alert.severity},
            "exp_annotations": {key: rendered(value, labels) for key, value in rule["annotations"].items()},
        }
        for input_series, exp_alerts in [(firing, [expected]), (quiet, [])]:
            tests.append(
                {
                    "interval": "1m",
                    "input_series": input_series,
                    "alert_rule_test": [{"eval_time": "30m", "alertname": alert.name, "exp_alerts": exp_alerts}],
                }
            )
    unit = tmp_path / "unit.yml"
    unit.write_text(to_yaml({"rule_files": [rules_file.name], "evaluation_interval": "1m", "tests": tests}) + "\n")
    result = subprocess.run([peer("promtool"), "test", "rules", str(unit)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


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
