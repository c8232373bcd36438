#!/usr/bin/env python3
"""Sluice load bench: Sluice vs PgBouncer vs direct PostgreSQL under pgbench.

Run through `benches/loadbench.sh` (which builds what is needed), or:

    python3 benches/loadbench.py --quick|--full [--phases load,latency,callgrind,syscalls,idle,tls]
        [--sluice PATH] [--pgbouncer PATH] [--idleclients PATH] [--out DIR]

What it does, in order:
  1. initdb a throwaway PostgreSQL 15 on a free loopback port (as the
     `postgres` OS user when run as root), roles `bench_scram` (SCRAM) and
     `bench_md5` (md5), `pgbench -i`.
  2. Writes ONE pgbouncer.ini + userlist.txt (transaction mode, pool 20,
     auth_type md5 = SCRAM for SCRAM secrets, md5 for md5 ones). Sluice and
     PgBouncer each get a copy that differs only in listen_port, logfile and
     pidfile.
  3. Phases (see --phases):
     load      pgbench cases, each target in turn, A/B/D then D/B/A ...,
               several rounds; median tps, pooler CPU per 100k transactions.
     latency   p50/p99/max latency and per-client fairness at 1,000 (and in
               full mode 10,000) clients, from pgbench --log.
     callgrind user-space instructions per transaction: the pooler under
               valgrind --tool=callgrind, runs of N and 2N transactions at
               8 clients, (I(2N) - I(N)) / N.
     syscalls  system calls per transaction: strace -c on every pooler
               thread during N transactions at 8 clients.
     idle      resident memory per idle authenticated client (RSS delta / N).
     tls       TLS on the client leg of all three targets (throwaway ECDSA
               P-256 CA and localhost certificate from the openssl CLI,
               Postgres `ssl = on`, the poolers `client_tls_sslmode =
               require`, pgbench with PGSSLMODE=require): select-only and
               -C churn (a handshake per transaction) cases as in `load`, a
               check that the traffic really is TLS, the poolers again with
               `server_tls_sslmode = require` (both legs), and callgrind
               instructions per TLS transaction and per TLS connection.
  4. Writes results.json and report.md into the output dir and prints the
     report.

Every process it starts is stopped by PID on exit, also on error or Ctrl-C.
Load goes to 127.0.0.1 only. Ports are picked below Linux's ephemeral range
so outgoing connections cannot steal them mid-run.
"""

import argparse
import datetime
import json
import os
import pwd
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PG_BINDIR = os.environ.get("SLUICE_PG_BINDIR", "/usr/lib/postgresql/15/bin")
DB = "bench"
SCALE = 10
POOL_SIZE = 20
# callgrind and strace phases: 8 clients on a pool of 8.
CALLGRIND_CLIENTS = 8
USERS = {
    # name: (password, password_encryption)
    "bench_scram": ("scrampass", "scram-sha-256"),
    "bench_md5": ("md5pass", "md5"),
}
IS_ROOT = os.geteuid() == 0

# Case: (name, pgbench args, clients, user). Users: SCRAM unless the case is
# about logins, where pgbench's own client-side SCRAM (~7 ms CPU per login)
# would be measured instead of the pooler.
SELECT = ["-S"]


def load_cases(full):
    counts = [1, 16, 64, 256, 1000] if full else [1, 16, 256]
    cases = []
    for proto in ("simple", "extended"):
        for c in counts:
            cases.append((f"select-only {proto}", SELECT + ["-M", proto], c, "bench_scram"))
    for c in [16, 256] if full else [16]:
        cases.append(("select-only prepared", SELECT + ["-M", "prepared"], c, "bench_scram"))
    for c in [16, 64] if full else [16]:
        cases.append(("tpcb-like", ["-M", "simple"], c, "bench_scram"))
    cases.append(("churn -C (md5)", SELECT + ["-M", "simple", "-C"], 16, "bench_md5"))
    return cases


# TLS phase. Churn keeps md5 for the same reason as in load_cases; there
# every transaction is a new connection, so tps = TLS handshakes per second.
TLS_CHURN = ("TLS churn -C (md5), tps = handshakes/s", SELECT + ["-M", "simple", "-C"], 16, "bench_md5")


def tls_cases():
    """The same in quick and full mode: full only runs them longer."""
    cases = []
    for proto in ("simple", "extended"):
        for c in (16, 64):
            cases.append((f"TLS select-only {proto}", SELECT + ["-M", proto], c, "bench_scram"))
    cases.append(TLS_CHURN)
    return cases


def tls_both_legs_cases(full):
    """The poolers with TLS towards Postgres too. Churn is left out: in
    transaction mode server connections outlive clients, so it would measure
    the client leg again."""
    return [(f"TLS both legs select-only {proto}", SELECT + ["-M", proto], c, "bench_scram")
            for proto in ("simple", "extended") for c in ((16, 64) if full else (16,))]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.procs = []  # Popen objects we started, stopped at the end
        self.pg_started = False
        self.base = tempfile.mkdtemp(prefix="sluice-bench-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.used_ports = set()
        self.results = {"cases": [], "latency": [], "callgrind": [], "syscalls": [], "idle": [],
                        "tls": [], "tls_checks": [], "tls_callgrind": [], "notes": []}
        self.tls_dir = None  # certificates, made when the tls phase runs
        self.pg_uid = pwd.getpwnam("postgres") if IS_ROOT else None

    # ---- helpers -----------------------------------------------------

    def free_port(self):
        """A free loopback port in 20000-32767 (below the ephemeral range)."""
        while True:
            port = random.randint(20000, 32000)
            if port in self.used_ports:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            self.used_ports.add(port)
            return port

    def as_pg(self, cmd):
        # setpriv, not runuser: runuser's PAM session resets RLIMIT_NOFILE
        # to 1024, too few for 1,000+ clients.
        if not IS_ROOT:
            return cmd
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] + cmd

    def give_to_pg(self, path):
        if IS_ROOT:
            os.chown(path, self.pg_uid.pw_uid, self.pg_uid.pw_gid)

    def env(self, password=None, sslmode="disable"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGSSLMODE"] = sslmode
        env["PGPASSFILE"] = "/nonexistent"
        env["PGCONNECT_TIMEOUT"] = "30"
        if password:
            env["PGPASSWORD"] = password
        return env

    def run(self, cmd, **kw):
        kw.setdefault("env", self.env())
        out = subprocess.run(cmd, capture_output=True, text=True, **kw)
        if out.returncode != 0:
            raise RuntimeError(f"{cmd[:6]} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def psql(self, sql, db="postgres"):
        return self.run(
            self.as_pg([f"{PG_BINDIR}/psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                        "-h", self.sockdir, "-p", str(self.pg_port), "-U", "postgres",
                        "-d", db, "-c", sql])
        ).strip()

    def spawn(self, cmd, **kw):
        kw.setdefault("env", self.env())
        p = subprocess.Popen(cmd, **kw)
        self.procs.append(p)
        return p

    # ---- TLS certificates -----------------------------------------------

    def make_certs(self):
        """A throwaway CA and a server certificate for localhost/127.0.0.1,
        both ECDSA P-256 (what most deployments use, and the cheaper
        handshake signature next to RSA-2048). Postgres and both poolers
        present the same certificate, so the handshakes cost the same."""
        d = os.path.join(self.base, "tls")
        os.mkdir(d)
        curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self.run(["openssl", "req", "-x509", *curve, "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt",
                  "-days", "2", "-subj", "/CN=sluice bench CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        self.run(["openssl", "req", "-new", *curve, "-keyout", f"{d}/server.key",
                  "-out", f"{d}/server.csr", "-subj", "/CN=localhost"])
        with open(f"{d}/server.ext", "w") as f:
            f.write("subjectAltName = DNS:localhost, IP:127.0.0.1\n"
                    "basicConstraints = critical, CA:FALSE\n"
                    "keyUsage = critical, digitalSignature\n"
                    "extendedKeyUsage = serverAuth\n")
        self.run(["openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.crt",
                  "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-days", "2",
                  "-extfile", f"{d}/server.ext", "-out", f"{d}/server.crt"])
        # Postgres refuses a key others can read; PgBouncer runs as the
        # same user as Postgres, Sluice as us (root, or that same user).
        os.chmod(f"{d}/server.key", 0o600)
        self.give_to_pg(f"{d}/server.key")
        self.tls_dir = d

    # ---- PostgreSQL ----------------------------------------------------

    def start_postgres(self, tls=False):
        pgdir = os.path.join(self.base, "pg")
        os.mkdir(pgdir, 0o700)
        self.give_to_pg(pgdir)
        self.sockdir = os.path.join(pgdir, "sock")
        os.mkdir(self.sockdir)
        self.give_to_pg(self.sockdir)
        self.pgdata = os.path.join(pgdir, "data")
        self.run(self.as_pg([f"{PG_BINDIR}/initdb", "-U", "postgres", "--auth=trust", "-E", "UTF8",
                             "--locale=C", "--no-sync", "-D", self.pgdata]))
        self.pg_port = self.free_port()
        # Direct cases run up to 1,000 clients; 10,000 direct is skipped.
        conf = f"""
listen_addresses = '127.0.0.1'
port = {self.pg_port}
unix_socket_directories = '{self.sockdir}'
max_connections = 1100
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
max_wal_size = 4GB
log_min_messages = warning
"""
        if tls:
            # Only the tls phase's clients ask for TLS (everyone else runs
            # with PGSSLMODE=disable, and the poolers' server leg is
            # pinned by pooler_ini), so the other phases are unchanged.
            self.make_certs()
            conf += f"""ssl = on
ssl_cert_file = '{self.tls_dir}/server.crt'
ssl_key_file = '{self.tls_dir}/server.key'
"""
        hba = """local all all trust
host all bench_md5 127.0.0.1/32 md5
host all bench_scram 127.0.0.1/32 scram-sha-256
"""
        with open(os.path.join(self.pgdata, "postgresql.conf"), "a") as f:
            f.write(conf)
        with open(os.path.join(self.pgdata, "pg_hba.conf"), "w") as f:
            f.write(hba)
        self.pg_log = os.path.join(pgdir, "postgres.log")
        self.run(self.as_pg([f"{PG_BINDIR}/pg_ctl", "start", "-w", "-t", "60", "-D", self.pgdata,
                             "-l", self.pg_log]))
        self.pg_started = True
        sql = []
        for user, (password, enc) in USERS.items():
            sql.append(f"SET password_encryption = '{enc}'; "
                       f"CREATE ROLE {user} LOGIN PASSWORD '{password}';")
        self.psql(" ".join(sql))
        self.psql(f"CREATE DATABASE {DB}")
        log(f"postgres on port {self.pg_port}; pgbench -i -s {SCALE}")
        self.run(self.as_pg([f"{PG_BINDIR}/pgbench", "-i", "-q", "-s", str(SCALE), "-h", self.sockdir,
                             "-p", str(self.pg_port), "-U", "postgres", DB]))
        users = ", ".join(USERS)
        self.psql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {users}; "
                  f"GRANT ALL ON SCHEMA public TO {users}", db=DB)
        self.psql("VACUUM ANALYZE", db=DB)
        self.secrets = dict(
            line.split("|", 1)
            for line in self.psql(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE 'bench_%'"
            ).splitlines()
        )

    def stop_postgres(self):
        if self.pg_started:
            subprocess.run(self.as_pg([f"{PG_BINDIR}/pg_ctl", "stop", "-m", "immediate", "-w",
                                       "-D", self.pgdata]), capture_output=True)
            self.pg_started = False

    # ---- poolers -------------------------------------------------------

    def pooler_ini(self, port, rundir, pool_size=POOL_SIZE, tls=None):
        """`tls`: None = plaintext; "client" = clients must use TLS, the
        server leg stays plaintext; "both" = TLS towards Postgres too."""
        # Both poolers default to server_tls_sslmode = prefer, which would
        # silently switch the server leg to TLS once Postgres has ssl = on.
        server_tls = f"server_tls_sslmode = {'require' if tls == 'both' else 'disable'}\n"
        if tls:
            # stats_users: the tls check reads SHOW CLIENTS's tls column.
            server_tls += f"""client_tls_sslmode = require
client_tls_key_file = {self.tls_dir}/server.key
client_tls_cert_file = {self.tls_dir}/server.crt
stats_users = bench_md5
"""
        return f"""[databases]
{DB} = host=127.0.0.1 port={self.pg_port} dbname={DB}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = md5
auth_file = {self.base}/userlist.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 12000
listen_backlog = 4096
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
logfile = {rundir}/pooler.log
pidfile = {rundir}/pooler.pid
{server_tls}"""

    def write_userlist(self):
        path = os.path.join(self.base, "userlist.txt")
        with open(path, "w") as f:
            for user, secret in sorted(self.secrets.items()):
                f.write(f'"{user}" "{secret}"\n')
        os.chmod(path, 0o644)

    def start_pooler(self, kind, tag, valgrind_out=None, pool_size=POOL_SIZE, tls=None):
        """Start `kind` ('sluice' or 'pgbouncer'); returns a dict with port and pid.
        `tls` as in pooler_ini."""
        rundir = tempfile.mkdtemp(prefix=f"{kind}-{tag}-", dir=self.base)
        os.chmod(rundir, 0o755)
        port = self.free_port()
        ini = os.path.join(rundir, "pgbouncer.ini")
        with open(ini, "w") as f:
            f.write(self.pooler_ini(port, rundir, pool_size, tls))
        os.chmod(ini, 0o644)
        vg = []
        if valgrind_out:
            vg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={valgrind_out}"]
        if kind == "sluice":
            cmd = vg + [self.args.sluice, "-q", ini]
        else:
            self.give_to_pg(rundir)
            cmd = self.as_pg(vg + [self.args.pgbouncer, "-q", ini])
        stderr = open(os.path.join(rundir, "stderr.log"), "w")
        proc = self.spawn(cmd, stdout=stderr, stderr=stderr, stdin=subprocess.DEVNULL)
        pidfile = os.path.join(rundir, "pooler.pid")
        deadline = time.time() + (120 if valgrind_out else 30)
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} exited ({proc.returncode}); see {rundir}")
            if os.path.exists(pidfile) and port_open(port):
                with open(pidfile) as f:
                    text = f.read().strip()
                if text:
                    return {"kind": kind, "port": port, "pid": int(text), "proc": proc,
                            "rundir": rundir, "opts": {"pool_size": pool_size, "tls": tls}}
            time.sleep(0.1)
        raise RuntimeError(f"{kind} did not start listening on {port}; see {rundir}")

    def stop_pooler(self, pooler, timeout=60):
        proc = pooler["proc"]
        if proc.poll() is None:
            try:
                os.kill(pooler["pid"], signal.SIGINT if pooler["kind"] == "pgbouncer" else signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(pooler["pid"], signal.SIGKILL)
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def cleanup(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    p.terminate()
                    p.wait(10)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    p.kill()
                    p.wait()
        self.procs.clear()
        self.stop_postgres()
        if not self.args.keep:
            shutil.rmtree(self.base, ignore_errors=True)

    # ---- pgbench ---------------------------------------------------------

    def pgbench_cmd(self, target, user, extra, clients, secs=None, txns=None, log_prefix=None):
        cmd = [f"{PG_BINDIR}/pgbench", "-n", "-h", "127.0.0.1", "-p", str(target["port"]),
               "-U", user, "-c", str(clients), "-j", "2"] + extra
        if secs and target.get("kind") == "direct" and clients >= 500:
            # pgbench's -T clock runs while it logs in; 1,000 direct logins
            # (a backend fork each) can take the whole run on 2 cores. Its
            # tps excludes the login time, so a longer run only adds samples.
            secs += clients // 50
        cmd += ["-T", str(secs)] if secs else ["-t", str(txns)]
        if log_prefix:
            cmd += ["--log", f"--log-prefix={log_prefix}"]
        cmd.append(DB)
        return cmd, secs

    def pgbench(self, target, user, extra, clients, secs=None, txns=None, log_prefix=None,
                sslmode="disable"):
        cmd, secs = self.pgbench_cmd(target, user, extra, clients, secs, txns, log_prefix)
        pid = target.get("pid")
        cpu0 = proc_cpu(pid) if pid else None
        t0 = time.time()
        out = subprocess.run(cmd, capture_output=True, text=True, env=self.env(USERS[user][0], sslmode),
                             timeout=(secs or 60) + 600, cwd=self.base)
        cpu = proc_cpu(pid) - cpu0 if pid else None
        res = {"rc": out.returncode, "wall": time.time() - t0, "cpu": cpu}
        m = re.search(r"tps = ([0-9.]+)", out.stdout)
        res["tps"] = float(m.group(1)) if m and out.returncode == 0 else None
        m = re.search(r"number of transactions actually processed: (\d+)", out.stdout)
        res["txns"] = int(m.group(1)) if m else 0
        m = re.search(r"number of failed transactions: (\d+)", out.stdout)
        res["failed_txns"] = int(m.group(1)) if m else 0
        if res["tps"] is None and out.returncode == 0 and res["txns"] == 0:
            res["error"] = "no transaction in the run (the logins took the whole duration)"
        elif res["tps"] is None:
            errors = [line for line in out.stderr.splitlines() if "error" in line.lower()]
            res["error"] = (errors or out.stderr.strip().splitlines() or ["?"])[0][:200]
            res["stdout_tail"] = out.stdout[-500:]
        return res

    # ---- phases ------------------------------------------------------------

    def targets(self, poolers):
        t = {"sluice": poolers["sluice"]}
        if "pgbouncer" in poolers:
            t["pgbouncer"] = poolers["pgbouncer"]
        t["direct"] = {"kind": "direct", "port": self.pg_port}
        return t

    def ensure_running(self, poolers):
        for kind, p in list(poolers.items()):
            if p["proc"].poll() is not None:
                self.results["notes"].append(f"{kind} died (rc {p['proc'].returncode}); restarted")
                log(f"{kind} died; restarting")
                poolers[kind] = self.start_pooler(kind, "restart", **p["opts"])

    def run_cases(self, poolers, cases, into, sslmode="disable", skip_for=lambda name: {}):
        """Each case on every target, A/B/D then D/B/A ..., appended to
        `into`. skip_for(name) -> {target: reason} for targets left out."""
        full = self.args.full
        rounds, secs = (3, 10) if full else (2, 3)
        wanted = self.args.cases.split(",") if self.args.cases else None
        for name, extra, clients, user in cases:
            if wanted and not any(w in name for w in wanted):
                continue
            targets = self.targets(poolers)
            skip = {k: why for k, why in skip_for(name).items() if k in targets}
            case = {"case": name, "clients": clients, "user": user, "runs": {}, "skipped": skip}
            order = [k for k in targets if k not in skip]
            for r in range(rounds):
                for kind in (order if r % 2 == 0 else list(reversed(order))):
                    self.ensure_running(poolers)
                    targets = self.targets(poolers)
                    res = self.pgbench(targets[kind], user, extra, clients, secs=secs, sslmode=sslmode)
                    case["runs"].setdefault(kind, []).append(res)
                    log(f"{name} c={clients} {kind} round {r + 1}: "
                        + (f"{res['tps']:.0f} tps" if res["tps"] else f"FAILED {res.get('error')}"))
            into.append(case)

    def phase_load(self, poolers):
        def skip_for(name):
            if "prepared" in name:
                return {"pgbouncer": "PgBouncer < 1.21 has no max_prepared_statements"}
            return {}

        self.run_cases(poolers, load_cases(self.args.full), self.results["cases"], skip_for=skip_for)

    def phase_latency(self, poolers):
        counts = [1000, 10000] if self.args.full else [1000]
        secs = 15 if self.args.full else 4
        for clients in counts:
            for kind, target in self.targets(poolers).items():
                entry = {"clients": clients, "target": kind}
                if kind == "direct" and clients > 1000:
                    entry["skipped"] = "max_connections = 1100"
                    self.results["latency"].append(entry)
                    continue
                self.ensure_running(poolers)
                target = self.targets(poolers)[kind]
                logdir = tempfile.mkdtemp(prefix=f"lat-{kind}-{clients}-", dir=self.base)
                prefix = os.path.join(logdir, "lat")
                res = self.pgbench(target, "bench_md5", SELECT + ["-M", "simple"], clients,
                                   secs=secs, log_prefix=prefix)
                entry.update(res)
                entry.update(latency_stats(logdir, clients))
                shutil.rmtree(logdir, ignore_errors=True)
                log(f"latency c={clients} {kind}: tps {entry.get('tps')} p50 {entry.get('p50_ms')} ms "
                    f"p99 {entry.get('p99_ms')} ms, clients without a txn {entry.get('starved')}, "
                    f"p50 per pgbench thread {entry.get('p50_ms_per_pgbench_thread')}")
                self.results["latency"].append(entry)

    def phase_callgrind(self):
        """(Ir(2N) - Ir(N)) / N, median over --callgrind-reps pairs. The pool
        is 8 for the 8 clients and a warm-up fills it, so neither run opens
        server connections of its own (PgBouncer opens more whenever a
        client waits, up to the pool size, which made the difference noisy)."""
        n = self.args.callgrind_txns
        for mode in ("simple", "extended"):
            for kind in self.pooler_kinds():
                pairs = self.callgrind_pairs(kind, mode, SELECT + ["-M", mode], n,
                                             reps=self.args.callgrind_reps or 3)
                self.results["callgrind"].append(
                    {"pooler": kind, "mode": mode, "N": n, "per_txn_each": pairs,
                     "per_txn": statistics.median(pairs) if pairs else None})

    def pooler_kinds(self):
        return ["sluice"] + (["pgbouncer"] if self.args.pgbouncer else [])

    def callgrind_pairs(self, kind, label, extra, n, tls=None, reps=3):
        """(Ir(2N) - Ir(N)) / N for each of `reps` pairs of runs of
        `kind` under callgrind, pgbench `extra` at 8 clients (PGSSLMODE=require
        when `tls`, which is start_pooler's). Output files are kept in
        <out>/callgrind/callgrind.<kind>.<label>.<txns>.<rep>."""
        sslmode = "require" if tls else "disable"
        outdir = os.path.join(self.args.out, "callgrind")
        os.makedirs(outdir, exist_ok=True)
        vgdir = os.path.join(self.base, "vg")
        os.makedirs(vgdir, exist_ok=True)
        os.chmod(vgdir, 0o777)
        pairs = []
        for rep in range(reps):
            totals = {}
            for txns in (n, 2 * n):
                out = os.path.join(vgdir, f"callgrind.{kind}.{label}.{txns}.{rep}")
                pooler = self.start_pooler(kind, f"vg-{label}-{txns}", valgrind_out=out,
                                           pool_size=CALLGRIND_CLIENTS, tls=tls)
                target = {"port": pooler["port"]}
                try:
                    # The warm-up only fills the pool: no -C, which would
                    # add 100 handshakes to both runs for nothing.
                    warm = self.pgbench(target, "bench_md5", [a for a in extra if a != "-C"],
                                        CALLGRIND_CLIENTS, txns=100, sslmode=sslmode)
                    res = self.pgbench(target, "bench_md5", extra, CALLGRIND_CLIENTS,
                                       txns=txns // CALLGRIND_CLIENTS, sslmode=sslmode)
                finally:
                    self.stop_pooler(pooler, timeout=120)
                ok = warm["rc"] == 0 and res["rc"] == 0
                totals[txns] = callgrind_total(out) if ok else None
                shutil.copy(out, outdir)
                log(f"callgrind {kind} {label} {txns} txns: {totals[txns]} Ir"
                    + ("" if ok else f" (pgbench failed: {res.get('error') or warm.get('error')})"))
            if totals[n] is not None and totals[2 * n] is not None:
                pairs.append((totals[2 * n] - totals[n]) / n)
        return pairs

    def phase_syscalls(self):
        """Syscalls per transaction: strace -c attached to the whole pooler
        (every thread) for N select-only transactions at 8 clients."""
        n = self.args.callgrind_txns
        for mode in ("simple", "extended"):
            for kind in self.pooler_kinds():
                pooler = self.start_pooler(kind, f"strace-{mode}", pool_size=CALLGRIND_CLIENTS)
                out = os.path.join(self.base, f"strace.{kind}.{mode}")
                tracer = None
                try:
                    target = {"port": pooler["port"]}
                    self.pgbench(target, "bench_md5", SELECT + ["-M", mode], CALLGRIND_CLIENTS, txns=100)
                    tracer = self.spawn(["strace", "-f", "-c", "-o", out, "-p", str(pooler["pid"])],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(1.0)
                    res = self.pgbench(target, "bench_md5", SELECT + ["-M", mode], CALLGRIND_CLIENTS,
                                       txns=n // CALLGRIND_CLIENTS)
                finally:
                    if tracer is not None:
                        tracer.send_signal(signal.SIGINT)
                        tracer.wait(30)
                        self.procs.remove(tracer)
                    self.stop_pooler(pooler)
                calls = strace_calls(out) if res["rc"] == 0 else {}
                total = sum(calls.values())
                top = sorted(calls.items(), key=lambda kv: -kv[1])[:5]
                entry = {"pooler": kind, "mode": mode, "N": n, "per_txn": total / n if calls else None,
                         "top": {name: round(c / n, 2) for name, c in top}}
                log(f"syscalls {kind} {mode}: {entry['per_txn']} per txn, top {entry['top']}")
                self.results["syscalls"].append(entry)

    def phase_idle(self):
        counts = [1000, 10000]
        for n in counts:
            for kind in self.pooler_kinds():
                pooler = self.start_pooler(kind, f"idle-{n}")
                holders = []
                try:
                    conn = (f"host=127.0.0.1 port={pooler['port']} user=bench_md5 "
                            f"password={USERS['bench_md5'][0]} dbname={DB}")
                    # One client first so the pool has its server and the
                    # pooler its steady state; the baseline includes it.
                    holders.append(self.hold_idle(conn, 1))
                    time.sleep(0.5)
                    rss0 = proc_rss(pooler["pid"])
                    holder = self.hold_idle(conn, n)
                    holders.append(holder)
                    time.sleep(1.0)
                    rss1 = proc_rss(pooler["pid"])
                    entry = {"pooler": kind, "clients": n, "opened": holder["opened"],
                             "rss_before": rss0, "rss_after": rss1,
                             "bytes_per_client": (rss1 - rss0) / max(holder["opened"], 1)}
                finally:
                    for h in holders:
                        self.release_idle(h)
                    self.stop_pooler(pooler)
                log(f"idle {kind} {n}: opened {entry['opened']}, "
                    f"{entry['bytes_per_client']:.0f} B/client")
                self.results["idle"].append(entry)

    def phase_tls(self):
        """Client leg TLS on all three targets, then the poolers again with
        TLS on the server leg too, then callgrind over TLS."""
        for tls, variant, cases in (("client", "client leg", tls_cases()),
                                    ("both", "both legs", tls_both_legs_cases(self.args.full))):
            poolers = {kind: self.start_pooler(kind, f"tls-{tls}", tls=tls)
                       for kind in self.pooler_kinds()}
            try:
                for kind, target in self.targets(poolers).items():
                    if kind == "direct" and tls == "both":
                        continue  # it has no server leg; checked with the client leg
                    self.tls_check(kind, target, variant)
                direct = {"direct": "no server leg: the same as in the client-leg rows"}
                self.run_cases(poolers, cases, self.results["tls"], sslmode="require",
                               skip_for=lambda name: direct if tls == "both" else {})
            finally:
                for p in poolers.values():
                    self.stop_pooler(p)
        if not shutil.which("valgrind"):
            self.results["notes"].append("valgrind not found: no TLS callgrind figures")
            return
        # Per transaction: the N/2N difference cancels the handshakes, so this
        # is the record layer. Per connection (-C): handshake + md5 login +
        # one transaction, with fewer N as each costs ~100x a transaction.
        n, n_churn = self.args.callgrind_txns, self.args.callgrind_churn_txns
        # The N/2N difference barely moves between pairs (see the callgrind
        # table's "each" columns), so quick mode takes one pair: three would
        # triple the phase's run time, valgrind being slow to start.
        reps = self.args.callgrind_reps or (3 if self.args.full else 1)
        for label, extra, count in (("simple", SELECT + ["-M", "simple"], n),
                                    ("extended", SELECT + ["-M", "extended"], n),
                                    ("simple -C", TLS_CHURN[1], n_churn)):
            for kind in self.pooler_kinds():
                pairs = self.callgrind_pairs(kind, "tls-" + label.replace(" ", ""), extra, count,
                                             tls="client", reps=reps)
                self.results["tls_callgrind"].append(
                    {"pooler": kind, "mode": label, "N": count, "per_txn_each": pairs,
                     "per_txn": statistics.median(pairs) if pairs else None})

    def tls_check(self, kind, target, variant):
        """Is what the tls phase measures really TLS? Against `target`:
        verify-full as localhost (the certificate is sound), plaintext
        refused (poolers: client_tls_sslmode = require), and, during a short
        pgbench run with PGSSLMODE=require, the tls column of the pooler's
        SHOW CLIENTS for pgbench's connections and pg_stat_ssl of the
        bench_scram backends (for direct: pgbench's connections; for a
        pooler: its server connections, i.e. the server leg)."""
        entry = {"target": kind, "variant": variant}
        conn = f"host=localhost hostaddr=127.0.0.1 port={target['port']}"
        ok, _ = self.try_psql(f"{conn} dbname={DB} user=bench_md5 sslmode=verify-full "
                              f"sslrootcert={self.tls_dir}/ca.crt", "SELECT 1")
        entry["verify_full"] = ok
        ok, out = self.try_psql(f"{conn} dbname={DB} user=bench_md5 sslmode=disable", "SELECT 1")
        if ok:
            entry["plaintext"] = "accepted" if kind != "direct" else "accepted (hba allows both)"
        else:
            entry["plaintext"] = "refused (" + out.strip().splitlines()[-1].split("FATAL:")[-1].strip()[:80] + ")"
        cmd, _ = self.pgbench_cmd(target, "bench_scram", SELECT + ["-M", "simple"], 4, secs=3)
        # Backends older than this run belong to the targets checked before
        # (poolers keep their server connections); leave them out.
        since = time.time() - 0.5
        bench = self.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.base,
                           env=self.env(USERS["bench_scram"][0], "require"))
        try:
            time.sleep(1.5)  # logged in and running
            if kind != "direct":
                ok, out = self.try_psql(f"{conn} dbname=pgbouncer user=bench_md5 sslmode=require",
                                        "SHOW CLIENTS", header=True)
                rows = parse_psql_table(out) if ok else []
                entry["show_clients_tls"] = tally(r.get("tls") or "(plaintext)" for r in rows
                                                  if r.get("user") == "bench_scram")
            backends = self.psql("SELECT s.ssl, coalesce(s.version || '/' || s.cipher, '') "
                                 "FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                                 f"WHERE a.usename = 'bench_scram' AND a.backend_start >= to_timestamp({since})")
            entry["pg_stat_ssl"] = tally("TLS " + line.split("|")[1] if line.startswith("t") else "plaintext"
                                         for line in backends.splitlines())
        finally:
            out, err = bench.communicate(timeout=60)
            self.procs.remove(bench)
        entry["pgbench_rc"] = bench.returncode
        if bench.returncode != 0:
            entry["pgbench_error"] = err.strip()[-200:]
        log(f"tls check {kind} ({variant}): {entry}")
        self.results["tls_checks"].append(entry)

    def try_psql(self, conninfo, sql, header=False):
        """(ok, stdout or stderr) of psql against a TCP target; the password
        comes from USERS by the conninfo's user."""
        user = re.search(r"user=(\S+)", conninfo).group(1)
        cmd = [f"{PG_BINDIR}/psql", "-X", "-A", "-q", "-v", "ON_ERROR_STOP=1", "-P", "footer=off",
               "-d", conninfo, "-c", sql]
        if not header:
            cmd.insert(3, "-t")
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                             env=self.env(USERS[user][0]))
        return out.returncode == 0, out.stdout if out.returncode == 0 else out.stderr

    def hold_idle(self, conn, n):
        proc = self.spawn([self.args.idleclients, conn, str(n), "64"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = proc.stdout.readline().split()
        if len(line) != 3 or line[0] != "ready":
            raise RuntimeError(f"idleclients said {line!r}")
        return {"proc": proc, "opened": int(line[1]), "failed": int(line[2])}

    def release_idle(self, holder):
        proc = holder["proc"]
        proc.stdin.close()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.procs.remove(proc)


# ---- measurements ----------------------------------------------------------


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def proc_cpu(pid):
    """user + system CPU seconds of `pid` (all threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def latency_stats(logdir, clients):
    """p50/p99/max latency and per-client transaction counts from pgbench logs
    (each line: client_id txn_no latency_us script_no epoch epoch_us)."""
    lat = []
    per_client = {}
    thread_p50 = []  # one log file per pgbench thread: is one thread favoured?
    for name in sorted(os.listdir(logdir)):
        mine = []
        with open(os.path.join(logdir, name)) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3 or parts[2] in ("skipped", "failed"):
                    continue
                mine.append(int(parts[2]))
                per_client[parts[0]] = per_client.get(parts[0], 0) + 1
        if mine:
            thread_p50.append(round(statistics.median(mine) / 1000, 1))
        lat += mine
    if not lat:
        return {}
    lat.sort()

    def pct(p):
        return round(lat[min(len(lat) - 1, int(len(lat) * p))] / 1000, 2)

    counts = sorted(per_client.values())
    return {"p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(lat[-1] / 1000, 2),
            "starved": clients - len(per_client), "min_txns_per_client": counts[0] if len(counts) == clients else 0,
            "median_txns_per_client": statistics.median(counts), "p50_ms_per_pgbench_thread": thread_p50}


def parse_psql_table(text):
    """Rows of `psql -A` output (header line, then |-separated rows) as dicts."""
    lines = text.strip().splitlines()
    if not lines:
        return []
    names = lines[0].split("|")
    return [dict(zip(names, line.split("|"))) for line in lines[1:]]


def tally(values):
    """{value: how many times}: "TLSv1.3/... x4" reads better than 4 rows."""
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def strace_calls(path):
    """{syscall: calls} from an `strace -c` summary."""
    calls = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                calls[parts[-1]] = int(parts[3])
    return calls


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    return None


# ---- report ------------------------------------------------------------------


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec="{:.0f}"):
    return "—" if v is None else spec.format(v)


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def case_table(cases):
    """The load table: median tps, pooler CPU per 100k transactions, ratios."""
    lines = ["| case | clients | Sluice tps | PgBouncer tps | direct tps | Sluice/PgBouncer | Sluice/direct "
             "| Sluice CPU s/100k txn | PgBouncer CPU s/100k txn | CPU Sluice/PgBouncer |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case in cases:
        tps = {k: median_or_none([r["tps"] for r in runs]) for k, runs in case["runs"].items()}
        cpu = {}
        for k, runs in case["runs"].items():
            cpu_runs = [r["cpu"] / r["txns"] * 1e5 for r in runs
                        if r.get("cpu") is not None and r["txns"] and r["tps"] is not None]
            cpu[k] = median_or_none(cpu_runs)
        failed = {k for k, runs in case["runs"].items() if any(r["tps"] is None for r in runs)}

        def cell(k):
            if k in case["skipped"]:
                return "skipped"
            if k in failed and tps.get(k) is None:
                return "failed"
            return fmt(tps.get(k)) + (" (some failed)" if k in failed else "")

        lines.append(
            f"| {case['case']} | {case['clients']} | {cell('sluice')} | {cell('pgbouncer')} | {cell('direct')} "
            f"| {fmt(ratio(tps.get('sluice'), tps.get('pgbouncer')), '{:.2f}')} "
            f"| {fmt(ratio(tps.get('sluice'), tps.get('direct')), '{:.2f}')} "
            f"| {fmt(cpu.get('sluice'), '{:.2f}')} | {fmt(cpu.get('pgbouncer'), '{:.2f}')} "
            f"| {fmt(ratio(cpu.get('sluice'), cpu.get('pgbouncer')), '{:.2f}')} |")
    return lines + [""]


def callgrind_table(entries, title, modes, unit="Ir/txn"):
    per = {(e["pooler"], e["mode"]): e for e in entries}
    lines = [f"| {title} | Sluice {unit} | PgBouncer {unit} | Sluice/PgBouncer | Sluice each | PgBouncer each |",
             "|---|---:|---:|---:|---|---|"]
    for mode in modes:
        s, p = per.get(("sluice", mode), {}), per.get(("pgbouncer", mode), {})
        each = [", ".join(f"{v:.0f}" for v in e.get("per_txn_each", [])) for e in (s, p)]
        lines.append(f"| -M {mode} | {fmt(s.get('per_txn'))} | {fmt(p.get('per_txn'))} "
                     f"| {fmt(ratio(s.get('per_txn'), p.get('per_txn')), '{:.2f}')} | {each[0]} | {each[1]} |")
    return lines + [""]


def tls_check_lines(checks):
    def counts(d):
        return ", ".join(f"{k} x{v}" for k, v in d.items()) or "none seen"

    lines = []
    for c in checks:
        parts = [f"verify-full as localhost {'ok' if c['verify_full'] else 'FAILED'}",
                 f"plaintext {c['plaintext']}"]
        if "show_clients_tls" in c:
            parts.append(f"SHOW CLIENTS tls of pgbench's connections: {counts(c['show_clients_tls'])}")
        leg = "pgbench's connections" if c["target"] == "direct" else "server leg"
        parts.append(f"pg_stat_ssl ({leg}): {counts(c['pg_stat_ssl'])}")
        if c.get("pgbench_rc"):
            parts.append(f"pgbench FAILED: {c.get('pgbench_error')}")
        lines.append(f"- TLS check, {c['target']} ({c['variant']}): " + "; ".join(parts))
    return lines + ([""] if lines else [])


def report(results, meta):
    lines = [f"Load bench ({meta['mode']} mode), {meta['date']}, commit {meta['commit']}",
             f"Sluice: {meta['sluice']}; PgBouncer: {meta['pgbouncer_version']}; PostgreSQL: {meta['pg_version']}",
             f"{meta['rounds']}", ""]
    if results["cases"]:
        lines += case_table(results["cases"])
    if results["latency"]:
        lines += ["| latency case | clients | target | tps | p50 ms | p99 ms | p99/p50 | max ms | clients with no txn "
                  "| min txns/client |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for e in results["latency"]:
            if "skipped" in e:
                lines.append(f"| select-only simple (md5) | {e['clients']} | {e['target']} | skipped: {e['skipped']} "
                             "| | | | | | |")
                continue
            lines.append(
                f"| select-only simple (md5) | {e['clients']} | {e['target']} | {fmt(e.get('tps'))} "
                f"| {fmt(e.get('p50_ms'), '{:.1f}')} | {fmt(e.get('p99_ms'), '{:.1f}')} "
                f"| {fmt(ratio(e.get('p99_ms'), e.get('p50_ms')), '{:.2f}')} | {fmt(e.get('max_ms'), '{:.0f}')} "
                f"| {e.get('starved', '—')} | {e.get('min_txns_per_client', '—')} |")
        lines.append("")
    if results["callgrind"]:
        lines += callgrind_table(results["callgrind"], "callgrind, select-only, 8 clients, pool 8",
                                 ("simple", "extended"))
    if results["syscalls"]:
        per = {(e["pooler"], e["mode"]): e for e in results["syscalls"]}
        lines += ["| strace -c, select-only, 8 clients, pool 8 | Sluice syscalls/txn | PgBouncer syscalls/txn "
                  "| Sluice/PgBouncer | Sluice top | PgBouncer top |", "|---|---:|---:|---:|---|---|"]
        for mode in ("simple", "extended"):
            s, p = per.get(("sluice", mode), {}), per.get(("pgbouncer", mode), {})
            top = [", ".join(f"{k} {v}" for k, v in e.get("top", {}).items()) for e in (s, p)]
            lines.append(f"| -M {mode} | {fmt(s.get('per_txn'), '{:.2f}')} | {fmt(p.get('per_txn'), '{:.2f}')} "
                         f"| {fmt(ratio(s.get('per_txn'), p.get('per_txn')), '{:.2f}')} | {top[0]} | {top[1]} |")
        lines.append("")
    if results["idle"]:
        per = {(e["pooler"], e["clients"]): e for e in results["idle"]}
        lines += ["| idle clients (md5) | Sluice B/client | PgBouncer B/client | Sluice/PgBouncer |",
                  "|---:|---:|---:|---:|"]
        for n in sorted({e["clients"] for e in results["idle"]}):
            s = per.get(("sluice", n), {}).get("bytes_per_client")
            p = per.get(("pgbouncer", n), {}).get("bytes_per_client")
            lines.append(f"| {n} | {fmt(s)} | {fmt(p)} | {fmt(ratio(s, p), '{:.2f}')} |")
        lines.append("")
    if results["tls"] or results["tls_checks"]:
        lines += ["TLS phase: pgbench with PGSSLMODE=require (TLS 1.3 from libpq/OpenSSL), one throwaway "
                  "ECDSA P-256 CA + localhost certificate for Postgres and both poolers; poolers "
                  "client_tls_sslmode = require and server_tls_sslmode = disable (plaintext to the local "
                  "Postgres), except the \"both legs\" rows: server_tls_sslmode = require. "
                  + meta["rounds"].replace("load:", "Same rounds as load:") + ".", ""]
        lines += tls_check_lines(results["tls_checks"])
        lines += case_table(results["tls"])
    if results["tls_callgrind"]:
        lines += callgrind_table(
            [e for e in results["tls_callgrind"] if "-C" not in e["mode"]],
            "callgrind over TLS (client leg), select-only, 8 clients, pool 8", ("simple", "extended"))
        lines += callgrind_table(
            [e for e in results["tls_callgrind"] if "-C" in e["mode"]],
            "callgrind over TLS, a new connection per txn (md5)", ("simple -C",), unit="Ir/connection")
    for note in results["notes"]:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def version_of(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a couple of minutes (default)")
    mode.add_argument("--full", action="store_true", help="every case, 3 rounds x 10 s")
    ap.add_argument("--phases", help="comma list of load,latency,callgrind,syscalls,idle,tls "
                    "(default: quick = load,latency; full = all)")
    ap.add_argument("--sluice", default=os.path.join(root, "target/release/sluice"))
    ap.add_argument("--pgbouncer", default=os.environ.get("PGBOUNCER") or shutil.which("pgbouncer")
                    or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None))
    ap.add_argument("--idleclients", default=os.path.join(root, "target/debug/idleclients"))
    ap.add_argument("--callgrind-txns", type=int, default=4000, help="N for the callgrind N/2N runs")
    ap.add_argument("--callgrind-churn-txns", type=int, default=200,
                    help="N for the tls phase's callgrind N/2N runs with a connection per transaction")
    ap.add_argument("--cases", help="load and tls phases: only cases whose name contains one of these "
                    "comma-separated words (e.g. prepared,tpcb)")
    ap.add_argument("--callgrind-reps", type=int, help="N/2N pairs; the median is reported "
                    "(default 3; 1 for the tls phase in quick mode)")
    ap.add_argument("--out", help="output dir (default target/loadbench/<utc time>)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs) under /tmp")
    ap.add_argument("--commit", help="commit the sluice binary was built from, for the report "
                    "(default: git HEAD)")
    args = ap.parse_args()
    phases = (args.phases or ("load,latency,callgrind,syscalls,idle,tls" if args.full else "load,latency")).split(",")
    unknown = set(phases) - {"load", "latency", "callgrind", "syscalls", "idle", "tls"}
    if unknown:
        ap.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    args.out = os.path.abspath(args.out or os.path.join(root, "target", "loadbench", stamp))
    os.makedirs(args.out, exist_ok=True)
    # 10,000 clients need 10,000+ descriptors in pgbench and the poolers.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 10500:
        log(f"note: RLIMIT_NOFILE hard limit is {hard}; 10,000-client cases may fail")

    commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    meta = {"mode": "full" if args.full else "quick", "date": stamp, "commit": args.commit or commit,
            "sluice": version_of([args.sluice, "-V"]),
            "pgbouncer_version": version_of([args.pgbouncer, "-V"]) if args.pgbouncer else "not found",
            "pg_version": version_of([f"{PG_BINDIR}/postgres", "-V"]), "phases": phases,
            "rounds": "load: 3 rounds x 10 s per target" if args.full else "load: 2 rounds x 3 s per target",
            "nproc": os.cpu_count()}
    bench = Bench(args)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    t0 = time.time()
    try:
        bench.start_postgres(tls="tls" in phases)
        bench.write_userlist()
        if not args.pgbouncer:
            bench.results["notes"].append("pgbouncer not found: PgBouncer columns empty")
        if "load" in phases or "latency" in phases:
            poolers = {"sluice": bench.start_pooler("sluice", "main")}
            if args.pgbouncer:
                poolers["pgbouncer"] = bench.start_pooler("pgbouncer", "main")
            try:
                for phase in ("load", "latency"):
                    if phase in phases:
                        getattr(bench, f"phase_{phase}")(poolers)
            finally:
                for p in poolers.values():
                    bench.stop_pooler(p)
        for phase in ("callgrind", "syscalls", "idle", "tls"):
            if phase in phases:
                try:
                    getattr(bench, f"phase_{phase}")()
                except Exception as e:  # keep going: report what we have
                    bench.results["notes"].append(f"{phase} phase failed: {e}")
                    log(f"{phase} phase failed: {e}")
    finally:
        bench.cleanup()
        meta["seconds"] = round(time.time() - t0)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump({"meta": meta, "results": bench.results}, f, indent=1, default=str)
        text = report(bench.results, meta)
        with open(os.path.join(args.out, "report.md"), "w") as f:
            f.write(text)
        print(text)
        log(f"done in {meta['seconds']} s; results in {args.out}")


if __name__ == "__main__":
    main()
