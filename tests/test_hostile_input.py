"""Safety on shared targets and hostile input (issue 10), with real redis-server processes and Locust:

- foreign keys stay byte-identical (DUMP) after runs with and without ``--reuse-prefix``;
- a weak password (``0``, ``redis``) leaves every run file valid and unchanged by the secret guard;
- no password reaches stderr for any URL shape; a child never inherits one;
- non-finite and oversized numbers are refused; each former traceback is one line and exit 2;
- a run against a read-only replica is recorded ``degraded`` with its cause and exit status 3.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import redis

from analysis.runs import load_run, usable
from rcap.bench import run_bench
from rcap.cli import main
from rcapcore.errors import BadInput, TargetError
from loadgen.recorder.rundir import RunDir
from loadgen.scenarios import load_scenario
from loadgen.topology.keyspace import snapshot_prefix
from loadgen.topology.targets import Target, check, redact

REPO = Path(__file__).resolve().parent.parent
RCAP = str(Path(sys.executable).parent / "rcap")


def rcap(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what earlier calls in the test printed is not this command's output
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own refusal (one line, exit 2)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, err: str, *fragments: str, status: int = 2) -> None:
    lines = err.strip().splitlines()
    assert code == status, err
    assert len(lines) == 1 and lines[0].startswith("rcap: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _foreign(client: redis.Redis, prefix: str) -> dict[bytes, bytes]:
    """Write keys of every type under ``prefix`` (as a live Nuxeo would have) and return their DUMPs."""
    for i in range(10):
        client.set(f"{prefix}doc:{i}", f"value-{i}".encode() * (i + 1))
        client.hset(f"{prefix}h:{i}", mapping={"a": i, "b": "x" * i})
        client.rpush(f"{prefix}l:{i}", *range(i + 1))
        client.sadd(f"{prefix}s:{i}", *range(i + 1))
        client.zadd(f"{prefix}z:{i}", {str(j): j for j in range(i + 1)})
    client.set(f"{prefix}work:foreign", b"not rcap's")  # in the namespace a workload uses
    client.set(f"{prefix}kv:foreign", b"not rcap's either")
    client.set("outside:prefix", b"1")
    return _dumps(client)


def _dumps(client: redis.Redis) -> dict[bytes, bytes]:
    return {key: client.dump(key) for key in client.scan_iter(count=1000)}


# --- 1. data loss: --reuse-prefix deletes only what the run created -------------------------------

def test_foreign_keys_survive_runs_with_and_without_reuse(topology_factory, tmp_path: Path) -> None:
    topo = topology_factory("standalone")
    client = topo.client()
    before = _foreign(client, "nuxeo:")
    assert len(before) == 53

    # without reuse: a prefix holding keys is refused, nothing is recorded, nothing is touched
    with pytest.raises(TargetError) as err:
        run_bench("pubsub", target=topo.target.url, prefix="nuxeo:", duration_s=2, out=tmp_path / "runs",
                  progress=False)
    assert "--reuse-prefix" in str(err.value) and "--reuse " not in str(err.value)
    assert "rcap cleanup RUN_DIR" in str(err.value) and not (tmp_path / "runs").exists()
    # without reuse, another prefix: foreign keys elsewhere are untouched
    run_bench("kv-set-1k", target=topo.target.url, duration_s=2, out=tmp_path / "runs", progress=False)
    assert _dumps(client) == before

    # reuse, a workload that writes no keys (the reported case: all 54 nuxeo:* keys were deleted)
    run = load_run(run_bench("pubsub", target=topo.target.url, prefix="nuxeo:", reuse_prefix=True,
                             duration_s=2, out=tmp_path / "runs", progress=False))
    assert _dumps(client) == before
    assert run.manifest["parameters"]["keys_found_under_prefix"] == 52
    # reuse, a workload that writes many keys under the same prefix: only those are deleted
    run = load_run(run_bench("kv-set-1k", target=topo.target.url, prefix="nuxeo:", reuse_prefix=True,
                             duration_s=2, out=tmp_path / "runs", progress=False))
    cleanup = run.events[run.events.kind == "cleanup"].iloc[0]
    assert cleanup["keys_removed"] > 0 and cleanup["keys_spared"] == 52
    assert _dumps(client) == before
    client.close()


def test_cleanup_command_deletes_only_what_the_run_created(topology_factory, tmp_path: Path, capsys) -> None:
    topo = topology_factory("standalone")
    client = topo.client()
    before = _foreign(client, "nuxeo:")
    # --keep stands for a killed run: its keys stay behind, with no cleanup recorded
    kept = run_bench("kv-set-1k", target=topo.target.url, prefix="nuxeo:", reuse_prefix=True, keep=True,
                     duration_s=2, out=tmp_path / "runs", progress=False)
    assert len(list(client.scan_iter(match="nuxeo:*"))) > 52
    code, out, err = rcap(capsys, "cleanup", str(kept))
    assert code == 0, err
    assert "52 keys present at its start spared" in out
    assert _dumps(client) == before
    # a run that cleaned up after itself is refused: the keys there now are someone else's
    done = run_bench("pubsub", target=topo.target.url, prefix="nuxeo:", reuse_prefix=True, duration_s=2,
                     out=tmp_path / "runs", progress=False)
    assert_one_line(*rcap(capsys, "cleanup", str(done))[::2], "already cleaned")
    assert _dumps(client) == before
    client.close()


def test_reuse_is_refused_above_the_snapshot_cap(standalone_client) -> None:
    standalone_client.mset({f"big:{i}": i for i in range(50)})
    with pytest.raises(TargetError, match="too many to snapshot"):
        snapshot_prefix(standalone_client, "big:", reuse=True, cap=20)
    assert len(snapshot_prefix(standalone_client, "big:", reuse=True)) == 50


def test_reuse_help_text_says_what_it_does(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "cleanup deletes only keys not in that list" in text and "100,000" in text
    assert "3 a run is recorded 'degraded'" in text  # the exit status is documented where users look


# --- 2. weak passwords: every run file valid, no byte changed by the secret guard -------------------

@pytest.mark.parametrize("password", ["0", "redis"])
def test_weak_password_leaves_valid_json(topology_factory, tmp_path: Path, password: str) -> None:
    topo = topology_factory("standalone", password=password)
    run_dir = run_bench("kv-set-1k", target=topo.target.url, password=password, duration_s=2,
                        out=tmp_path / "runs", progress=False)
    for path in run_dir.rglob("*.json"):
        json.loads(path.read_text())
    for path in run_dir.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            json.loads(line)
    run = load_run(run_dir)
    assert run.summary["total"]["count"] > 0 and run.manifest["status"] == "complete"
    assert not any("secret" in w for w in run.manifest["warnings"])
    assert "***" not in "".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())


def test_secret_guard_never_rewrites_for_short_secrets_and_keeps_json_valid(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path, "x", secrets_to_scrub=["0", "a-long-Secret-42"])
    run.write_json("summary.json", {"count": 100, "p50_us": 10.0, "text": "value 0"})
    run.append_jsonl("events.jsonl", {"t": 0.0, "kind": "x", "error": "AUTH a-long-Secret-42 refused"})
    before = (run.path / "summary.json").read_bytes()
    assert run.scrub_secrets() == ["events.jsonl"]  # only where the long secret was, never for "0"
    assert (run.path / "summary.json").read_bytes() == before
    event = json.loads((run.path / "events.jsonl").read_text())
    assert event["error"] == "AUTH *** refused"


# --- 3. no password on stderr, whatever the URL shape ----------------------------------------------

SHAPES = ["pa/ss-S3cret", "p@ss-S3cret", "p:ss-S3cret", "p#ss-S3cret", "p?ss-S3cret", "p[ss]-S3cret", "a/b@c:d#e?[f]-S3cret"]


@pytest.mark.parametrize("password", SHAPES)
def test_no_password_on_stderr_for_any_url_shape(capsys, password: str) -> None:
    for url in (f"redis://:{password}@127.0.0.1:1", f"redis://user:{password}@127.0.0.1:1/0",
                f"redis+sentinel://:{password}@127.0.0.1:1,127.0.0.1:2/mymaster",
                f"redis://:{password}@[::1:6379", f"rediss://:{password}@127.0.0.1:notaport"):
        assert "S3cret" not in redact(url)
        code, out, err = rcap(capsys, "check", url)
        assert code == 2 and "S3cret" not in out + err, err
        assert len(err.strip().splitlines()) == 1


def test_password_inside_url_is_parsed_whole() -> None:
    target = Target.parse("redis://u:a/b@c:d#e?[f]@h:7/2")
    assert (target.password, target.url, target.hosts, target.db) == ("a/b@c:d#e?[f]", "redis://u@h:7/2", (("h", 7),), 2)


# --- 4. degraded runs: recorded, named, exit 3, left out of the models -----------------------------

def test_run_against_a_replica_is_degraded_with_its_cause(topology_factory, tmp_path: Path, capsys) -> None:
    master = topology_factory("standalone")
    replica = topology_factory("standalone")
    client = replica.client()
    client.replicaof("127.0.0.1", master.nodes[0].port)
    code, out, err = rcap(capsys, "bench", "kv-set-1k", "--target", replica.target.url, "--duration", "2s",
                          "--out", str(tmp_path / "runs"), "--no-progress")
    assert code == 3, err
    assert "READONLY" in err  # start-up check warns before the load starts
    last = err.strip().splitlines()[-1]
    assert "degraded" in last and "READONLY" in last and "replica" in last
    run = load_run(out.strip().splitlines()[-1])
    q = run.manifest["quality"]
    assert run.status == "degraded" and q["verdict"] == "degraded" and q["error_ratio"] > 0.5
    assert q["causes"][0]["cause"] == "READONLY" and q["p99_rule"]
    assert any(w.startswith("READONLY") for w in run.manifest["warnings"])
    kept, note = usable([run])
    assert kept == [] and "degraded" in note
    assert usable([run], include_degraded=True)[0] == [run]
    client.close()


def test_acl_without_evalsha_is_found_before_the_load(topology_factory) -> None:
    from loadgen.topology.preflight import problems

    topo = topology_factory("standalone")
    admin = topo.client()
    admin.execute_command("ACL", "SETUSER", "noscript", "on", ">pw-noscript", "~rcap:*", "+@all", "-evalsha")
    admin.execute_command("ACL", "SETUSER", "otherkeys", "on", ">pw-other", "~other:*", "+@all")
    host, port = topo.target.hosts[0]
    for user, pw, expected in (("noscript", "pw-noscript", "EVALSHA"), ("otherkeys", "pw-other", "write keys")):
        client = redis.Redis(host, port, username=user, password=pw)
        found = problems(client, "rcap:")
        assert any(line.startswith("NOPERM") and expected in line for line in found), found
        client.close()
    assert problems(admin, "rcap:") == []
    assert admin.dbsize() == 0  # the checks create nothing
    admin.close()


def test_max_error_ratio_is_validated(capsys) -> None:
    for value in ("nan", "2", "-0.1"):
        code, _, err = rcap(capsys, "bench", "kv", "--max-error-ratio", value)
        assert code == 2 and len(err.strip().splitlines()) == 1, err


# --- 5. numbers: non-finite and oversized values are refused --------------------------------------

@pytest.mark.parametrize("overrides, fragment", [
    ({"rate": ".inf"}, "finite"), ({"rate": ".nan"}, "finite"), ({"drain_s": ".inf"}, "finite"),
    ({"params.zipf_s": ".nan"}, "finite"), ({"params.mix": "{get: .nan}"}, "finite"),
    ({"params.keyspace": str(10**29)}, "upper bound"), ({"users": "1000000000"}, "upper bound"),
    ({"params.value_bytes": "{kind: fixed, value: .inf}"}, "finite"),
])
def test_non_finite_and_oversized_overrides_are_refused(overrides, fragment) -> None:
    with pytest.raises(BadInput, match=fragment) as err:
        load_scenario("kv", overrides)
    assert len(str(err.value)) < 300


@pytest.mark.parametrize("key", ["producers", "threads", "nodes", "works"])
def test_zero_counts_are_refused_before_the_plan_divides_by_them(key) -> None:
    with pytest.raises(BadInput, match=f"{key} must be >= 1, got 0"):
        load_scenario("mass-operation", {key: "0"})


def test_zipf_keyspace_is_capped() -> None:
    with pytest.raises(BadInput, match="zipf"):
        load_scenario("kv", {"params.keyspace": "5000000", "params.key_distribution": "zipf"})


@pytest.mark.parametrize("argv, fragment", [
    (("bench", "kv", "--rate", "nan"), "finite"), (("bench", "kv", "--rate", "inf"), "finite"),
    (("bench", "kv", "--processes", "1000"), "upper bound"), (("bench", "kv", "--users", "10000000"), "upper bound"),
    (("failover", "--rate", "nan"), "finite"), (("memory-wall", "--rate", "nan"), "finite"),
    (("bench", "kv", "--set", "rate=.inf"), "finite"),
])
def test_non_finite_cli_numbers_are_one_line(capsys, argv, fragment) -> None:
    code = None
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own refusal (one line, exit 2)
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err, err


def test_target_load_with_huge_numbers_is_refused(tmp_path: Path) -> None:
    from analysis.targets import load_target

    path = tmp_path / "t.yaml"
    path.write_text("name: t\nbusiness:\n  docs_per_s: 10\nmass_operation:\n  documents: 1" + "0" * 300 + "\n")
    with pytest.raises(BadInput, match="upper bound") as err:
        load_target(str(path))
    assert len(str(err.value)) < 300  # the huge value is never formatted whole
    path.write_text("name: t\nbusiness:\n  docs_per_s: 1.0e+300\n")
    with pytest.raises(BadInput, match="upper bound"):
        load_target(str(path))
    path.write_text("name: t\nbusiness:\n  docs_per_s: .inf\n")
    with pytest.raises(BadInput, match="finite"):
        load_target(str(path))


# --- 6-10. tracebacks become one line and exit 2, before anything starts ----------------------------

def test_non_utf8_files_are_one_line(tmp_path: Path, capsys) -> None:
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00workload: kv\n\x80\x81")
    assert_one_line(*rcap(capsys, "bench", str(binary))[::2], "not UTF-8")
    assert_one_line(*rcap(capsys, "size", str(binary))[::2], "not UTF-8")
    assert_one_line(*rcap(capsys, "check", "redis://127.0.0.1:1", "--password-file", str(binary))[::2], "not UTF-8")


def test_yaml_alias_bomb_is_refused_at_once(tmp_path: Path, capsys) -> None:
    lines = ["workload: kv", "description: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"x{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
              for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    assert_one_line(*rcap(capsys, "bench", str(bomb))[::2], "anchors and aliases", "bomb.yaml:2")
    assert time.monotonic() - started < 5
    code, _, err = rcap(capsys, "bench", "kv", "--set", "params.mix=&a {get: 1}")
    assert_one_line(code, err, "anchors and aliases")


def test_out_is_checked_before_anything_starts(tmp_path: Path, capsys) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    sealed = tmp_path / "sealed-run"
    sealed.mkdir()
    (sealed / "manifest.json").write_text("{}")
    cases = [(a_file, "is a file"), (a_file / "sub", "is a file"), (sealed, "inside the run directory"),
             (sealed / "nested", "inside the run directory")]
    for out, fragment in cases:
        started = time.monotonic()
        # no --target: a topology would start first if --out were checked late
        assert_one_line(*rcap(capsys, "bench", "kv", "--out", str(out))[::2], fragment)
        assert time.monotonic() - started < 3
        assert_one_line(*rcap(capsys, "sweep", "kv", "--users", "1,2", "--out", str(out))[::2], fragment)


def test_corrupt_run_dir_is_one_line_naming_the_file(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text('{"run_id": "r", "status": "comp')
    assert_one_line(*rcap(capsys, "model", "ceiling", "--runs", str(run))[::2], "manifest.json", "corrupt")
    assert_one_line(*rcap(capsys, "size", "example", "--runs", str(run))[::2], "manifest.json")
    (run / "manifest.json").write_text('{"run_id": "r", "status": "complete"}')
    (run / "summary.json").write_bytes(b'{"total": \xff')
    assert_one_line(*rcap(capsys, "model", "ceiling", "--runs", str(run))[::2], "summary.json")


def test_malformed_url_brackets_are_one_line(capsys) -> None:
    for url in ("redis://[::1:6379", "redis://::1]:6379", "redis+cluster://[::1]:1,[::2:3"):
        assert_one_line(*rcap(capsys, "check", url)[::2], "malformed target URL")


# --- 11-16. clarity and hygiene ---------------------------------------------------------------------

def test_rcap_up_tears_down_on_sigterm(tmp_path: Path) -> None:
    base = tmp_path / "rcap"
    proc = subprocess.Popen([RCAP, "up", "sentinel", "--base-dir", str(base)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    started = []
    while time.monotonic() < deadline and not started:
        started = [p for p in psutil.Process(proc.pid).children(recursive=True) if "redis" in p.name()] \
            if proc.poll() is None else []
        time.sleep(0.05)
    assert started, "rcap up started no redis process"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    gone, alive = psutil.wait_procs([p for p in started if p.is_running()], timeout=10)
    assert not alive
    assert not any(str(base) in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))


def test_warnings_print_as_one_line() -> None:
    from rcap.cli import _format_warning

    text = _format_warning(UserWarning("Redis uses libc,\n not jemalloc"), UserWarning, "/x/y.py", 12, "src")
    assert text == "rcap: warning: Redis uses libc, not jemalloc\n"


def test_tls_and_auth_messages_say_what_is_wrong(standalone_target, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    url = "rediss://127.0.0.1:1"
    for kwargs, fragment in (({"tls_ca": str(tmp_path / "missing.pem")}, "--tls-ca"),
                             ({"tls_ca": str(garbage)}, "not a PEM CA certificate"),
                             ({"tls_cert": str(garbage), "tls_key": str(garbage)}, "--tls-cert")):
        with pytest.raises(BadInput, match=fragment):
            check(Target.parse(url, **kwargs))
    host, port = standalone_target.hosts[0]
    with pytest.raises(TargetError, match="given without a password") as err:
        check(Target.parse(f"redis://nobody@{host}:{port}"))
    assert "requires a password" not in str(err.value)


def test_long_password_is_named_not_a_timeout(topology_factory, tmp_path: Path, capsys) -> None:
    topo = topology_factory("standalone", password="right")
    with pytest.raises(TargetError, match="characters long"):
        check(Target.parse(topo.target.url, password="x" * 100_000))
    long_file = tmp_path / "pw"
    long_file.write_text("y" * 5000 + "\n")
    assert_one_line(*rcap(capsys, "check", topo.target.url, "--password-file", str(long_file))[::2], "longer than")


def test_default_files_are_found_from_any_cwd(tmp_path: Path, monkeypatch) -> None:
    from analysis.report.build import REFERENCE_RUNS, resolve
    from analysis.targets import load_target
    from rcap.cli.report import DEFAULT_TARGET_LOAD

    monkeypatch.chdir(tmp_path)
    assert load_target(DEFAULT_TARGET_LOAD).name
    assert resolve(REFERENCE_RUNS).is_dir()
    assert load_scenario("kv").workload == "kv"


def test_install_script_stops_only_services_it_installed(tmp_path: Path) -> None:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "systemctl.log"

    def stub(name: str, body: str = "exit 0") -> None:
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)

    for present in ("redis-server", "redis-benchmark", "haproxy", "pdftotext", "iptables", "ip", "apt-get", "dpkg"):
        stub(present)
    stub("id", "echo 0")
    stub("ldconfig", "echo libpango-1.0.so libharfbuzz-subset.so")
    stub("systemctl", f'echo "$@" >> {log}')
    os.symlink("/bin/grep", stubs / "grep")
    script = REPO / "scripts" / "install-system.sh"
    result = subprocess.run(["/bin/bash", str(script)], env={"PATH": str(stubs)}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert log.read_text().split("\n")[0] == "stop redis-sentinel"  # installed now: its service is stopped
    assert "redis-server" not in log.read_text()  # already there: someone's Redis, left alone
    assert "stopped the redis-sentinel service" in result.stderr


PROBE_LOCUSTFILE = textwrap.dedent('''
    import json, os
    from locust import User, task, constant
    from loadgen.topology.targets import target_from_env

    PATH = os.environ.get("RCAP_PASSWORD_FILE")
    TARGET = target_from_env()
    with open(os.path.join(os.environ["RCAP_RUN_DIR"], "probe.json"), "w") as fh:
        json.dump({"got": TARGET.password == os.environ.get("PROBE_EXPECT_SHA"),
                   "file_mode": None, "file_gone": PATH is not None and not os.path.exists(PATH),
                   "env_names": sorted(k for k in os.environ if k.startswith("RCAP_"))}, fh)

    class Idle(User):
        wait_time = constant(0.5)

        @task
        def idle(self):
            pass
''')


def test_password_reaches_locust_through_a_private_file_only(topology_factory, tmp_path: Path, monkeypatch) -> None:
    from dataclasses import dataclass, field

    password = "child-env-Secret-77"
    topo = topology_factory("standalone", password=password)
    locustfile = tmp_path / "probe_locustfile.py"
    locustfile.write_text(PROBE_LOCUSTFILE)
    monkeypatch.setenv("RCAP_PASSWORD", password)  # as a user would export it: never inherited
    monkeypatch.setenv("PROBE_EXPECT_SHA", password)

    @dataclass
    class Probe:
        name: str = "probe"
        workload: str = "probe"
        params: dict = field(default_factory=dict)
        users: int = 1
        rate: float | None = None
        prefix: str = "rcapprobe:"

    run_dir = run_bench(Probe(), target=topo.target.url, password=password, duration_s=2, out=tmp_path / "runs",
                        locustfile=locustfile, progress=False)
    probe = json.loads((run_dir / "probe.json").read_text())
    assert probe["got"] and probe["file_gone"]
    assert "RCAP_PASSWORD" not in probe["env_names"] and "RCAP_PASSWORD_FILE" not in probe["env_names"]
    hits = subprocess.run(["grep", "-rlF", password, str(run_dir)], capture_output=True, text=True)
    assert hits.returncode == 1, hits.stdout


def test_spawned_children_never_inherit_the_password(tmp_path: Path, monkeypatch) -> None:
    from loadgen.topology.processes import spawn

    monkeypatch.setenv("RCAP_PASSWORD", "inherited-Secret-1")
    log = tmp_path / "env.log"
    spawn(["env"], str(log), owned=False).wait(timeout=10)
    text = log.read_text()
    assert "PATH=" in text and "inherited-Secret-1" not in text


def test_causes_are_named_from_real_server_errors(topology_factory) -> None:
    """The error texts a real redis-server sends are classified by what they mean."""
    from loadgen.recorder.quality import classify

    topo = topology_factory("standalone")
    admin = topo.client()
    host, port = topo.target.hosts[0]
    texts = {}
    admin.execute_command("ACL", "SETUSER", "limited", "on", ">pw-limited", "~rcap:*", "+@all", "-evalsha")
    limited = redis.Redis(host, port, username="limited", password="pw-limited")
    with pytest.raises(redis.RedisError) as err:
        limited.evalsha("0" * 40, 1, "rcap:x")
    texts["NOPERM"] = f"RequestFailed('EVALSHA pop-work: {err.value}')"
    admin.config_set("maxmemory", 1)
    with pytest.raises(redis.RedisError) as err:
        admin.set("rcap:big", b"x" * 1000)
    texts["OOM"] = str(err.value)
    admin.config_set("maxmemory", 0)
    admin.config_set("maxclients", 1)
    extra = redis.Redis(host, port)
    with pytest.raises(redis.RedisError) as err:
        extra.ping()
    texts["max clients"] = str(err.value)
    for cause, text in texts.items():
        assert classify(text) == cause, text
    admin.config_set("maxclients", 10000)
    limited.close()
    admin.close()


def test_causes_fall_back_on_locust_log_when_the_csv_is_empty(tmp_path: Path) -> None:
    """Locust may write locust_failures.csv before its last failures arrive; its log's error report has them."""
    from loadgen.recorder.quality import read_failures

    (tmp_path / "locust_failures.csv").write_text("Method,Name,Error,Occurrences,First Seen,Last Seen\n")
    (tmp_path / "locust.log").write_text(textwrap.dedent('''\
        Error report
        # occurrences      Error
        ------------------|-----------------------------------------------
        600                redis SET: RequestFailed("SET: READONLY You can't write against a read only replica.")
        12                 redis GET: ConnectionLost('GET: connection closed by server')
        ------------------|-----------------------------------------------
        '''))
    rows = read_failures(tmp_path)
    assert [r["occurrences"] for r in rows] == [600, 12] and "READONLY" in rows[0]["error"]
