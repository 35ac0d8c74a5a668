"""A private single-node Slurm for the tests: munged, slurmctld and slurmd of Debian's
slurm-wlm, run as the current user on localhost with a config, a munge key, state, spool
and logs of their own in one folder, on free ports.  Clients reach it through SLURM_CONF
(SlurmNode.env); nothing in /etc is read or changed.

    node = SlurmNode(folder)
    node.start()            # raises SlurmUnavailable (the reason and the daemons' log tails)
    ... sbatch with env=node.env ...
    node.stop()             # cancels the jobs, stops the daemons and kills what they left

Every process is started with SLURM_NODE_MARK=<folder> in its environment, inherited by
slurmstepd and the jobs (sbatch exports the environment), so stop() finds and kills exactly
this node's leftovers by pid, however they were reparented.
"""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "scontrol", "sinfo", "squeue", "scancel")
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
                "BOOT_FAIL", "DEADLINE"}


# Each daemon runs under this small parent: a child subreaper (prctl PR_SET_CHILD_SUBREAPER),
# so the slurmstepd that slurmd double-forks is reparented to it, not to init, and reaped at
# once (no <defunct> slurmstepd left behind); it passes signals on to the daemon (SIGTERM too
# when the tests' process dies without stop()) and exits with the daemon's status once no
# child is left.
REAPER = r"""
import ctypes, os, signal, sys
parent = os.getppid()
try:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG: the tests' process died, stop the daemon
except (AttributeError, OSError):
    pass
if os.getppid() != parent:
    sys.exit(1)
def forward(sig, frame):
    try:
        os.kill(daemon, sig)
    except (NameError, ProcessLookupError):
        pass
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, forward)  # a handler, not SIG_IGN: exec resets it for the daemon
daemon = os.fork()
if daemon == 0:
    try:
        os.execv(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
status = 0
while True:
    try:
        pid, st = os.waitpid(-1, 0)
    except ChildProcessError:
        break
    if pid == daemon:
        status = os.waitstatus_to_exitcode(st)
sys.exit(status if status >= 0 else 128 - status)
"""


class SlurmUnavailable(Exception):
    """The node could not be started here: the message says why, with the daemons' logs."""


def find_binary(name):
    return shutil.which(name) or next((str(p) for d in ("/usr/sbin", "/sbin", "/usr/local/sbin")
                                       if (p := Path(d) / name).is_file() and os.access(p, os.X_OK)), None)


def free_ports(count):
    """count TCP ports free right now on every address (bound together, so distinct)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tail(path, lines=25):
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"({exc.strerror})"
    return "\n".join(text[-lines:]) or "(empty)"


def parse_records(text):
    """`scontrol show ... -o` output: one dict of KEY=VALUE per line."""
    records = []
    for line in text.splitlines():
        # values may hold spaces (Reason=..., Command=...): split only before a KEY=
        fields = re.split(r" (?=[A-Za-z][A-Za-z0-9_:/]*=)", line.strip())
        records.append(dict(f.split("=", 1) for f in fields if "=" in f))
    return [r for r in records if r]


class SlurmNode:
    def __init__(self, folder, *, min_job_age=600):
        self.folder = Path(folder)
        self.min_job_age = min_job_age
        self.procs = {}
        self.logs = {name: self.folder / "log" / f"{name}.log" for name in DAEMONS}
        self.stdio = {name: self.folder / "log" / f"{name}.stdio" for name in DAEMONS}
        self.conf = self.folder / "etc" / "slurm.conf"
        self.munge_socket = self.folder / "munge" / "munge.socket"
        self.mark = str(self.folder)
        self.nodename = None
        self.binaries = {}

    # --- environment for clients -------------------------------------------------------
    @property
    def env(self):
        """os.environ without any outer Slurm job's variables, pointed at this node."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLURM_", "SBATCH_", "SQUEUE_", "SALLOC_", "SRUN_", "SINFO_"))}
        env.update(SLURM_CONF=str(self.conf), SLURM_NODE_MARK=self.mark)
        return env

    def run(self, *args, check=True, timeout=30):
        proc = subprocess.run([self.binaries.get(args[0], args[0]), *map(str, args[1:])], capture_output=True,
                              text=True, env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args))} exited {proc.returncode}: {proc.stderr.strip()}\n"
                               + self.log_tails())
        return proc

    def log_tails(self, lines=25):
        """The last lines of each daemon's log (its stdout/stderr where it wrote no log file)."""
        parts = []
        for name in DAEMONS:
            if name not in self.procs and not self.stdio[name].exists():
                parts.append(f"--- {name}: not started")
                continue
            log = self.logs[name]
            if not (log.exists() and log.stat().st_size):  # munged --foreground logs to stderr
                log = self.stdio[name]
            parts.append(f"--- {log} (last {lines} lines):\n{tail(log, lines)}")
        return "\n".join(parts)

    # --- start ---------------------------------------------------------------------------
    def start(self, timeout=30):
        for name in (*DAEMONS, "mungekey", *CLIENTS):
            path = find_binary(name)
            if path is None:
                raise SlurmUnavailable(f"{name} is not installed (Debian: apt-get install slurm-wlm munge, "
                                       "or `make deps`)")
            self.binaries[name] = path
        try:
            self._write_files()
            deadline = time.monotonic() + timeout
            self._start_munged(deadline)
            self._spawn("slurmctld", [self.binaries["slurmctld"], "-D", "-c", "-f", self.conf])
            self._wait(deadline, "slurmctld to answer", self._controller_up, "slurmctld")
            self._spawn("slurmd", [self.binaries["slurmd"], "-D", "-N", self.nodename, "-f", self.conf])
            self._wait(deadline, f"node {self.nodename} to be idle", self._node_idle, "slurmd")
        except SlurmUnavailable:
            self.stop()
            raise
        except Exception as exc:  # a config this Slurm refuses, a port taken meanwhile, ...
            self.stop()
            raise SlurmUnavailable(f"{type(exc).__name__}: {exc}\n{self.log_tails()}") from exc

    def _write_files(self):
        for sub in ("etc", "munge", "state", "spool", "log", "run"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder / "munge", 0o755)  # munged wants its socket folder searchable
        # the node as slurmd sees this machine: name, CPUs and topology (memory left out: not a resource here)
        probe = subprocess.run([self.binaries["slurmd"], "-C"], capture_output=True, text=True, timeout=30)
        first = probe.stdout.splitlines()[0] if probe.stdout.strip() else ""
        hw = dict(f.split("=", 1) for f in first.split() if "=" in f)
        if probe.returncode != 0 or "NodeName" not in hw or "CPUs" not in hw:
            raise SlurmUnavailable(f"slurmd -C exited {probe.returncode}: {probe.stdout}{probe.stderr}")
        self.nodename = hw["NodeName"]
        topology = " ".join(f"{k}={hw[k]}" for k in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket",
                                                     "ThreadsPerCore") if k in hw)
        ctld_port, slurmd_port = free_ports(2)
        f = self.folder
        self.conf.write_text(f"""\
# a private single-node cluster for the tests (tests/e2e/slurm_node.py)
ClusterName=aesweeptest
SlurmctldHost={self.nodename}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={_user()}
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={f / 'state'}
SlurmdSpoolDir={f / 'spool'}
SlurmctldPidFile={f / 'run' / 'slurmctld.pid'}
SlurmdPidFile={f / 'run' / 'slurmd.pid'}
SlurmctldLogFile={self.logs['slurmctld']}
SlurmdLogFile={self.logs['slurmd']}
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig={f / 'etc' / 'plugstack.conf'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# batch_sched_delay (3 s by default) paces every start: an array, then its merge, in ~1 s, not ~10
SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge={self.min_job_age}
KillWait=5
InactiveLimit=0
SlurmdTimeout=60
NodeName={self.nodename} NodeAddr=127.0.0.1 NodeHostname={self.nodename} {topology} State=UNKNOWN
PartitionName=debug Nodes={self.nodename} Default=YES MaxTime=INFINITE State=UP
""")
        # read beside slurm.conf where a plugin wants it; nothing of cgroups is used here (proctrack/linuxproc,
        # task/none), so it constrains nothing
        (f / "etc" / "cgroup.conf").write_text("ConstrainCores=no\nConstrainRAMSpace=no\nConstrainDevices=no\n")
        (f / "etc" / "plugstack.conf").write_text("")
        (f / "run" / "reaper.py").write_text(REAPER)

    def _start_munged(self, deadline):
        key = self.folder / "munge" / "munge.key"
        subprocess.run([self.binaries["mungekey"], "--create", "--force", f"--keyfile={key}"], check=True,
                       capture_output=True, timeout=30)
        os.chmod(key, 0o400)
        m = self.folder / "munge"
        self._spawn("munged", [self.binaries["munged"], "--foreground", "--force", f"--key-file={key}",
                               f"--socket={self.munge_socket}", f"--pid-file={m / 'munged.pid'}",
                               f"--seed-file={m / 'munged.seed'}", f"--log-file={self.logs['munged']}"])
        self._wait(deadline, "munged's socket", self.munge_socket.exists, "munged")

    def _spawn(self, name, argv):
        with open(self.stdio[name], "wb") as out:
            # a session of its own: stop() signals the daemon's whole process group
            reaper = [sys.executable, str(self.folder / "run" / "reaper.py")]
            self.procs[name] = subprocess.Popen([*reaper, *map(str, argv)], stdin=subprocess.DEVNULL, stdout=out,
                                                stderr=subprocess.STDOUT, env=self.env, start_new_session=True)

    def _wait(self, deadline, what, ready, daemon):
        while True:
            proc = self.procs[daemon]
            if proc.poll() is not None:
                raise SlurmUnavailable(f"{daemon} exited {proc.returncode} before {what}\n{self.log_tails()}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise SlurmUnavailable(f"timed out waiting for {what}\n{self.log_tails()}")
            time.sleep(0.2)

    def _controller_up(self):
        try:
            return "UP" in self.run("scontrol", "ping", check=False, timeout=5).stdout
        except subprocess.TimeoutExpired:  # something else on the port, or a controller still starting
            return False

    def _node_idle(self):
        try:
            proc = self.run("sinfo", "-h", "-n", self.nodename, "-o", "%T", check=False, timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0 and proc.stdout.strip() == "idle"

    # --- jobs ----------------------------------------------------------------------------
    def jobs(self, job_id):
        """The records of a job (one per task of an array) from `scontrol show job -o`."""
        proc = self.run("scontrol", "show", "job", "-o", job_id, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"scontrol show job {job_id}: {proc.stderr.strip()}\n{self.log_tails()}")
        return parse_records(proc.stdout)

    def wait_finished(self, job_ids, timeout=120, poll=0.5):
        """Waits until every record of job_ids is in a final state, or a job pends on a
        dependency that can never be satisfied; returns {job_id: records}."""
        deadline = time.monotonic() + timeout
        while True:
            records = {j: self.jobs(j) for j in job_ids}
            flat = [r for rs in records.values() for r in rs]
            if all(r.get("JobState") in FINAL_STATES or r.get("Reason") == "DependencyNeverSatisfied"
                   for r in flat):
                return records
            if time.monotonic() > deadline:
                states = [(r.get("JobId"), r.get("ArrayTaskId"), r.get("JobState"), r.get("Reason")) for r in flat]
                raise TimeoutError(f"jobs {job_ids} not done after {timeout} s: {states}\n{self.log_tails()}")
            time.sleep(poll)

    # --- stop ----------------------------------------------------------------------------
    def stop(self):
        """Cancels every job, stops the daemons and kills any process that carries this node's
        mark (slurmstepd, job steps); safe to call twice and after a failed start."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                self.run("scancel", "--full", "-u", _user(), check=False, timeout=10)
                deadline = time.monotonic() + 10  # let the steps end, so slurmd's reaper collects them
                while time.monotonic() < deadline and self.run("squeue", "-h", check=False,
                                                               timeout=5).stdout.strip():
                    time.sleep(0.2)
            except (OSError, subprocess.SubprocessError):
                pass
        for name in reversed(DAEMONS):
            if name in self.procs and self.procs[name].poll() is None:
                _signal_group(self.procs[name].pid, signal.SIGTERM)
        for name in reversed(DAEMONS):
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # a daemon that hangs, or a step that outlived the cancel
                _signal_group(proc.pid, signal.SIGKILL)
                self._kill_leftovers()
                proc.wait(timeout=10)
            _signal_group(proc.pid, signal.SIGKILL)  # whatever is left of its group
        self._kill_leftovers()

    def _kill_leftovers(self):
        for _ in range(50):
            left = self.leftovers()
            if not left:
                return
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    def leftovers(self):
        """pids of live processes with this node's mark in their environment."""
        mark = f"SLURM_NODE_MARK={self.mark}".encode()
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if mark in environ.split(b"\0") and state != "Z":
                pids.append(int(entry))
        return pids


def _user():
    return pwd.getpwuid(os.getuid()).pw_name


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
