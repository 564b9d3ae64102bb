"""Fault drills on the production profile, each during a steady light load of simulated customers.

One command starts ``crm serve --production`` (``bot/production.py``: PostgreSQL customer and
tracker stores, Redis locks and limits, two Rasa processes, the action server, the nginx gateway,
all under supervisord) the way ``bench/load.py`` does, with a private ``redis-server`` on a free
port as its Redis (the machine's own Redis is shared and is never touched), then runs the drills
one at a time. Each drill is one load phase of ``bench/load.py``'s customers (its conversations,
its driver, its tracker-store check), with the fault injected ``--before`` seconds in:

- ``actions``: SIGKILL the action server, or its first process (``actions-1``) where the profile
  runs several (supervisord starts it again; meanwhile the customer must get a reply, the polite
  apology at worst, never silence);
- ``actions-all``: SIGKILL every action-server process at once (no process is left to answer until
  supervisord has started them again: the apology, then normal replies);
- ``rasa``: SIGKILL one Rasa process (the gateway must send its turns to the other);
- ``redis``: SIGKILL the private Redis, start it again on the same port ``--redis-down`` seconds
  later (empty: locks and limits are not persisted);
- ``postgres``: ``pg_terminate_backend`` on every connection to the profile's two databases
  (restarting PostgreSQL itself is not allowed on a shared machine; this is what a restart does
  to the connections the servers hold).

Scored per drill (:func:`score_drill`): turns that were in flight or started from the fault until
recovery, and at least ``OBSERVE_S`` after the fault; the share answered within ``LIMIT_MS`` (a
reply, the apology included), the share answered with the apology, their p95; the recovery time
(from the end of the fault to the first normal turn after the last abnormal one; goal <=
``RECOVERY_GOAL_S``); and every message answered normally during the drill's phase in the tracker
store exactly once, every message answered with the apology at most once (:func:`stored_once`).

    .venv/bin/python bench/fault_drills.py --model models/<model>.tar.gz
    .venv/bin/python bench/fault_drills.py --drills actions --action-timeout 4   # a shorter action deadline

Machines are shared: the latencies are this machine's at that moment, not a capacity figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402  (after the path insert: run as a script)

DRILLS = ("actions", "actions-all", "rasa", "redis", "postgres")
#: a customer waits this long for a reply at most
LIMIT_MS = 5000.0
#: the product answers normally again within this many seconds after the fault
RECOVERY_GOAL_S = 30.0
#: turns started this long after the fault ends count as "during the fault" even when none failed (a killed
#: Rasa process is still down then; the gateway must route around it)
OBSERVE_S = RECOVERY_GOAL_S
ANSWERED = ("ok", "apology")


# --------------------------------------------------------------------------- scoring (pure)


@dataclass(frozen=True)
class DrillScore:
    """What the customers saw from the fault until recovery (or the end of the phase)."""

    turns: int
    answered_share: Optional[float]  # replied (apology included) within LIMIT_MS
    apology_share: Optional[float]
    p95_ms: Optional[float]  # of every turn in the window, failed ones with their time
    errors: dict[str, int]  # what the turns that got no reply in time got instead
    recovery_s: Optional[float]  # None: not answering normally by the end of the phase

    def meets_goal(self, lost: int, dup: int) -> bool:
        return (
            self.answered_share == 1.0
            and self.recovery_s is not None
            and self.recovery_s <= RECOVERY_GOAL_S
            and lost == 0
            and dup == 0
        )


def is_normal(record: dict[str, Any], limit_ms: float = LIMIT_MS) -> bool:
    """A turn answered as when nothing is wrong: 200, a real reply (not the apology), in time."""
    return bool(record["outcome"] == "ok" and record["ms"] <= limit_ms)


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """The nearest-rank ``q`` quantile (``load.summarise``'s convention), None for no values."""
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] if ordered else None


def recovery_after(records: Sequence[dict[str, Any]], fault_start: float, fault_end: float) -> Optional[float]:
    """Seconds from ``fault_end`` until the first normal turn started after the last abnormal one.

    Turns that ended before the fault began do not count. 0 when no turn was abnormal or the
    product was answering normally by the time the fault ended; None when the last turn of the
    phase was still abnormal.
    """
    touched = [r for r in records if r["t"] + r["ms"] / 1000 >= fault_start]
    abnormal = [r["t"] for r in touched if not is_normal(r)]
    if not abnormal:
        return 0.0
    last_bad = max(abnormal)
    later = [r["t"] for r in touched if r["t"] > last_bad and is_normal(r)]
    if not later:
        return None
    return max(0.0, min(later) - fault_end)


def score_drill(records: Sequence[dict[str, Any]], fault_start: float, fault_end: float) -> DrillScore:
    """Score one drill's turns (``load.drive``'s records: start ``t`` in s, ``ms``, ``outcome``).

    The window runs from ``fault_start`` until recovery (the end of the phase if none), and at
    least :data:`OBSERVE_S` past ``fault_end``: a turn counts if it was in flight at the fault or
    started within the window.
    """
    recovery = recovery_after(records, fault_start, fault_end)
    until = fault_end + max(recovery, OBSERVE_S) if recovery is not None else float("inf")
    window = [r for r in records if r["t"] + r["ms"] / 1000 >= fault_start and r["t"] <= until]
    in_time = [r for r in window if r["outcome"] in ANSWERED and r["ms"] <= LIMIT_MS]
    errors: dict[str, int] = {}
    for r in window:
        if r not in in_time:
            kind = r["outcome"] if r["ms"] <= LIMIT_MS else f"over {LIMIT_MS / 1000:.0f} s ({r['outcome']})"
            errors[kind] = errors.get(kind, 0) + 1
    n = len(window)
    return DrillScore(
        turns=n,
        answered_share=len(in_time) / n if n else None,
        apology_share=sum(r["outcome"] == "apology" for r in window) / n if n else None,
        p95_ms=percentile([r["ms"] for r in window], 0.95),
        errors=errors,
        recovery_s=recovery,
    )


def stored_once(target: load.Target, records: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Every normal reply's message in the tracker store exactly once; apologised ones at most once.

    A message answered with the apology may not be stored: when Rasa could not handle it at all (its
    lock store down) the apology asks the customer to send it again, and nothing was written. Those
    are counted (``apologised_not_stored``), not called lost; stored twice is a duplicate either way.
    """
    replied = load.lost_events(replace(target, sent=[r for r in records if r["outcome"] == "ok"]))
    apologised = load.lost_events(replace(target, sent=[r for r in records if r["outcome"] == "apology"]))
    return {
        "checked": replied["checked"] + apologised["checked"],
        "lost": replied["lost"],
        "dup": replied["dup"] + apologised["dup"],
        "apologised_not_stored": apologised["lost"],
    }


# --------------------------------------------------------------------------- the load (child process)


def drive_with_clock(argv: list[str]) -> None:
    """``load.py drive`` after writing the wall-clock time its records count from to ``--epoch-file``.

    locust is imported first, so what runs between the written time and the driver's own start
    is only argument parsing (milliseconds).
    """
    import locust  # noqa: F401  (its import and gevent's patches before the clock is read)

    epoch_file = Path(argv[argv.index("--epoch-file") + 1])
    rest = [a for i, a in enumerate(argv) if a != "--epoch-file" and (i == 0 or argv[i - 1] != "--epoch-file")]
    epoch_file.write_text(repr(time.time()))
    sys.argv = [str(Path(load.__file__)), "drive", *rest]
    load.main()


# --------------------------------------------------------------------------- faults and the stack


class PrivateRedis:
    """A ``redis-server`` of this run on a free loopback port, without persistence (start, kill, start again)."""

    def __init__(self, work: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (apt-get install -y redis-server); the drills need one")
        self.port = load.free_port()
        self.folder = work / "redis"
        self.folder.mkdir(exist_ok=True)
        self.argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")]  # fmt: skip
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(self.argv, start_new_session=True)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.1)
        finally:
            client.close()
        raise SystemExit(f"the private redis-server on port {self.port} did not answer; see {self.folder}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()


@contextmanager
def private_redis(work: Path) -> Iterator[PrivateRedis]:
    """The profile's Redis for this run: the ``CRM_PROD_*`` Redis URLs point at a private server."""
    server = PrivateRedis(work)
    server.start()
    saved = {name: os.environ.get(name) for name in ("CRM_PROD_LOCK_STORE_URL", "CRM_PROD_LIMITS_URL")}
    os.environ["CRM_PROD_LOCK_STORE_URL"] = server.url(1)
    os.environ["CRM_PROD_LIMITS_URL"] = server.url(2)
    try:
        yield server
    finally:
        server.kill()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Supervisor:
    """``supervisorctl`` of the profile ``ours_prod`` started in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.config = folder / "prod" / "supervisor" / "supervisord.conf"

    def ctl(self, *args: str) -> str:
        command = [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(self.config), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout

    def pid(self, program: str) -> int:
        out = self.ctl("pid", program).strip()
        if not out.isdigit() or out == "0":
            raise SystemExit(f"{program} is not running: {self.ctl('status')}")
        return int(out)

    def first_of(self, kind: str) -> str:
        """The program ``kind``, or the first of its kind (``actions-1``) where the profile runs several."""
        names = [line.split()[0] for line in self.ctl("status").splitlines() if line.strip()]
        return kind if kind in names else f"{kind}-1"

    def all_of(self, kind: str) -> list[str]:
        """The programs of ``kind``: ``kind`` itself, or ``kind-1``, ``kind-2`` ... where the profile runs several."""
        names = [line.split()[0] for line in self.ctl("status").splitlines() if line.strip()]
        return [n for n in names if n == kind or (n.startswith(f"{kind}-") and n[len(kind) + 1 :].isdigit())]

    def all_running(self) -> bool:
        lines = [line.split() for line in self.ctl("status").splitlines() if line.strip()]
        return bool(lines) and all(len(parts) > 1 and parts[1] == "RUNNING" for parts in lines)


def wait_ready(supervisor: Supervisor, urls: Sequence[str], timeout: float = 240.0) -> float:
    """Block until every program is RUNNING and every URL answers; the seconds it took."""
    import requests

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if supervisor.all_running():
            try:
                if all(requests.get(url, timeout=3).status_code < 500 for url in urls):
                    return time.monotonic() - started
            except requests.RequestException:
                pass
        time.sleep(1)
    raise SystemExit(f"the profile did not come back within {timeout:.0f} s:\n{supervisor.ctl('status')}")


def wait_normal(gateway: str, timeout: float = 300.0, in_a_row: int = 3) -> float:
    """Block until ``in_a_row`` probe turns through the gateway in a row are answered normally (a reply that is
    not the apology, within :data:`LIMIT_MS`); the seconds it took.

    Every program RUNNING is not enough: a restarted action server is RUNNING long before its workers
    answer, and a drill started then would be scored on the previous fault.
    """
    import requests

    started = time.monotonic()
    normal = 0
    while time.monotonic() - started < timeout:
        t0 = time.monotonic()
        try:
            reply = requests.post(
                f"{gateway}/webhooks/rest/webhook",
                json={"sender": f"probe-{uuid.uuid4().hex[:8]}", "message": "what are your opening hours"},
                timeout=LIMIT_MS / 1000,
            )
            texts = [m.get("text") or "" for m in reply.json()] if reply.status_code == 200 else []
            ok = any(texts) and not any(load.APOLOGY in t for t in texts)
        except (requests.RequestException, ValueError):
            ok = False
        normal = normal + 1 if ok and (time.monotonic() - t0) * 1000 <= LIMIT_MS else 0
        if normal >= in_a_row:
            return time.monotonic() - started
        time.sleep(1)
    raise SystemExit(f"the profile did not answer normally again within {timeout:.0f} s")


def terminate_connections(databases: Sequence[str]) -> int:
    """``pg_terminate_backend`` on every connection to ``databases`` (except ours); how many were dropped."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    admin = create_engine(admin_url.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            rows = conn.execute(
                text(
                    "select pg_terminate_backend(pid) from pg_stat_activity "
                    "where datname = any(:names) and pid <> pg_backend_pid()"
                ),
                {"names": list(databases)},
            ).all()
    finally:
        admin.dispose()
    return sum(bool(r[0]) for r in rows)


# --------------------------------------------------------------------------- one drill


def run_drill(
    name: str,
    target: load.Target,
    inject: Callable[[], tuple[float, float]],
    args: argparse.Namespace,
    work: Path,
    seed: int,
) -> dict[str, Any]:
    """One load phase with ``inject`` called ``args.before`` seconds in (it returns when the fault began and
    ended, wall-clock)."""
    out, epoch_file = work / f"drill-{name}.json", work / f"drill-{name}.epoch"
    seconds = args.before + args.after
    command = [
        sys.executable, str(Path(__file__).resolve()), "drive", "--epoch-file", str(epoch_file),
        "--target", target.url, "--users", str(args.customers), "--seconds", str(seconds), "--think", args.think,
        "--out", str(out), "--bot", "ours", "--seed", str(seed), "--prefix", f"drill-{name}-{uuid.uuid4().hex[:6]}",
        "--spawn-rate", str(max(1.0, args.customers / 5)),
    ]  # fmt: skip
    if target.customers_file:
        command += ["--customers-file", str(target.customers_file)]
    log = work / "drive.log"
    with log.open("ab") as output:
        child = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        try:
            while not epoch_file.exists():
                if child.poll() is not None:
                    raise SystemExit(f"the load driver failed:\n{log.read_text()[-3000:]}")
                time.sleep(0.05)
            time.sleep(0.05)
            epoch = float(epoch_file.read_text())
            time.sleep(max(0.0, epoch + args.before - time.time()))
            began, ended = inject()
            fault_start, fault_end = began - epoch, ended - epoch
            print(f"  {name}: fault from {fault_start:.1f} s to {fault_end:.1f} s of the phase", flush=True)
            status = child.wait(timeout=seconds + 180)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    if status != 0:
        raise SystemExit(f"the load driver failed (status {status}):\n{log.read_text()[-3000:]}")
    records: list[dict[str, Any]] = json.loads(out.read_text())
    score = score_drill(records, fault_start, fault_end)
    check = stored_once(target, records)
    before = [r for r in records if r["t"] + r["ms"] / 1000 < fault_start]
    return {
        "drill": name,
        "fault_s": round(fault_end - fault_start, 1),
        "turns_before": len(before),
        "normal_before": round(sum(is_normal(r) for r in before) / len(before), 3) if before else None,
        "turns": score.turns,
        "answered_in_5s": None if score.answered_share is None else round(score.answered_share, 3),
        "apology": None if score.apology_share is None else round(score.apology_share, 3),
        "p95_ms": None if score.p95_ms is None else round(score.p95_ms),
        "errors": score.errors,
        "recovery_s": None if score.recovery_s is None else round(score.recovery_s, 1),
        **check,
        "goal": score.meets_goal(check["lost"], check["dup"]),
        # the machine's 1-minute load average at the end of the phase (a shared machine: other people's jobs)
        "load_1min": round(os.getloadavg()[0], 1),
    }


def table(rows: list[dict[str, Any]]) -> str:
    def share(x: Optional[float]) -> str:
        return "–" if x is None else f"{100 * x:.0f} %"

    lines = [
        "| drill | fault | turns in fault | answered ≤ 5 s | with apology | p95 | back to normal after | "
        "answered msgs checked | lost / dup | apologised, not stored | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        recovery = "not by the end" if r["recovery_s"] is None else f"{r['recovery_s']:.1f} s"
        p95 = "–" if r["p95_ms"] is None else f"{r['p95_ms']:,} ms"
        lines.append(
            f"| {r['drill']} | {r['fault_s']:.1f} s | {r['turns']} | {share(r['answered_in_5s'])} | "
            f"{share(r['apology'])} | {p95} | {recovery} | {r['checked']} | {r['lost']} / {r['dup']} | "
            f"{r['apologised_not_stored']} | {'met' if r['goal'] else 'MISSED'} |"
        )
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["drive"]:
        drive_with_clock(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="our model (default: newest in models/)")
    parser.add_argument("--drills", default=",".join(DRILLS), help=f"comma-separated, of {', '.join(DRILLS)}")
    parser.add_argument("--customers", type=int, default=10, help="simulated customers during each drill")
    parser.add_argument("--think", default="2-5", help="seconds between a customer's turns, LOW-HIGH")
    parser.add_argument("--before", type=float, default=20.0, help="seconds of load before the fault")
    parser.add_argument("--after", type=float, default=50.0, help="seconds of load after the fault starts")
    parser.add_argument("--redis-down", type=float, default=10.0, help="seconds the redis drill keeps Redis down")
    parser.add_argument("--processes", type=int, default=2, help="Rasa processes of the profile")
    parser.add_argument(
        "--action-timeout", type=float, help="CRM_ACTION_TIMEOUT_SECONDS for the profile (default: the product's)"
    )
    args = parser.parse_args()
    drills = [d for d in args.drills.split(",") if d]
    unknown = sorted(set(drills) - set(DRILLS))
    if unknown:
        parser.error(f"unknown drill {', '.join(unknown)}; choose from {', '.join(DRILLS)}")
    if "-" not in args.think:
        parser.error("--think is LOW-HIGH seconds, e.g. 2-5")
    if args.customers < 1 or args.before <= 0 or args.after <= args.redis_down:
        parser.error("--customers must be at least 1, --before positive and --after longer than --redis-down")
    if "rasa" in drills and args.processes < 2:
        parser.error("the rasa drill needs --processes 2 or more (the gateway routes around the killed one)")
    from bot.launch import newest_model

    # SIGTERM stops like Ctrl-C: the profile, the private Redis and this run's databases go with it
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    model = (args.model or newest_model()).resolve()
    if not model.exists():
        parser.error(f"model {model} does not exist; train one (`make train`)")
    if args.action_timeout is not None:
        if not 0 < args.action_timeout <= 300:
            parser.error("--action-timeout is seconds, above 0 and at most 300")
        os.environ["CRM_ACTION_TIMEOUT_SECONDS"] = f"{args.action_timeout:g}"
    run = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="crm-drills-"))
    names = [f"crm_load_{run}", f"crm_load_{run}_tracker"]
    rows: list[dict[str, Any]] = []
    try:
        with private_redis(work) as redis_server, load.postgres_databases(names) as databases:
            print(f"starting the production profile ({args.processes} Rasa processes) ...", flush=True)
            folder = work / "ours-prod"
            folder.mkdir()
            with load.ours_prod(folder, model, args.processes, databases, run) as target:
                supervisor = Supervisor(folder)
                ctl_status = supervisor.ctl("status")
                print(ctl_status, flush=True)
                ready_urls = [f"{target.url}/webhooks/rest/"]

                def kill(program: str) -> Callable[[], tuple[float, float]]:
                    def inject() -> tuple[float, float]:
                        pid = supervisor.pid(program)
                        began = time.time()
                        os.kill(pid, signal.SIGKILL)
                        return began, began

                    return inject

                def kill_all(kind: str) -> Callable[[], tuple[float, float]]:
                    def inject() -> tuple[float, float]:
                        pids = [supervisor.pid(program) for program in supervisor.all_of(kind)]
                        began = time.time()
                        for pid in pids:
                            os.kill(pid, signal.SIGKILL)
                        print(f"  {kind}: {len(pids)} processes killed", flush=True)
                        return began, began

                    return inject

                def redis_outage() -> tuple[float, float]:
                    began = time.time()
                    redis_server.kill()
                    time.sleep(args.redis_down)
                    redis_server.start()
                    return began, time.time()

                def drop_connections() -> tuple[float, float]:
                    began = time.time()
                    dropped = terminate_connections(list(names))
                    ended = time.time()
                    print(f"  postgres: {dropped} connections terminated", flush=True)
                    return began, ended

                injectors = {
                    "actions": kill(supervisor.first_of("actions")),
                    "actions-all": kill_all("actions"),
                    "rasa": kill("rasa-1"),
                    "redis": redis_outage,
                    "postgres": drop_connections,
                }
                print(f"answering normally after {wait_normal(target.url):.0f} s", flush=True)
                for seed, name in enumerate(drills):
                    print(f"drill {name} ...", flush=True)
                    row = run_drill(name, target, injectors[name], args, work, seed)
                    rows.append(row)
                    print(f"  {json.dumps(row)}", flush=True)
                    print(f"  back to all RUNNING after {wait_ready(supervisor, ready_urls):.0f} s more", flush=True)
                    print(f"  answering normally after {wait_normal(target.url):.0f} s more", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    deadline = f"CRM_ACTION_TIMEOUT_SECONDS={args.action_timeout:g}" if args.action_timeout else "the default"
    print(
        f"\n{args.customers} customers, {args.think} s think time; fault {args.before:.0f} s into a "
        f"{args.before + args.after:.0f} s phase; action deadline {deadline}"
    )
    print(table(rows))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
