#!/usr/bin/env python3
"""Where benchmark 1c's cycles lose CPU: joins a scheduler trace with the cycle marks of
`scale timeline`, sim in a child (BENCHMARKS.md §1, tenth session).

    TIMELINE_DUMP=1 PROFILE_CYCLES=60 perf record -k CLOCK_MONOTONIC -a \\
        -e sched:sched_switch -e sched:sched_wakeup -o sched.data \\
        target/release/examples/scale timeline 20 2> marks.txt
    python3 benches/sched_lost.py sched.data marks.txt

For each cycle and phase (requests: start to the sim's last request read; answers: 20 ms to the
sim's last answer written; tail: from there to the cycle's end) it prints the CPU time of the
exporter's threads, the sim's and the idle task, and the "lost" CPU time: time during which an
exporter thread was runnable but not running while a CPU was idle, i.e. work the kernel left
waiting with a core free. Medians over the cycles.
"""
import bisect
import re
import subprocess
import sys


def trace(data):
    out = subprocess.run(
        ["perf", "script", "-i", data, "-F", "pid,tid,cpu,time,event,trace"],
        capture_output=True, text=True, check=True).stdout
    line = re.compile(r"\s*(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)")
    tgid, events = {}, []
    for l in out.splitlines():
        m = line.match(l)
        if not m:
            continue
        pid, tid, cpu, t, ev, rest = int(m[1]), int(m[2]), int(m[3]), round(float(m[4]) * 1e9), m[5], m[6]
        tgid[tid] = pid  # a switch is recorded in the context of the task switched out
        if ev == "sched_switch":
            s = re.search(r"prev_pid=(\d+) .*prev_state=(\S+) ==> .*next_pid=(\d+)", rest)
            events.append((t, "switch", cpu, int(s[1]), s[2], int(s[3])))
        elif ev == "sched_wakeup":
            s = re.search(r"pid=(\d+) .*target_cpu=(\d+)", rest)
            events.append((t, "wakeup", int(s[2]), int(s[1]), None, None))
    events.sort()
    return tgid, events


def marks(path):
    pids, cycles = None, []
    for l in open(path):
        f = l.split()
        if f[:1] == ["PIDS"]:
            pids, cycles = (int(f[2]), int(f[4])), []
        elif f[:1] == ["CYCLE"] and pids:
            cycles.append(dict(zip(f[1::2], map(int, f[2::2]))))
    if not pids:
        sys.exit("no PIDS line: run `scale timeline` with TIMELINE_DUMP=1")
    return pids, cycles


def segments(tgid, events, exporter, cpus):
    """(start, end, running tid per cpu, exporter tids runnable but not running)"""
    running = {c: 0 for c in range(cpus)}
    waiting = set()
    segs, last = [], events[0][0]
    for t, kind, cpu, a, state, b in events:
        segs.append((last, t, dict(running), frozenset(waiting)))
        last = t
        if kind == "switch":
            running[cpu] = b
            waiting.discard(b)
            if a and state.startswith("R") and tgid.get(a) == exporter:
                waiting.add(a)
        elif tgid.get(a) == exporter and a not in running.values():
            waiting.add(a)
    return segs


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: sched_lost.py <perf.data> <marks from TIMELINE_DUMP=1 scale timeline>")
    data, path = sys.argv[1], sys.argv[2]
    (exporter, sim), cycles = marks(path)
    tgid, events = trace(data)
    cpus = 1 + max(e[2] for e in events)
    segs = segments(tgid, events, exporter, cpus)
    starts = [s[0] for s in segs]
    owner = lambda tid: "idle" if tid == 0 else "exporter" if tgid.get(tid) == exporter else "sim" if tgid.get(tid) == sim else "other"
    phases = {}
    for c in cycles:
        bounds = {"requests": (c["t0"], c["lastreq"]), "answers": (c["t0"] + 20_000_000, c["written"]), "tail": (c["written"], c["end"])}
        for name, (a, b) in bounds.items():
            use = {"exporter": 0, "sim": 0, "idle": 0, "other": 0, "lost": 0}
            i = max(0, bisect.bisect_right(starts, a) - 1)
            while i < len(segs) and segs[i][0] < b:
                s, e, run, wait = segs[i]
                span = min(e, b) - max(s, a)
                if span > 0:
                    for tid in run.values():
                        use[owner(tid)] += span
                    idle = sum(1 for tid in run.values() if tid == 0)
                    use["lost"] += span * min(idle, len(wait))
                i += 1
            use["wall"] = max(0, b - a)
            phases.setdefault(name, []).append(use)
    med = lambda v: sorted(v)[len(v) // 2] / 1e6
    print(f"{len(cycles)} cycles, {cpus} CPUs; medians in ms (CPU time per phase; lost = exporter runnable while a CPU idled)")
    for name, rows in phases.items():
        print(f"{name:9} wall {med([r['wall'] for r in rows]):5.2f}  " + "  ".join(f"{k} {med([r[k] for r in rows]):5.2f}" for k in ["exporter", "sim", "idle", "lost"]))


if __name__ == "__main__":
    main()
