#!/usr/bin/env python3
"""Supervisor measurements through the real `keel` binary (Linux, /proc):

1. CPU of an instantly failing cycle (`keel supervise command -- false`) over WINDOW s,
   scaled to 60 s: keel's own utime+stime plus its reaped children's.
2. Shutdown latency, SIGTERM -> exit: during a 30 s backoff; during a run whose
   worker exits on SIGTERM; during a run whose worker ignores SIGTERM (grace 500 ms).
3. Idle CPU of a 64-slot actions-runner pool (every slot's run.sh sleeping), keel's
   own utime+stime over WINDOW s.

Usage: core/benches/supervisor_cpu.py path/to/keel [WINDOW_SECONDS]
"""
import os, signal, subprocess, sys, tempfile, time

KEEL = sys.argv[1]
WINDOW = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
TCK = os.sysconf("SC_CLK_TCK")


def cpu(pid, children=True):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    ut, st, cut, cst = (int(x) for x in f[11:15])
    return (ut + st + ((cut + cst) if children else 0)) / TCK


def wait_line(p, needle, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        line = p.stderr.readline().decode()
        if needle in line:
            return
    raise SystemExit(f"{needle!r} never appeared")


def spawn(args):
    return subprocess.Popen([KEEL] + args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def live_descendants(mark):
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if f"KEEL_SV_MARK={mark}".encode() in open(f"/proc/{pid}/environ", "rb").read().split(b"\0"):
                n += 1
        except OSError:
            pass
    return n


# 1. instantly failing cycle
for base, cap in (("2s", "30s"), ("2s", "2s")):
    p = spawn(["supervise", "command", "--backoff-base", base, "--backoff-max", cap, "--", "false"])
    time.sleep(0.5)
    c0, t0 = cpu(p.pid), time.time()
    time.sleep(WINDOW)
    c1, t1 = cpu(p.pid), time.time()
    p.send_signal(signal.SIGTERM); p.wait()
    used = (c1 - c0) * 60 / (t1 - t0)
    print(f"failing cycle (base {base}, cap {cap}): {used*1000:.1f} ms CPU per 60 s "
          f"({(c1-c0)*1000:.0f} ms over {t1-t0:.1f} s, scaled)")

# 2. shutdown latency
def latency(args, needle, settle=0.3, runs=5):
    out = []
    for _ in range(runs):
        p = spawn(args)
        wait_line(p, needle)
        time.sleep(settle)
        t = time.time(); p.send_signal(signal.SIGTERM); code = p.wait()
        out.append((time.time() - t) * 1000)
        assert code == 0, code
    out.sort()
    return f"median {out[len(out)//2]:.0f} ms, max {out[-1]:.0f} ms over {runs}"

print("shutdown during a 30 s backoff:",
      latency(["supervise", "command", "--backoff-base", "30s", "--", "false"], "backing-off"))
print("shutdown during a run (worker exits on SIGTERM):",
      latency(["supervise", "command", "--", "sleep", "300"], "running"))
print("shutdown during a run (worker ignores SIGTERM, --grace 500ms):",
      latency(["supervise", "command", "--grace", "500ms", "--", "sh", "-c", "trap '' TERM; sleep 300 & wait"], "running"))

# 3. 64-slot pool, idle
with tempfile.TemporaryDirectory() as d:
    for i in range(64):
        s = os.path.join(d, f"slot-{i}")
        os.makedirs(s)
        for name, body in (("config.sh", "#!/bin/sh\nexit 0\n"), ("run.sh", "#!/bin/sh\nexec sleep 600\n")):
            path = os.path.join(s, name)
            open(path, "w").write(body); os.chmod(path, 0o755)
    mark = f"bench-{os.getpid()}"
    env = dict(os.environ, KEEL_SV_MARK=mark)
    p = subprocess.Popen([KEEL, "supervise", "actions-runner", "--runner-dir", d, "--url", "https://github.com/acme/app",
                          "--token-command", "echo TOKEN", "--pool", "64"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    t0 = time.time()
    while live_descendants(mark) < 65 and time.time() - t0 < 60:
        time.sleep(0.2)
    time.sleep(1)
    c0, t0 = cpu(p.pid, children=False), time.time()
    time.sleep(WINDOW)
    c1, t1 = cpu(p.pid, children=False), time.time()
    ts = time.time(); p.send_signal(signal.SIGTERM); code = p.wait(); stop = (time.time() - ts) * 1000
    left = live_descendants(mark)
    print(f"64-slot pool idle: {(c1-c0)*1000:.0f} ms CPU over {t1-t0:.1f} s "
          f"({(c1-c0)/(t1-t0)*100:.3f}% of a core); SIGTERM -> exit {stop:.0f} ms, exit {code}, {left} processes left")
