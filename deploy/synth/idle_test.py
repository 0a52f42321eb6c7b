"""An idle deployment makes no wake-ups (ctest -R deploy.e2e.idle; issue 14): the pipeline
example's nodes (kernels with their HTTP exporters, UDP and serial links, and every group
process) answer one REST call, then stand idle for IDLE_SECONDS. Each process's context switches
(voluntary and involuntary, summed over its threads, from /proc/PID/task/TID/status) must grow by
at most one per idle second. A counter test, not a timing one: a loop that polls, ticks or spins
while idle makes hundreds of switches a second, one that sleeps until something happens makes
none.

Slack: SETTLE_SECONDS after the call let the last acknowledgements and retransmission timers of
the reliable datagram links, and the HTTP connection's close, run out before the first reading;
the bound allows IDLE_SECONDS switches per process on top of that (a timer left from the call, the
kernel scheduler moving a sleeping thread), which a periodic tick of 20 ms (500 a second) or a
spin would exceed a hundredfold."""

import os
import time
import unittest

from synth import e2e_test

IDLE_SECONDS = 10
SETTLE_SECONDS = 2


def descendants(pid):
    """`pid` and every process under it (/proc/PID/task/TID/children)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as file:
                    pending.extend(int(child) for child in file.read().split())
            except FileNotFoundError:
                pass
    return found


def context_switches(pid):
    """Voluntary plus involuntary context switches of every thread of `pid` (None: gone)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/status", encoding="ascii") as file:
                for line in file:
                    if line.startswith(("voluntary_ctxt_switches:",
                                        "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def process_name(pid):
    try:
        with open(f"/proc/{pid}/comm", encoding="ascii", errors="replace") as file:
            return file.read().strip()
    except FileNotFoundError:
        return "?"


class idle(e2e_test.running):
    directory = e2e_test.PIPELINE

    def test_an_idle_deployment_makes_no_wake_ups(self):
        self.session.start_all()
        average = self.session.http_url("aggregator") + "/average"
        granted = e2e_test.token("pipeline", "aggregator", ["average"])
        self.assertEqual(e2e_test.post(average, '{"count": 4}', granted),
                         (200, {"result": 21.25}))
        time.sleep(SETTLE_SECONDS)
        processes = {}
        for node, entry in self.session.nodes.items():
            for pid in descendants(entry.process.pid):
                processes[pid] = f"{node}/{process_name(pid)} (pid {pid})"
        # Every node: its kernel, its group image and its groups.
        self.assertGreaterEqual(len(processes), 2 * len(self.session.nodes))
        before = {pid: context_switches(pid) for pid in processes}
        time.sleep(IDLE_SECONDS)
        after = {pid: context_switches(pid) for pid in processes}
        report = []
        for pid, what in sorted(processes.items()):
            self.assertIsNotNone(after[pid], f"{what} exited while idle")
            report.append((what, after[pid] - before[pid]))
        print("\n".join(f"{what}: {switches} context switches in {IDLE_SECONDS} s"
                        for what, switches in report))
        busy = [f"{what}: {switches}" for what, switches in report if switches > IDLE_SECONDS]
        self.assertEqual(busy, [], "context switches over %d idle seconds:\n%s" % (
            IDLE_SECONDS, "\n".join(f"  {what}: {switches}" for what, switches in report)))


if __name__ == "__main__":
    unittest.main()
