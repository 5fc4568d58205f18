"""Validate the memory and throughput models against a real redis-server (issue 6 goals).

Memory: fill pending WorkManager works with the Nuxeo scripts (pipelined ``scheduling-work``) at payloads
1000 and 3000 B, 10k/50k/100k works → calibrate the analytic model → predict 1M works at payloads the fit
did not see (1500, 2200 B) → compare with the measured used_memory growth (goal: within 3 %).
The purely empirical fit (bytes per work linear in payload) is reported alongside.

Throughput: service demand per work lifecycle (4 EVALSHA) at light load (utilization law, main-thread CPU)
→ predicted ceiling = 1e6 / D works/s → measured saturation with several pipelined client processes
(goal: within 15 %). redis-benchmark runs in the same session as a reference for the machine's speed.

Usage: .venv/bin/python benchmarks/validate_models.py [--quick] [--json OUT.json]
Prints a Markdown section for BENCHMARKS.md. Starts and stops its own redis-server (loopback, free port).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from analysis import memory as mem  # noqa: E402
from analysis import throughput as tp  # noqa: E402
from analysis import validation as val  # noqa: E402
from loadgen import topology  # noqa: E402
from rcapcore.nuxeo.payloads import PayloadFactory  # noqa: E402
from loadgen.nuxeo.workmanager import WorkManagerClient, WorkQueueCommands  # noqa: E402

ID_BYTES = 24


def work_id(i: int) -> str:
    return f"{10**15 + i}.{i % 9_000_000 + 1_000_000}"  # 24 bytes, like nanoTime.random


def used(client) -> int:
    info = client.info("memory")
    return info["used_memory"] - info["mem_clients_normal"]


def settled(client) -> int:
    last = used(client)
    for _ in range(30):
        time.sleep(0.15)
        now = used(client)
        if now == last:
            return now
        last = now
    return last


def fill(topo, probe, prefix: str, n: int, payload: int, factory: PayloadFactory) -> float:
    """Schedule ``n`` works under ``prefix`` on a fresh connection; return the used_memory growth."""
    clients = probe.info("clients")["connected_clients"]
    before = settled(probe)
    c = topo.client()
    cmds = WorkQueueCommands("default", prefix=prefix)
    pipe = c.pipeline(transaction=False)
    for i in range(n):
        wid = work_id(i)
        pipe.execute_command(*cmds.schedule(wid, factory.payload(wid, payload)).args)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    c.close()
    c.connection_pool.disconnect()
    while probe.info("clients")["connected_clients"] > clients:
        time.sleep(0.02)
    return settled(probe) - before


def drop(client, prefix: str) -> None:
    """Delete the works under ``prefix`` (this script started the server; UNLINK by SCAN)."""
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.unlink(key)
    time.sleep(0.3)


def quantum(client) -> int:
    stats = client.execute_command("MEMORY", "MALLOC-STATS").decode()
    m = re.search(r"Quantum size: (\d+)", stats)
    return int(m.group(1)) if m else 8


def memory_experiment(topo, quick: bool, check_works: int = 1_000_000) -> dict:
    probe = topo.client()
    WorkManagerClient(probe, prefix="rcap:").load_scripts()
    info = probe.info("server")
    alloc = probe.info("memory")["mem_allocator"]
    valkey = "valkey_version" in info  # Valkey's redis_version is a frozen 7.2.4
    version, family = (info["valkey_version"], "valkey") if valkey else (info["redis_version"], "redis")
    if alloc.startswith("jemalloc"):
        allocator = mem.Allocator("jemalloc", quantum(probe).bit_length() - 1)
    else:
        allocator = mem.Allocator("libc")
    layout = mem.RedisLayout.for_version(version, allocator, family=family)
    factory = PayloadFactory(7)
    fill(topo, probe, "rcap:warm:", 200, 1000, factory)
    drop(probe, "rcap:warm:")
    scale = 10 if quick else 1
    fit_obs, check_obs = [], []
    for payload in (1000, 3000):
        for n in (10_000 // scale, 50_000 // scale, 100_000 // scale):
            d = fill(topo, probe, f"rcap:fit{payload}-{n}:", n, payload, factory)
            fit_obs.append(mem.MemoryObservation(n, payload, d))
            drop(probe, f"rcap:fit{payload}-{n}:")
    for payload in (1500, 2200):
        n = check_works // scale
        t0 = time.monotonic()
        d = fill(topo, probe, f"rcap:check{payload}:", n, payload, factory)
        fill_s = time.monotonic() - t0
        check_obs.append(mem.MemoryObservation(n, payload, d))
        drop(probe, f"rcap:check{payload}:")
    model, checks = val.check_memory(fit_obs, check_obs, layout, id_bytes=ID_BYTES)
    analytic = [val.Check(f"analytic only n={o.count} size={o.size_bytes}",
                          mem.pending_works_bytes(o.count, mem.WorkShape(o.size_bytes, ID_BYTES), layout),
                          o.delta_bytes, None, None, val.MEMORY_GOAL) for o in check_obs]
    lin = mem.bytes_per_object_fit(fit_obs)
    empirical = [val.Check(f"linear bytes/work n={o.count} size={o.size_bytes}", lin.predict(o.size_bytes)[0] * o.count,
                           o.delta_bytes, None, None, val.MEMORY_GOAL) for o in check_obs]
    probe.close()
    return {"layout": f"{layout.label} ({info.get('server_name') or 'redis'} {version}, {alloc})", "fill_s_last": fill_s,
            "fit": [o.__dict__ for o in fit_obs], "scale": model.scale, "scale_ci": model.scale_ci,
            "rel_error_band": model.rel_error, "checks": [c.to_dict() for c in checks],
            "analytic_only": [c.to_dict() for c in analytic], "linear_fit": [c.to_dict() for c in empirical],
            "linear_fit_params": lin.to_dict()}


def _cpu(client) -> float:
    c = client.info("cpu")
    if "used_cpu_sys_main_thread" in c:
        return c["used_cpu_sys_main_thread"] + c["used_cpu_user_main_thread"]
    return c["used_cpu_sys"] + c["used_cpu_user"]


def _raise_priority(pid: int, nice: int = -10) -> bool:
    """Let the measured processes (this run's redis-server and its clients) win the CPU over other tenants
    of a shared machine for the few seconds of the throughput runs; harmless when not permitted."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, nice)
        return True
    except OSError:
        return False


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


def _head(op, n_var: int) -> bytes:
    """RESP of an Op's constant part (command, sha, numkeys, 8 keys) for ``n_var`` more arguments."""
    const = [a if isinstance(a, bytes) else str(a).encode() for a in op.args[: len(op.args) - n_var]]
    return b"*%d\r\n" % len(op.args) + b"".join(_bulk(a) for a in const)


def lifecycle_batches(port: int, prefix: str, batch: int, duration_s: float, rate_batches_per_s: float | None,
                      seed: int, out: mp.Queue) -> None:
    """Full lifecycles (scheduling-work, pop-work, running-work, completed-work: the Nuxeo scripts, built by
    ``WorkQueueCommands``) in batches of ``batch`` works, each step pipelined. Commands are packed from
    pre-built RESP heads and replies parsed by hiredis, so one client process costs far less CPU per work
    than the server does. Reports the works completed."""
    import socket  # noqa: PLC0415

    import hiredis  # noqa: PLC0415

    _raise_priority(0)

    cmds = WorkQueueCommands(f"q{seed}", prefix=prefix)
    h_sched, h_pop = _head(cmds.schedule("x", b"x"), 3), _head(cmds.pop(), 1) + _bulk(b"R")
    h_run, h_done = _head(cmds.running("x", b"x"), 3), _head(cmds.completed("x"), 2)
    filler = bytes(range(256)) * 8
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = hiredis.Reader()

    def replies(n: int) -> list:
        got = []
        while len(got) < n:
            r = reader.gets()
            if r is False:
                reader.feed(sock.recv(1 << 20))
                continue
            got.append(r)
        return got

    done = 0
    i = seed * 10**9
    end = time.monotonic() + duration_s
    next_t = time.monotonic()
    pops = h_pop * batch
    while time.monotonic() < end:
        if rate_batches_per_s:
            next_t += 1 / rate_batches_per_s
            time.sleep(max(0.0, next_t - time.monotonic()))
        ids = [work_id(k).encode() for k in range(i, i + batch)]
        i += batch
        sock.sendall(b"".join(h_sched + _bulk(w) + b"$1\r\nQ\r\n" + _bulk(w + b"|" + filler[:1500 - len(w) - 1])
                              for w in ids))
        replies(batch)
        sock.sendall(pops)
        popped = [r[1].split(b"|", 1)[0] for r in replies(batch) if r is not None]
        sock.sendall(b"".join(h_run + _bulk(w) + b"$1\r\nR\r\n" + _bulk(w + b"|" + filler[:1500 - len(w) - 1])
                              for w in popped)
                     + b"".join(h_done + _bulk(w) + b"$0\r\n\r\n" for w in popped))
        replies(2 * len(popped))
        done += len(popped)
    sock.close()
    import resource  # noqa: PLC0415

    ru = resource.getrusage(resource.RUSAGE_SELF)
    out.put((done, ru.ru_utime + ru.ru_stime))


def drive(port: int, procs: int, batch: int, duration_s: float, rate: float | None, probe) -> dict:
    q: mp.Queue = mp.Queue()
    workers = [mp.Process(target=lifecycle_batches, args=(port, "rcap:tp:", batch, duration_s, rate, k + 1, q))
               for k in range(procs)]
    cpu0, t0 = _cpu(probe), time.monotonic()
    for w in workers:
        w.start()
    got = [q.get(timeout=duration_s + 60) for _ in workers]
    done, client_cpu = sum(g[0] for g in got), sum(g[1] for g in got)
    for w in workers:
        w.join()
    dt, cpu = time.monotonic() - t0, _cpu(probe) - cpu0
    return {"works": done, "seconds": dt, "works_per_s": done / dt, "cpu_s": cpu, "utilization": cpu / dt,
            "cpu_us_per_work": cpu * 1e6 / done if done else None, "procs": procs, "batch": batch,
            "client_cpu_us_per_work": client_cpu * 1e6 / done if done else None}


def redis_benchmark(port: int) -> dict:
    out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "set,get", "-n", "200000",
                          "-P", "16", "-q", "--csv"], capture_output=True, text=True, timeout=120).stdout
    res = {}
    for line in out.splitlines()[1:]:
        cols = [c.strip('"') for c in line.split(",")]
        if len(cols) > 1:
            res[cols[0]] = float(cols[1])
    return res


def throughput_experiment(topo, quick: bool) -> dict:
    probe = topo.client()
    WorkManagerClient(probe, prefix="rcap:tp:").load_scripts()
    server_pid = next(n.pid for n in topo.nodes if n.role == "master")
    prioritized = _raise_priority(server_pid)
    dur = 4 if quick else 6  # seconds per saturation attempt; light-load levels run twice as long
    rounds = []
    # a shared machine's other tenants come and go: repeat (light-load fit, then saturation attempts) until
    # a saturation attempt keeps the main thread ≥ 85 % busy, at most `max_rounds` times; each round's
    # prediction comes from its own light-load fit, just before its saturation attempts
    for _ in range(2 if quick else 8):
        # light load: the same 50-work batches paced at 1000–4000 works/s (main thread ≈ 5–20 % busy); the
        # utilization law U = U0 + X·D fitted across them separates fixed costs U0 (cron, idle wake-ups)
        # from the marginal demand D per work
        light = [drive(topo.target_port, 1, 50, 2 * dur, rate, probe) for rate in (20, 40, 60, 80)]
        fit = tp.fit_demand([x["works_per_s"] for x in light], [x["utilization"] for x in light])
        predicted = (1 - fit["idle_utilization"]) * 1e6 / fit["cpu_us_per_work"]
        # saturation: unpaced 500-work batches from 6–8 client processes (each waits for its replies, so it
        # takes several to keep the main thread busy)
        sat = []
        for procs, batch in ((6, 500), (8, 500)):
            sat.append(drive(topo.target_port, procs, batch, dur, None, probe))
            drop(probe, "rcap:tp:")
        rounds.append({"light": light, "light_fit": fit, "predicted": predicted, "saturation": sat,
                       "load_avg": os.getloadavg()[0]})
        if any(x["utilization"] >= 0.85 for x in sat):
            break
    # the round whose best attempt came closest to saturating the server
    best_round = max(rounds, key=lambda r: max(x["utilization"] for x in r["saturation"]))
    light, fit, predicted, sat = (best_round[k] for k in ("light", "light_fit", "predicted", "saturation"))
    demand_us = fit["cpu_us_per_work"]
    saturated = [x for x in sat if x["utilization"] >= 0.85]
    best = max(saturated or sat, key=lambda x: x["works_per_s"])
    ref = redis_benchmark(topo.target_port)
    if prioritized:
        _raise_priority(server_pid, 0)
    drop(probe, "rcap:tp:")
    probe.close()
    check = val.check_ceiling(predicted, best["works_per_s"])
    return {"rounds": len(rounds), "all_rounds": rounds, "light": light, "cpu_us_per_work_light": demand_us,
            "light_fit": fit,
            "naive_cpu_us_per_work": light[0]["cpu_us_per_work"], "predicted_ceiling_works_per_s": predicted,
            "saturation": sat, "measured_saturation_works_per_s": best["works_per_s"],
            "saturation_utilization": best["utilization"], "saturated": bool(saturated), "check": check.to_dict(),
            "priority_raised": prioritized, "redis_benchmark": ref}


def _set_ops(client, n: int, value: bytes) -> None:
    for i in range(n):  # unpipelined: one round trip per SET, as Jedis sends them
        client.set(f"rcap:tls:{i % 1000}", value)


def topology_experiment() -> dict:
    """TLS cost (main-thread CPU per unpipelined SET, TLS / plain) and replication bytes per work lifecycle
    (master's total_net_repl_output_bytes per work with one replica) vs the network model's estimate."""
    out: dict = {}
    value = b"v" * 200
    with tempfile.TemporaryDirectory() as base:
        # both servers up at once and measured alternately, so machine load drifts hit both alike
        with topology.running("standalone", name="plain", base_dir=base) as plain, \
                topology.running("standalone", name="tls", base_dir=base, tls=True) as tls:
            clients = {"plain": plain.client(), "tls": tls.client()}
            for c in clients.values():
                _set_ops(c, 2000, value)  # warm-up (TLS handshake, buffers)
            samples: dict[str, list[float]] = {"plain": [], "tls": []}
            for _ in range(5):
                for name, c in clients.items():
                    cpu0 = _cpu(c)
                    _set_ops(c, 5000, value)
                    samples[name].append((_cpu(c) - cpu0) * 1e6 / 5000)
            for c in clients.values():
                c.close()
        per_op = {k: statistics.median(v) for k, v in samples.items()}
        out["cpu_us_per_set"] = per_op
        out["cpu_us_per_set_samples"] = samples
        out["tls_cpu_factor"] = statistics.median(t / p for t, p in zip(samples["tls"], samples["plain"]))
        with topology.running("sentinel", name="repl", base_dir=base) as topo:
            c = topo.client()
            WorkManagerClient(c, prefix="rcap:repl:").load_scripts()
            master = next(n for n in topo.nodes if n.role == "master")
            import redis  # noqa: PLC0415

            m = redis.Redis(host=master.host, port=master.port)
            before = m.info("stats")
            q: mp.Queue = mp.Queue()
            lifecycle_batches(master.port, "rcap:repl:", 50, 4, 20, 1, q)
            done, _ = q.get()
            after = m.info("stats")
            repl = after["total_net_repl_output_bytes"] - before["total_net_repl_output_bytes"]
            inp = after["total_net_input_bytes"] - before["total_net_input_bytes"]
            out["replication_bytes_per_work"] = repl / done
            out["input_bytes_per_work"] = inp / done
            out["works"] = done
            m.close()
            c.close()
    return out


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
            "load_avg": os.getloadavg()}


def markdown(res: dict) -> str:
    m, t = res.get("memory"), res.get("throughput")
    lines = [f"Machine: {res['machine']['cpu']}, {res['machine']['cores']} cores (shared, load avg "
             f"{res['machine']['load_avg'][0]:.1f}); {res.get('layout', '')}; run {res['date']}.", ""]
    if m:
        lines += _memory_md(m)
    if t:
        lines += _throughput_md(t)
    tp_ = res.get("topology")
    if tp_:
        lines += ["", f"TLS: {tp_['cpu_us_per_set']['tls']:.1f} vs {tp_['cpu_us_per_set']['plain']:.1f} µs main-thread "
                      f"CPU per unpipelined 200-B SET (×{tp_['tls_cpu_factor']:.2f}). Replication: "
                      f"{tp_['replication_bytes_per_work']:.0f} B per work lifecycle to one replica, for "
                      f"{tp_['input_bytes_per_work']:.0f} B received per work ({tp_['works']} works)."]
    return "\n".join(lines)


def _memory_md(m: dict) -> list[str]:
    lines = [f"Memory: calibrated on {len(m['fit'])} fills (payload 1000/3000 B, ≤ {max(o['count'] for o in m['fit'])} works): "
             f"scale {m['scale']:.4f} (95 % CI {m['scale_ci'][0]:.4f}–{m['scale_ci'][1]:.4f}).", "",
             "| check (held out) | predicted MB | measured MB | error | within 3 % |", "|---|---|---|---|---|"]
    for group in ("checks", "analytic_only", "linear_fit"):
        for c in m[group]:
            lines.append(f"| {c['name']} | {c['predicted'] / 1e6:.1f} | {c['measured'] / 1e6:.1f} | "
                         f"{100 * c['error']:+.2f} % | {'yes' if c['within_goal'] else 'no'} |")
    return lines + [""]


def _throughput_md(t: dict) -> list[str]:
    lf = t["light_fit"]
    lines = ["Throughput: light load (1 client, 50-work pipelined batches at "
                  + ", ".join(f"{x['works_per_s']:.0f}" for x in t["light"]) + " works/s, main thread "
                  + ", ".join(f"{x['utilization']:.0%}" for x in t["light"]) + f" busy): U = U0 + X·D gives "
                  f"D = {lf['cpu_us_per_work']:.1f} µs per work lifecycle (95 % CI {lf['cpu_us_per_work_ci'][0]:.1f}–"
                  f"{lf['cpu_us_per_work_ci'][1]:.1f}), U0 = {lf['idle_utilization']:.1%} → predicted ceiling "
                  f"{t['predicted_ceiling_works_per_s']:.0f} works/s (the naive U/X of the lightest run, "
                  f"{t['naive_cpu_us_per_work']:.1f} µs, would predict {1e6 / t['naive_cpu_us_per_work']:.0f}).", "",
              f"Saturation attempts (best of {t['rounds']} rounds of light-load fit + saturation, stopping at "
              "the first with the main thread ≥ 85 % busy):", "",
              "| client processes × batch | works/s | main-thread utilization | server µs/work | client µs/work |",
              "|---|---|---|---|---|"]
    for s in t["saturation"]:
        lines.append(f"| {s['procs']} × {s['batch']} | {s['works_per_s']:.0f} | {s['utilization']:.0%} | "
                     f"{s['cpu_us_per_work']:.1f} | {s['client_cpu_us_per_work']:.1f} |")
    c = t["check"]
    lines += ["", f"Ceiling check: predicted {c['predicted']:.0f} vs measured {c['measured']:.0f} works/s "
                  f"({100 * c['error']:+.1f} %, goal ±15 %: {'met' if c['within_goal'] else 'not met'}); "
                  f"main thread at {t['saturation_utilization']:.0%} during the best saturation run"
                  + ("." if t["saturated"] else " (not saturated: the clients could not drive it to 85 %)."),
              ("redis-server and clients ran at nice -10 during these runs (shared machine). " if t.get("priority_raised") else "")
              + "Reference in the same session: redis-benchmark -P 16 "
              + ", ".join(f"{k} {v:.0f} req/s" for k, v in t["redis_benchmark"].items()) + "."]
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1/10 of the sizes, short throughput runs")
    ap.add_argument("--json", metavar="OUT", help="write the raw results here")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--topology-only", action="store_true", help="only the TLS and replication measurements")
    ap.add_argument("--redis-server", metavar="PATH", help="redis-server or valkey-server binary (default: as "
                    "loadgen.topology finds it)")
    ap.add_argument("--check-works", type=int, default=1_000_000, metavar="N",
                    help="held-out fills: N works at 1500 and 2200 B (default 1M)")
    args = ap.parse_args()
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine()}
    if args.topology_only:
        args.skip_memory = args.skip_throughput = True
    if args.topology_only or not (args.skip_memory or args.skip_throughput or args.redis_server):
        res["topology"] = topology_experiment()
        print(json.dumps(res["topology"], indent=1), file=sys.stderr)
    with tempfile.TemporaryDirectory() as base:
        with topology.running("standalone", name="validate", base_dir=base, redis_server=args.redis_server) as topo:
            topo.target_port = int(topo.target.url.rsplit(":", 1)[1].split("/")[0])
            if not args.skip_memory:
                res["memory"] = memory_experiment(topo, args.quick, args.check_works)
                res["layout"] = res["memory"]["layout"]
                print(json.dumps(res["memory"]["checks"], indent=1), file=sys.stderr)
            if not args.skip_throughput:
                res["throughput"] = throughput_experiment(topo, args.quick)
                print(json.dumps(res["throughput"]["check"], indent=1), file=sys.stderr)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1, default=str)
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
