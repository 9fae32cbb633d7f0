# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parts of the lab benchmarks: scale.py's batch plan and reading, time_to_rollback.py's summary."""

import pytest
from ansible.utils.helpers import pct_to_int

from bench import scale
from bench import time_to_rollback as ttr


def ansible_batches(hosts, serial):
    """The batch sizes ansible-playbook makes for `serial` (PlaybookExecutor._get_serialized_batches' rule)."""
    size = pct_to_int(serial, hosts)
    size = hosts if size <= 0 else size
    out, left = [], hosts
    while left > 0:
        out.append(min(size, left))
        left -= out[-1]
    return out


@pytest.mark.parametrize("hosts", [1, 3, 5, 7, 20, 50])
@pytest.mark.parametrize("serial", ["1", "5", "10", "25%", "30%", "100%"])
def test_batch_plan_is_ansibles(hosts, serial):
    assert scale.batch_sizes(hosts, serial) == ansible_batches(hosts, serial)


@pytest.mark.parametrize("hosts, serial, batches", [
    (5, "5", [5]), (5, "10", [5]), (5, "25%", [1, 1, 1, 1, 1]), (20, "25%", [5, 5, 5, 5]),
    (50, "25%", [12, 12, 12, 12, 2]), (50, "10", [10] * 5), (7, "0", [7]),
])
def test_batch_plan_examples(hosts, serial, batches):
    assert scale.batch_sizes(hosts, serial) == batches


def test_scale_reading_says_what_each_batch_size_took():
    doc = {"ecs": [{"services": 1, "rc": 0, "apps_at_100_on_candidate": 1, "wall_s": 60.0, "api_calls_per_service": 72.0},
                   {"services": 5, "rc": 0, "apps_at_100_on_candidate": 4, "wall_s": 90.0, "api_calls_per_service": 72.0}],
           "vm": [{"hosts": 20, "serial": "5", "rc": 0, "hosts_ok": 20, "wall_s": 400.0},
                  {"hosts": 5, "serial": "5", "rc": 0, "hosts_ok": 5, "wall_s": 100.0},
                  {"hosts": 50, "serial": "10", "rc": 2, "hosts_ok": 49, "wall_s": 600.0}]}
    lines = scale.reading(doc)
    assert lines[0] == ("- ECS: 1 service 60 s (1.0x the time of 1), 5 services 90 s (1.5x the time of 1); API calls per "
                        "service 72; NOT every service reached 100 % on its candidate.")
    assert "- VM at batch size 10: 50 hosts 600 s (5 batches, 120 s each); NOT every host ok." in lines
    assert ("- VM at batch size 5: 5 hosts 100 s (1 batch, 100 s each), 20 hosts 400 s (4 batches, 100 s each); "
            "every host ok.") in lines


def test_time_to_rollback_summary_per_rate():
    runs = [{"rps": 200.0, "seconds_to_rollback": s, "periods_to_rollback": s / 5.0, "rolled_back": True,
             "failed_requests_seen": 3, "candidate_requests": 100, "timeline": []} for s in (9.0, 11.0, 8.0)]
    s = ttr.summarize(runs, 5)
    assert (s["rps"], s["measured"], s["seconds_median"], s["periods_median"], s["within_target"]) == (200.0, 3, 9.0, 1.8, 2)
    assert ttr.summarize([{"rps": 50.0, "error": "x"}], 5) == {"rps": 50.0, "runs": 1, "measured": 0}


def test_vm_host_cost_summary_takes_the_median_per_variant_and_run_kind():
    from bench import vm_host_cost
    rows = [dict(variant=v, kind="fresh", rc=0, hosts=4, wall_s=w, tasks_per_host=t, controller_cpu_s_per_host=c,
                 host_cpu_s_per_host=h, cpu_s_per_host=c + h, controller_rusage_children_s=1.0)
            for v, w, t, c, h in [("before", 90, 65, 7.0, 11.0), ("before", 80, 65, 9.0, 13.0),
                                  ("before", 85, 65, 8.0, 12.0), ("after", 50, 22, 4.5, 3.3)]]
    summary = {s["variant"]: s for s in vm_host_cost.summarize(rows)}
    assert summary["before"]["runs"] == 3 and summary["before"]["cpu_s_per_host"] == 20.0
    assert summary["after"]["ok"] and summary["after"]["tasks_per_host"] == 22
    doc = {"meta": {"date": "d", "machine": {"cpu": "x", "nproc": 2}, "load_start": [1], "load_end": [2],
                    "hosts": 4, "serial": "2", "forks": 5}, "summary": vm_host_cost.summarize(rows)}
    assert "| after | fresh | 22 | 50 | 4.5 | 3.3 | **7.8** | yes |" in vm_host_cost.render_markdown(doc)
