#!/usr/bin/env python3
"""The kratixfs soak (`make soak`; not part of `make check`).

A real mount with -o git=REPO (a bare repository the soak creates) and a copy of the bundled
postgresql promise. N requests (soak-0001 ...) are filled, then for DURATION seconds in total,
split into RESTARTS equal rounds:

  - WRITERS processes rewrite random requests with ordinary tools: `cp` of a prepared file,
    `sed -i` of the size line, `tee` from a prepared file; a share of the writes (BAD_RATIO) is a
    request of size `huge`, which the mount must refuse;
  - READERS processes `cat` random requests' output files, object.yaml and phase;
  - one editor edits the promise's statefulset.yaml template with `sed -i` (three variants in
    turn: as shipped, and a comment line `# soak: template edit 1|2` appended), relying on the
    daemon's inotify reload and sending it SIGHUP every other edit;
  - at the end of each round the daemon is killed with SIGKILL while all of that runs; the
    workers are parked, the dead mount unmounted and the daemon started again.

After the fill and after every restart, with the load parked, every request is checked:

  lost       object.yaml is the body of the last write whose tool returned 0, or of a write that
             may have landed (in flight when SIGKILL hit, or failed unexpectedly) and that no
             accepted write started after; a write w is superseded only by an accepted write
             that started after w's tool returned (writes to one request are serialized, and the
             last close wins)
  render     every file under output/ equals a fresh `kratixfs render --promises PROMISES` of
             the request's object.yaml (the same set of files, the same bytes); a render's only
             inputs are object.yaml and the promises folder, so one render per distinct (body,
             promises folder state) is run and reused
  status     phase is Committed (waited for up to SETTLE seconds) and generation equals
             observedGeneration in status.yaml
  git        the branch holds, under the request's Kratix path, exactly the mount's output files
             (blob ids compared), and `git fsck --full --strict` is clean

Torn reads: before the load starts, every whole render each request can have (3 sizes x 3
template variants) is computed with `kratixfs test --update` on a copy of the promise holding one
test case per (request, size). A reader's `cat` of an output file that returned 0 must be exactly
one of its request's whole renders; an object.yaml read must be exactly one of the request's three
bodies; a phase read one known phase word and a newline. Anything else is a torn read, and its
bytes are kept under WORK/torn/. Every fresh `kratixfs render` of the checks is also compared
with the same table (an oracle disagreement is a failure too).

The summary table ends the run; the exit status is 0 only when nothing failed (1 otherwise, 2
when the soak could not run). The work folder is removed after a clean run, kept otherwise.
"""
import argparse
import collections
import glob
import hashlib
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

SIZES = ("small", "medium", "large")
BAD = "huge"
PHASES = ("Pending", "Rendered", "Committed", "Applied", "Ready", "Error")
VARIANTS = 3  # the template as shipped, and two edits
EDIT_MARK = "# soak: template edit"
DOWN_ERRORS = ("Transport endpoint is not connected", "Software caused connection abort",
               "No such device")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sha(data):
    return hashlib.sha256(data).digest()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def tree_files(top):
    """{relative path: bytes} of every regular file under top."""
    out = {}
    for d, _, files in os.walk(top):
        for n in files:
            p = os.path.join(d, n)
            out[os.path.relpath(p, top)] = read_bytes(p)
    return out


def is_down_error(text):
    return any(e in text for e in DOWN_ERRORS)


class Failures:
    """Failures by kind, each with up to `keep` detailed examples."""

    def __init__(self, keep=8):
        self.count = collections.Counter()
        self.examples = collections.defaultdict(list)
        self.keep = keep

    def add(self, kind, detail):
        self.count[kind] += 1
        if len(self.examples[kind]) < self.keep:
            self.examples[kind].append(detail)

    def total(self):
        return sum(self.count.values())


# ---------------------------------------------------------------------------------------------
# Workers. They are forked after the set-up, so they share its tables read-only. Each one logs
# what it did as JSON lines in WORK/log/<name>.jsonl and parks when `running` is cleared.

class Shared:
    def __init__(self, nworkers):
        self.running = mp.Event()
        self.stop = mp.Event()
        self.pause_no = mp.Value("i", 0)
        self.parked = mp.Array("i", [-1] * nworkers)
        self.daemon_pid = mp.Value("i", 0)


def pick(rng, cfg):
    """A request: one of the first HOT requests with probability HOT_SHARE, else any."""
    if cfg["hot"] and rng.random() < cfg["hot_share"]:
        return rng.choice(cfg["names"][:cfg["hot"]])
    return rng.choice(cfg["names"])


def worker_loop(idx, shared, step, park_hook):
    while not shared.stop.is_set():
        if not shared.running.is_set():
            park_hook()
            while not shared.running.is_set() and not shared.stop.is_set():
                shared.parked[idx] = shared.pause_no.value
                shared.running.wait(0.05)
            continue
        step()


def writer_main(idx, name, cfg, shared):
    rng = random.Random(cfg["seed"] * 1000 + idx)
    log = open(os.path.join(cfg["work"], "log", name + ".jsonl"), "a", buffering=1)
    mnt, prepared = cfg["mnt"], cfg["prepared"]

    def step():
        r = pick(rng, cfg)
        body = BAD if rng.random() < cfg["bad_ratio"] else rng.choice(SIZES)
        tool = rng.choices(("cp", "sed", "tee"), weights=(4, 3, 3))[0]
        dst = os.path.join(mnt, "requests", r, "object.yaml")
        src = os.path.join(prepared, "%s-%s.yaml" % (r, body))
        stdin = subprocess.DEVNULL
        if tool == "cp":
            cmd = ["cp", src, dst]
        elif tool == "sed":
            cmd = ["sed", "-i", "s/^  size: .*/  size: %s/" % body, dst]
        else:
            cmd = ["tee", dst]
            stdin = open(src, "rb")
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t1 = time.monotonic()
        if stdin is not subprocess.DEVNULL:
            stdin.close()
        log.write(json.dumps({"t0": t0, "t1": t1, "r": r, "b": body, "tool": tool,
                              "rc": p.returncode,
                              "err": p.stderr.decode(errors="replace").strip()[:300]}) + "\n")

    worker_loop(idx, shared, step, lambda: None)


def reader_main(idx, name, cfg, shared, oracle, bodies):
    rng = random.Random(cfg["seed"] * 1000 + idx)
    log = open(os.path.join(cfg["work"], "log", name + ".jsonl"), "a", buffering=1)
    mnt = cfg["mnt"]
    files = cfg["output_files"]
    counts = collections.Counter()
    kept = [0]

    def keep_torn(r, what, data, t0, t1):
        if kept[0] >= 20:
            return None
        kept[0] += 1
        path = os.path.join(cfg["work"], "torn", "%s-%d" % (name, kept[0]))
        with open(path, "wb") as f:
            f.write(data)
        return path

    def step():
        r = pick(rng, cfg)
        x = rng.random()
        if x < 0.7:
            what = "output/" + rng.choice(files)
        elif x < 0.9:
            what = "object.yaml"
        else:
            what = "phase"
        t0 = time.monotonic()
        p = subprocess.run(["cat", os.path.join(mnt, "requests", r, what)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t1 = time.monotonic()
        counts["reads"] += 1
        if p.returncode != 0:
            log.write(json.dumps({"k": "error", "t0": t0, "t1": t1, "r": r, "f": what,
                                  "err": p.stderr.decode(errors="replace").strip()[:300]})
                      + "\n")
            return
        data = p.stdout
        counts["reads_ok"] += 1
        if what.startswith("output/"):
            hit = oracle.get((r, what[7:]), {}).get(sha(data))
            if hit is not None:
                if what[7:] == cfg["edited_output"]:  # the only file the edits change
                    counts["variant%d" % hit[1]] += 1
                return
            kind = "torn output read"
        elif what == "object.yaml":
            size = bodies[r].get(sha(data))
            if size is not None and size != BAD:
                return
            kind = "refused body visible in object.yaml" if size == BAD else "torn object.yaml read"
        else:
            if data.endswith(b"\n") and data[:-1].decode(errors="replace") in PHASES:
                return
            kind = "bad phase read"
        counts[kind] += 1
        log.write(json.dumps({"k": kind, "t0": t0, "t1": t1, "r": r, "f": what, "len": len(data),
                              "head": data[:60].decode(errors="replace"),
                              "tail": data[-60:].decode(errors="replace"),
                              "kept": keep_torn(r, what, data, t0, t1)}) + "\n")

    def park():
        log.write(json.dumps({"k": "counts", "c": counts}) + "\n")

    worker_loop(idx, shared, step, park)
    park()


def editor_main(idx, name, cfg, shared):
    log = open(os.path.join(cfg["work"], "log", name + ".jsonl"), "a", buffering=1)
    tmpl = cfg["template"]
    variants = [read_bytes(p) for p in cfg["variant_files"]]
    state = {"k": 0, "edits": 0}

    def current():
        data = read_bytes(tmpl)
        return variants.index(data) if data in variants else -1

    state["k"] = current()

    def step():
        end = time.monotonic() + cfg["edit_interval"]
        while time.monotonic() < end:
            if not shared.running.is_set() or shared.stop.is_set():
                return
            time.sleep(0.02)
        k = (state["k"] + 1) % VARIANTS
        if k == 0:
            cmd = ["sed", "-i", "/^%s/d" % EDIT_MARK, tmpl]
        else:
            cmd = ["sed", "-i", "-e", "$a %s %d" % (EDIT_MARK, k), "-e", "/^%s/d" % EDIT_MARK, tmpl]
        p = subprocess.run(cmd, stderr=subprocess.PIPE)
        got = current()
        sighup = False
        state["edits"] += 1
        if state["edits"] % 2 == 0:
            pid = shared.daemon_pid.value
            if pid > 0:
                try:
                    os.kill(pid, signal.SIGHUP)
                    sighup = True
                except ProcessLookupError:
                    pass
        log.write(json.dumps({"k": "edit", "t": time.monotonic(), "want": k, "got": got,
                              "rc": p.returncode, "sighup": sighup,
                              "err": p.stderr.decode(errors="replace").strip()[:300]}) + "\n")
        state["k"] = got if got >= 0 else k

    worker_loop(idx, shared, step, lambda: None)


def run_worker(target, *args):
    try:
        target(*args)
    except Exception:
        traceback.print_exc()
        sys.exit(3)


# ---------------------------------------------------------------------------------------------

class Soak:
    def __init__(self, args):
        self.a = args
        self.fail = Failures()
        self.stats = collections.Counter()
        self.restart_ms = []
        self.daemon = None
        self.log_offsets = {}
        self.render_cache = {}
        self.fsck = []
        self.check_no = 0
        self.t_kill = None

    def say(self, msg):
        print("soak: " + msg, flush=True)

    # --- set-up ---------------------------------------------------------------------------
    def setup(self):
        a = self.a
        self.kratixfs = os.path.join(a.build, "kratixfs")
        if not os.access(self.kratixfs, os.X_OK):
            raise SystemExit("soak: %s is missing (build first: make build)" % self.kratixfs)
        if not os.path.exists("/dev/fuse"):
            raise SystemExit("soak: /dev/fuse is missing: no mount, no soak")
        os.makedirs(a.dir, exist_ok=True)
        self.work = tempfile.mkdtemp(prefix="kratixfs-soak.", dir=a.dir)
        w = self.work
        self.mnt, self.state = os.path.join(w, "mnt"), os.path.join(w, "state")
        self.promises, self.repo = os.path.join(w, "promises"), os.path.join(w, "statestore.git")
        self.prepared = os.path.join(w, "prepared")
        for d in (self.mnt, self.state, self.prepared, os.path.join(w, "log"),
                  os.path.join(w, "torn"), os.path.join(w, "render")):
            os.makedirs(d)
        os.makedirs(self.promises)
        shutil.copytree(os.path.join(ROOT, "templates", "postgresql"),
                        os.path.join(self.promises, "postgresql"))
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", self.repo], check=True)
        found = glob.glob(os.path.join(self.promises, "postgresql", "workflows", "resource", "**",
                                       "templates", "output", "statefulset.yaml"), recursive=True)
        if len(found) != 1:
            raise SystemExit("soak: the postgresql promise's statefulset.yaml template: found %r"
                             % found)
        self.template = found[0]
        shipped = read_bytes(self.template)
        if EDIT_MARK.encode() in shipped or not shipped.endswith(b"\n"):
            raise SystemExit("soak: the shipped template must end with a newline and hold no "
                             "'%s' line" % EDIT_MARK)
        self.variants = [shipped] + [shipped + b"%s %d\n" % (EDIT_MARK.encode(), k)
                                     for k in range(1, VARIANTS)]
        self.variant_files = []
        for k, v in enumerate(self.variants):
            p = os.path.join(w, "template-v%d.yaml" % k)
            with open(p, "wb") as f:
                f.write(v)
            self.variant_files.append(p)

        self.names = ["soak-%04d" % i for i in range(1, a.requests + 1)]
        seed = read_bytes(os.path.join(ROOT, "templates", "postgresql", "example-resource.yaml"))
        if b"\n  name: my-db\n" not in seed or b"\n  size: medium\n" not in seed:
            raise SystemExit("soak: example-resource.yaml no longer has '  name: my-db' and "
                             "'  size: medium' lines")
        self.bodies = {}
        for r in self.names:
            self.bodies[r] = {}
            for s in SIZES + (BAD,):
                body = seed.replace(b"\n  name: my-db\n", b"\n  name: %s\n" % r.encode())
                body = body.replace(b"\n  size: medium\n", b"\n  size: %s\n" % s.encode())
                with open(os.path.join(self.prepared, "%s-%s.yaml" % (r, s)), "wb") as f:
                    f.write(body)
                self.bodies[r][sha(body)] = s
        self.build_oracle()

    def build_oracle(self):
        """Every whole render of every request: (request, output file) -> {sha: (size, variant)},
        and (request, size, variant) -> {file: sha}, from `kratixfs test --update`."""
        self.say("computing every whole render (%d requests x %d sizes x %d template versions) "
                 "with kratixfs test --update" % (len(self.names), len(SIZES), VARIANTS))
        self.oracle = collections.defaultdict(dict)
        self.oracle_sets = {}
        for k, v in enumerate(self.variants):
            top = os.path.join(self.work, "oracle", "v%d" % k, "postgresql")
            src = os.path.join(self.promises, "postgresql")
            os.makedirs(top)
            shutil.copy(os.path.join(src, "promise.yaml"), top)
            shutil.copytree(os.path.join(src, "workflows"), os.path.join(top, "workflows"))
            with open(os.path.join(top, os.path.relpath(self.template, src)), "wb") as f:
                f.write(v)
            os.makedirs(os.path.join(top, "test-input"))
            for r in self.names:
                for s in SIZES:
                    shutil.copy(os.path.join(self.prepared, "%s-%s.yaml" % (r, s)),
                                os.path.join(top, "test-input", "%s-%s.yaml" % (r, s)))
            p = subprocess.run([self.kratixfs, "test", "--update", top], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            last = p.stdout.decode(errors="replace").strip().splitlines()[-1:]
            if p.returncode != 0:
                raise SystemExit("soak: kratixfs test --update failed: %s" % last)
            for r in self.names:
                for s in SIZES:
                    files = tree_files(os.path.join(top, "test-output", "%s-%s" % (r, s), "output"))
                    if not files:
                        raise SystemExit("soak: kratixfs test --update rendered no output for "
                                         "%s %s" % (r, s))
                    self.oracle_sets[(r, s, k)] = {f: sha(d) for f, d in files.items()}
                    for f, d in files.items():
                        self.oracle[(r, f)][sha(d)] = (s, k)
        self.output_files = sorted(self.oracle_sets[(self.names[0], SIZES[0], 0)])
        # The checks below are only as good as these: every size renders differently, and every
        # template edit shows in the rendered statefulset.yaml.
        r0 = self.names[0]
        sets = [self.oracle_sets[(r0, s, k)] for s in SIZES for k in range(VARIANTS)]
        if len({tuple(sorted(x.items())) for x in sets}) != len(sets):
            raise SystemExit("soak: two (size, template version) pairs render alike; the soak "
                             "could not tell them apart")
        shutil.rmtree(os.path.join(self.work, "oracle"))

    # --- the daemon -----------------------------------------------------------------------
    def mount(self):
        t0 = time.monotonic()
        log = open(os.path.join(self.work, "daemon.log"), "ab")
        opts = "promises=%s,state=%s,git=%s" % (self.promises, self.state, self.repo)
        self.daemon = subprocess.Popen([self.kratixfs, "-f", "-o", opts, self.mnt],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True)
        log.close()
        while time.monotonic() - t0 < self.a.mount_timeout:
            if os.path.ismount(self.mnt):
                self.shared.daemon_pid.value = self.daemon.pid
                self.restart_ms.append((time.monotonic() - t0) * 1000)
                return
            if self.daemon.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("the daemon did not mount (exit status %s); see %s/daemon.log"
                           % (self.daemon.poll(), self.work))

    def daemon_log_tail(self):
        try:
            with open(os.path.join(self.work, "daemon.log"), errors="replace") as f:
                lines = f.read().splitlines()
            return lines[-1][:200] if lines else "(empty)"
        except OSError as e:
            return str(e)

    def unmount_dead(self):
        deadline = time.monotonic() + 10
        while True:
            p = subprocess.run(["fusermount3", "-u", self.mnt], stderr=subprocess.PIPE)
            if p.returncode == 0 or not os.path.ismount(self.mnt):
                return
            if time.monotonic() > deadline:
                self.fail.add("dead mount not unmountable",
                              "fusermount3 -u: %s; used -uz" % p.stderr.decode().strip())
                subprocess.run(["fusermount3", "-uz", self.mnt])
                return
            time.sleep(0.1)

    # --- workers --------------------------------------------------------------------------
    def start_workers(self):
        a = self.a
        cfg = {"work": self.work, "mnt": self.mnt, "prepared": self.prepared, "names": self.names,
               "bad_ratio": a.bad_ratio, "seed": a.seed, "output_files": self.output_files,
               "template": self.template, "variant_files": self.variant_files,
               "edit_interval": a.edit_interval, "hot": min(a.hot, a.requests),
               "hot_share": a.hot_share, "edited_output": os.path.basename(self.template)}
        ctx = mp.get_context("fork")
        self.procs = []
        specs = [("writer-%02d" % i, writer_main, ()) for i in range(a.writers)]
        specs += [("reader-%02d" % i, reader_main, (self.oracle, self.bodies))
                  for i in range(a.readers)]
        if a.edit_interval > 0:
            specs.append(("editor", editor_main, ()))
        self.worker_names = [s[0] for s in specs]
        for i, (name, fn, extra) in enumerate(specs):
            p = ctx.Process(target=run_worker, args=(fn, i, name, cfg, self.shared) + extra,
                            name=name)
            p.start()
            self.procs.append(p)

    def resume(self):
        self.shared.running.set()

    def pause(self):
        with self.shared.pause_no.get_lock():
            self.shared.pause_no.value += 1
            n = self.shared.pause_no.value
        self.shared.running.clear()
        deadline = time.monotonic() + self.a.pause_timeout
        while time.monotonic() < deadline:
            if all(self.shared.parked[i] == n for i in range(len(self.procs))):
                return
            dead = [p.name for p in self.procs if not p.is_alive()]
            if dead:
                raise RuntimeError("soak workers died: %s" % ", ".join(dead))
            time.sleep(0.02)
        stuck = [self.worker_names[i] for i in range(len(self.procs))
                 if self.shared.parked[i] != n]
        raise RuntimeError("workers still in an operation %ds after the pause: %s"
                           % (self.a.pause_timeout, ", ".join(stuck)))

    def new_log_lines(self, name):
        path = os.path.join(self.work, "log", name + ".jsonl")
        off = self.log_offsets.get(name, 0)
        with open(path, "rb") as f:
            f.seek(off)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.log_offsets[name] = off + end
        return [json.loads(l) for l in data[:end].splitlines() if l.strip()]

    # --- the initial fill -----------------------------------------------------------------
    def fill(self):
        self.say("filling %d requests (mkdir + cp)" % len(self.names))
        rng = random.Random(self.a.seed)
        self.last_body = {}

        def one(r):
            s = rng.choice(SIZES)
            d = os.path.join(self.mnt, "requests", r)
            os.mkdir(d)
            p = subprocess.run(["cp", os.path.join(self.prepared, "%s-%s.yaml" % (r, s)),
                                os.path.join(d, "object.yaml")], stderr=subprocess.PIPE)
            return r, s, p.returncode, p.stderr.decode(errors="replace").strip()

        with ThreadPoolExecutor(max_workers=4) as ex:
            for r, s, rc, err in ex.map(one, self.names):
                self.stats["fill writes"] += 1
                if rc != 0:
                    self.fail.add("fill write failed", "%s (%s): %s" % (r, s, err))
                self.last_body[r] = s

    # --- one round's logs -----------------------------------------------------------------
    def collect(self, killed):
        """Reads the round's logs: classifies every write, returns {request: [writes]}."""
        writes = collections.defaultdict(list)
        t_kill = self.t_kill if killed else float("inf")
        for name in self.worker_names:
            for e in self.new_log_lines(name):
                if name.startswith("writer"):
                    self.classify_write(e, t_kill)
                    writes[e["r"]].append(e)
                elif name.startswith("reader"):
                    if e["k"] == "counts":
                        self.reader_counts[name] = e["c"]
                    else:
                        self.classify_read(e, t_kill)
                else:
                    self.stats["template edits"] += 1
                    self.stats["SIGHUPs sent"] += e["sighup"]
                    if e["rc"] != 0 or e["got"] != e["want"]:
                        self.fail.add("template edit went wrong",
                                      "sed -i for variant %d: rc %d, the template is variant %d "
                                      "(-1: none) %s" % (e["want"], e["rc"], e["got"], e["err"]))
        return writes

    def classify_write(self, e, t_kill):
        s = self.stats
        s["writes"] += 1
        s["writes by " + e["tool"]] += 1
        down = is_down_error(e["err"])
        if e["rc"] == 0:
            e["st"] = "accepted"
            if e["b"] == BAD:
                s["bad writes accepted"] += 1
                self.fail.add("bad request accepted", "%s %s size huge returned 0" % (e["r"], e["tool"]))
            else:
                s["writes accepted"] += 1
        elif e["t1"] >= t_kill:
            # Whatever it says (ENOTCONN, ECONNABORTED, or e.g. sed's "not a regular file" when
            # fstat meets the dead connection's inode), an error after the kill is the kill's.
            e["st"] = "unknown"
            s["writes cut by SIGKILL"] += 1
        elif e["b"] == BAD and "Invalid argument" in e["err"]:
            e["st"] = "refused"
            s["writes refused (size huge, EINVAL)"] += 1
        else:
            # it may have landed (EIO: accepted, render failed): a candidate for object.yaml
            e["st"] = "unknown"
            s["writes failed unexpectedly"] += 1
            self.fail.add("write failed unexpectedly" if not down else
                          "mount gone while the daemon ran",
                          "%s %s size %s: rc %d: %s%s" % (e["r"], e["tool"], e["b"], e["rc"],
                                                          e["err"], self.when(e, t_kill)))

    def when(self, e, t_kill):
        """When an operation returned, against the round's SIGKILL."""
        if t_kill == float("inf"):
            return ""
        d = e["t1"] - t_kill
        return " (returned %.3f s %s the SIGKILL)" % (abs(d), "after" if d >= 0 else "before")

    def classify_read(self, e, t_kill):
        s = self.stats
        k = e["k"]
        if k == "error":
            if e["t1"] >= t_kill:  # as for writes: after the kill, any error is the kill's
                s["reads cut by SIGKILL"] += 1
            else:
                s["reads failed unexpectedly"] += 1
                self.fail.add("read failed unexpectedly", "cat %s/%s: %s%s"
                              % (e["r"], e["f"], e["err"], self.when(e, t_kill)))
            return
        self.fail.add(k, "%s/%s: %d bytes, begins %r, ends %r%s"
                      % (e["r"], e["f"], e["len"], e["head"], e["tail"],
                         ", kept in " + e["kept"] if e["kept"] else ""))

    # --- the check after a restart --------------------------------------------------------
    def fresh_render(self, body, variant):
        key = (sha(body), variant)
        if key in self.render_cache:
            return self.render_cache[key]
        d = tempfile.mkdtemp(dir=os.path.join(self.work, "render"))
        os.makedirs(os.path.join(d, "input"))
        with open(os.path.join(d, "input", "object.yaml"), "wb") as f:
            f.write(body)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KRATIX_")}
        p = subprocess.run([self.kratixfs, "render", "--promises", self.promises, "--kratix", d],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        out = None
        if p.returncode == 0:
            out = tree_files(os.path.join(d, "output"))
        else:
            out = ("exit %d: %s" % (p.returncode, p.stdout.decode(errors="replace").strip()))
        shutil.rmtree(d)
        self.stats["fresh kratixfs render runs"] += 1
        self.render_cache[key] = out
        return out

    def read_mount(self, r):
        d = os.path.join(self.mnt, "requests", r)
        return (read_bytes(os.path.join(d, "object.yaml")), tree_files(os.path.join(d, "output")),
                read_bytes(os.path.join(d, "phase")).decode(errors="replace").strip(),
                read_bytes(os.path.join(d, "status.yaml")).decode(errors="replace"))

    def wait_committed(self):
        deadline = time.monotonic() + self.a.settle
        while True:
            pending = []
            for r in self.names:
                try:
                    ph = read_bytes(os.path.join(self.mnt, "requests", r, "phase")).strip()
                except OSError as e:
                    ph = str(e).encode()
                if ph != b"Committed":
                    pending.append((r, ph.decode(errors="replace")))
            if not pending or time.monotonic() > deadline:
                return pending
            time.sleep(0.2)

    def check(self, label, writes):
        self.check_no += 1
        t0 = time.monotonic()
        f = self.fail
        listed = set(os.listdir(os.path.join(self.mnt, "requests")))
        for r in sorted(set(self.names) - listed):
            f.add("lost request", "%s: %s: the folder is gone" % (label, r))
        for r in sorted(listed - set(self.names)):
            f.add("unexpected request", "%s: %s" % (label, r))
        for r, ph in self.wait_committed():
            f.add("not Committed", "%s: %s: phase %s after %ds" % (label, r, ph, self.a.settle))
        tmpl = read_bytes(self.template)
        variant = self.variants.index(tmpl) if tmpl in self.variants else -1
        if variant < 0:
            f.add("template edit went wrong", "%s: the template is no known variant" % label)
        mount_out = {}
        bodies = {}
        for r in self.names:
            if r not in listed:
                continue
            try:
                obj, out, phase, status = self.read_mount(r)
            except OSError as e:
                f.add("read failed in a check", "%s: %s: %s" % (label, r, e))
                continue
            mount_out[r] = out
            bodies[r] = obj
            self.stats["requests checked"] += 1
            g = re.search(r"^generation: (\d+)$", status, re.M)
            o = re.search(r"^observedGeneration: (\d+)$", status, re.M)
            if not g or not o or g.group(1) != o.group(1):
                f.add("status inconsistent", "%s: %s: generation %s, observedGeneration %s"
                      % (label, r, g and g.group(1), o and o.group(1)))
            self.check_lost(label, r, obj, writes.get(r, []))
        # Fresh renders, two at a time (the cache makes most of them hits after a few rounds).
        todo = {sha(b): b for b in bodies.values()}
        with ThreadPoolExecutor(max_workers=2) as ex:
            list(ex.map(lambda b: self.fresh_render(b, variant), todo.values()))
        for r, obj in bodies.items():
            want = self.fresh_render(obj, variant)  # from the cache filled just above
            got = mount_out[r]
            self.stats["renders checked"] += 1
            if isinstance(want, str):
                f.add("fresh render failed", "%s: %s: kratixfs render %s" % (label, r, want))
                continue
            if want != got:
                diff = sorted(set(want) ^ set(got)) or \
                    [p for p in sorted(want) if want[p] != got.get(p)]
                f.add("output differs from a fresh render", "%s: %s: object.yaml size %s, "
                      "template version %d: %s" % (label, r, self.bodies[r].get(sha(obj), "?"),
                                                  variant, ", ".join(diff)))
            size = self.bodies[r].get(sha(obj))
            if size in SIZES and variant >= 0:
                if {p: sha(d) for p, d in want.items()} != self.oracle_sets[(r, size, variant)]:
                    f.add("oracle disagreement", "%s: %s: kratixfs render and kratixfs test "
                          "--update differ for size %s, template version %d" % (label, r, size, variant))
        self.check_git(label, mount_out)
        p = subprocess.run(["git", "--git-dir", self.repo, "fsck", "--full", "--strict",
                            "--no-dangling", "--no-progress"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        self.fsck.append(p.returncode)
        if p.returncode != 0:
            f.add("git fsck --full --strict", "%s: exit %d: %s" % (
                label, p.returncode, " | ".join(p.stdout.decode(errors="replace").splitlines()[:5])))
        self.say("%s: checked %d requests in %.1f s (template version %d); failures so far: %d"
                 % (label, len(bodies), time.monotonic() - t0, variant, f.total()))

    def check_lost(self, label, r, obj, ws):
        size = self.bodies[r].get(sha(obj))
        base = {"st": "accepted", "b": self.last_body[r], "t0": -1.0, "t1": -1.0,
                "tool": "the previous check"}
        ws = [base] + ws
        accepted = [w for w in ws if w["st"] == "accepted"]
        cands = [w for w in ws if w["st"] in ("accepted", "unknown")
                 and not any(x["t0"] > w["t1"] for x in accepted)]
        if size is None:
            f = "object.yaml is no body the soak wrote"
            self.fail.add(f, "%s: %s: %d bytes, begins %r" % (label, r, len(obj), obj[:60]))
        elif size == BAD:
            self.fail.add("refused body in object.yaml", "%s: %s: object.yaml asks for size %s, "
                          "which every write of it was refused or failed" % (label, r, BAD))
        elif size not in {w["b"] for w in cands}:
            last = max(accepted, key=lambda w: w["t1"])
            if last is base:
                what = "no write was accepted since the previous check, which saw size %s" % base["b"]
            else:
                what = "the last accepted write (%s, returned %.3f s before the kill) wrote %s" % (
                    last["tool"], (self.t_kill or last["t1"]) - last["t1"], last["b"])
            self.fail.add("lost write", "%s: %s: object.yaml has size %s; %s; sizes it may have: %s"
                          % (label, r, size, what, ", ".join(sorted({w["b"] for w in cands}))))
        self.last_body[r] = size if size in SIZES else self.last_body[r]

    def check_git(self, label, mount_out):
        p = subprocess.run(["git", "--git-dir", self.repo, "ls-tree", "-r", "main"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            self.fail.add("git branch unreadable", "%s: git ls-tree -r main: %s"
                          % (label, p.stderr.decode().strip()))
            return
        ingit = collections.defaultdict(dict)
        rx = re.compile(r"^default/resources/my-namespace/postgresql/([^/]+)/instance-configure/"
                        r"[^/]+/(.+)$")
        for line in p.stdout.decode().splitlines():
            meta, path = line.split("\t", 1)
            m = rx.match(path)
            if m:
                ingit[m.group(1)][m.group(2)] = meta.split()[2]
        for r, out in mount_out.items():
            want = {k: hashlib.sha1(b"blob %d\0" % len(d) + d).hexdigest() for k, d in out.items()}
            self.stats["requests compared with git"] += 1
            if ingit.get(r) != want:
                got = ingit.get(r, {})
                self.fail.add("git differs from the mount", "%s: %s: %s" % (
                    label, r, ", ".join(sorted(k for k in set(want) | set(got)
                                               if want.get(k) != got.get(k)))))

    # --- the run --------------------------------------------------------------------------
    def run(self):
        a = self.a
        self.setup()
        self.shared = Shared(a.writers + a.readers + (1 if a.edit_interval > 0 else 0))
        self.reader_counts = {}
        self.say("work folder %s" % self.work)
        self.mount()
        self.fill()
        self.check("after the fill", {})
        self.start_workers()
        round_s = a.duration / a.restarts
        load = 0.0
        for c in range(1, a.restarts + 1):
            t0 = time.monotonic()
            self.resume()
            died = False
            while time.monotonic() - t0 < round_s:
                if self.daemon.poll() is not None:
                    died = True
                    break
                time.sleep(0.05)
            self.shared.daemon_pid.value = 0
            self.t_kill = time.monotonic()
            if died:
                # Not our SIGKILL: say how it ended (someone else's umount logs "reason=unmounted").
                last = self.daemon_log_tail()
                self.fail.add("daemon exited on its own", "round %d: exit status %s; its log's "
                              "last line: %s" % (c, self.daemon.returncode, last))
            else:
                os.kill(self.daemon.pid, signal.SIGKILL)
                self.daemon.wait()
                self.stats["restarts"] += 1
            self.pause()
            load += time.monotonic() - t0
            self.stats["load seconds"] = round(load, 1)
            self.unmount_dead()
            self.mount()
            writes = self.collect(killed=True)
            self.check("restart %d/%d" % (c, a.restarts), writes)
        self.shared.stop.set()
        for p in self.procs:
            p.join(30)
        self.collect(killed=False)
        for p in self.procs:
            if p.exitcode != 0:
                self.fail.add("soak worker failed", "%s exit %s" % (p.name, p.exitcode))
        subprocess.run(["fusermount3", "-u", self.mnt])
        try:
            rc = self.daemon.wait(30)
        except subprocess.TimeoutExpired:
            rc = "still running 30 s after fusermount3 -u"
        self.stats["clean unmount exit status"] = rc
        if rc != 0:
            self.fail.add("clean unmount", "the daemon's exit status: %s" % rc)

    def cleanup(self):
        shared = getattr(self, "shared", None)
        if shared:
            shared.stop.set()
            shared.running.set()
        for p in getattr(self, "procs", []):
            p.join(10)
            if p.is_alive():
                p.kill()
        if getattr(self, "mnt", None) and os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-u", self.mnt], stderr=subprocess.DEVNULL)
            if os.path.ismount(self.mnt):
                subprocess.run(["fusermount3", "-uz", self.mnt], stderr=subprocess.DEVNULL)
        if self.daemon and self.daemon.poll() is None:
            try:
                self.daemon.wait(10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()

    # --- the summary ----------------------------------------------------------------------
    def daemon_log_counts(self):
        """Error and warn lines of the daemon's log but the expected rejections; the distinct
        messages (timestamps, requests and numbers blanked) are kept for the report."""
        n = collections.Counter()
        self.log_kinds = collections.Counter()
        try:
            lines = open(os.path.join(self.work, "daemon.log"), errors="replace").read().splitlines()
        except (OSError, AttributeError):
            return 0, 0
        for line in lines:
            m = re.match(r"^\S+ (error|warn) (.*)$", line)
            if not m or 'got \\"huge\\"' in line:
                continue
            n[m.group(1)] += 1
            self.log_kinds[m.group(1) + " " + re.sub(r"soak-\d+|[0-9a-f]{12,}|\d+(\.\d+)?", "#",
                                                      m.group(2))[:160]] += 1
        return n["error"], n["warn"]

    def summary(self):
        a, s, f = self.a, self.stats, self.fail
        reads = collections.Counter()
        for c in self.reader_counts.values():
            reads.update(c)
        torn = sum(f.count[k] for k in ("torn output read", "torn object.yaml read",
                                        "refused body visible in object.yaml", "bad phase read"))
        fsck = "clean %d/%d" % (self.fsck.count(0), len(self.fsck)) if self.fsck and \
            all(x == 0 for x in self.fsck) else "FAILED %d of %d" % (
                len([x for x in self.fsck if x]), len(self.fsck))
        rows = [
            ("requests / writers / readers", "%d / %d / %d" % (a.requests, a.writers, a.readers)),
            ("load time in s (resume to parked), rounds", "%s in %d" % (s["load seconds"], a.restarts)),
            ("fill: mkdir + cp (not counted below)", s["fill writes"]),
            ("writes", s["writes"]),
            ("  by cp / sed -i / tee", "%d / %d / %d" % (s["writes by cp"], s["writes by sed"],
                                                          s["writes by tee"])),
            ("  accepted (returned 0)", s["writes accepted"]),
            ("  refused as they must be (size huge, EINVAL)", s["writes refused (size huge, EINVAL)"]),
            ("  bad requests accepted", s["bad writes accepted"]),
            ("  cut by SIGKILL (may or may not have landed)", s["writes cut by SIGKILL"]),
            ("  failed unexpectedly", s["writes failed unexpectedly"]),
            ("reads (cat)", reads["reads"]),
            ("  cut by SIGKILL", s["reads cut by SIGKILL"]),
            ("  failed unexpectedly", s["reads failed unexpectedly"]),
            ("  statefulset.yaml reads of template version 0 / 1 / 2", "%d / %d / %d" % (
                reads["variant0"], reads["variant1"], reads["variant2"])),
            ("  torn reads (output, object.yaml, phase)", torn),
            ("template edits (sed -i) / SIGHUPs", "%d / %d" % (s["template edits"],
                                                               s["SIGHUPs sent"])),
            ("SIGKILL + restarts", s["restarts"]),
            ("restart to mounted, median / max (ms)", "%.0f / %.0f" % (
                sorted(self.restart_ms[1:])[len(self.restart_ms[1:]) // 2] if self.restart_ms[1:] else 0,
                max(self.restart_ms[1:] or [0]))),
            ("checks (after the fill + after each restart)", self.check_no),
            ("renders checked (request x check)", s["renders checked"]),
            ("  fresh kratixfs render runs", s["fresh kratixfs render runs"]),
            ("  outputs differing from the fresh render", f.count["output differs from a fresh render"]),
            ("lost writes / lost requests", "%d / %d" % (f.count["lost write"],
                                                          f.count["lost request"])),
            ("not Committed after %d s" % a.settle, f.count["not Committed"]),
            ("requests compared with Git / differing", "%d / %d" % (
                s["requests compared with git"], f.count["git differs from the mount"])),
            ("git fsck --full --strict", fsck),
            ("clean unmount exit status", s["clean unmount exit status"]),
            ("failures", f.total()),
        ]
        rows.insert(-1, ("daemon log: error / warn lines (rejections of size huge aside)",
                         "%d / %d" % self.daemon_log_counts()))
        w = max(len(k) for k, _ in rows)
        out = ["| %-*s | %s |" % (w, "kratixfs soak", "result"),
               "|%s|%s|" % ("-" * (w + 2), "-" * 10)]
        out += ["| %-*s | %s |" % (w, k, v) for k, v in rows]
        if self.log_kinds:
            out += ["", "The daemon's error and warn lines (besides the rejections of size huge):",
                    ""]
            out += ["    %5d  %s" % (c, k) for k, c in self.log_kinds.most_common(10)]
        if f.total():
            out += ["", "FAILURES (by kind, with up to %d examples each):" % f.keep, ""]
            for kind, n in f.count.most_common():
                out.append("- %s: %d" % (kind, n))
                out += ["    - " + ex.replace(self.work, "WORK") for ex in f.examples[kind]]
        print()
        print("\n".join(out))
        if a.doc:
            self.write_doc(out)

    def write_doc(self, table):
        """Puts the run's table between the markers of docs/soak.md."""
        doc = os.path.join(ROOT, "docs", "soak.md")
        text = open(doc).read()
        begin, end = "<!-- soak:begin -->", "<!-- soak:end -->"
        if begin not in text or end not in text:
            print("soak: %s has no %s ... %s markers; not updated" % (doc, begin, end))
            return
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        dirty = subprocess.run(["git", "-C", ROOT, "diff", "--quiet", "HEAD", "--", "src",
                                "include"]).returncode
        args = " ".join(self.argv)
        about = ("Run on %s at commit %s%s, %d CPUs (load average %.1f at the start), with "
                 "`tests/soak/soak.py%s`%s:" % (
                     time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     head.stdout.decode().strip() or "?", " (with changes to src/)" if dirty else "",
                     os.cpu_count(), self.load_at_start, " " + args if args else "",
                     "" if args else " (the defaults)"))
        new = text[:text.index(begin) + len(begin)] + "\n" + about + "\n\n" + \
            "\n".join(table) + "\n" + text[text.index(end):]
        with open(doc, "w") as f:
            f.write(new)
        print("soak: the table is in %s" % doc)


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(
        description="The kratixfs soak: writers, readers, template edits and SIGKILL/restart "
        "cycles against a real mount with -o git; see the top of this file for what is checked.")
    ap.add_argument("--writers", type=int, default=int(env("SOAK_WRITERS", 16)))
    ap.add_argument("--readers", type=int, default=int(env("SOAK_READERS", 16)))
    ap.add_argument("--requests", type=int, default=int(env("SOAK_REQUESTS", 1000)))
    ap.add_argument("--duration", type=float, default=float(env("SOAK_DURATION", 60)),
                    help="seconds of load in total, split into --restarts rounds (default 60)")
    ap.add_argument("--restarts", type=int, default=int(env("SOAK_RESTARTS", 20)),
                    help="SIGKILL/restart cycles (default 20)")
    ap.add_argument("--edit-interval", type=float, default=float(env("SOAK_EDIT_INTERVAL", 1.0)),
                    help="seconds between template edits; 0: none (default 1)")
    ap.add_argument("--hot", type=int, default=4,
                    help="requests that get a share of all writes and reads (default 4)")
    ap.add_argument("--hot-share", type=float, default=0.25,
                    help="the share of writes and reads that go to the hot requests (default 0.25)")
    ap.add_argument("--bad-ratio", type=float, default=0.05,
                    help="share of writes that must be refused (default 0.05)")
    ap.add_argument("--settle", type=int, default=60,
                    help="seconds a restarted mount has to show every request Committed")
    ap.add_argument("--mount-timeout", type=int, default=60)
    ap.add_argument("--pause-timeout", type=int, default=60)
    ap.add_argument("--seed", type=int, default=int(env("SOAK_SEED", 1)))
    ap.add_argument("--build", default=env("BUILD", os.path.join(ROOT, "build")),
                    help="the build folder holding kratixfs (default build/)")
    ap.add_argument("--dir", default=env("SOAK_DIR", "/var/tmp"),
                    help="where the work folder goes (default /var/tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder after a clean run")
    ap.add_argument("--doc", action="store_true",
                    help="write the summary into docs/soak.md between its markers")
    a = ap.parse_args()
    if a.restarts < 1 or a.requests < 1 or a.writers < 0 or a.readers < 0:
        ap.error("--restarts and --requests must be at least 1")
    a.build = os.path.abspath(a.build)
    soak = Soak(a)
    soak.argv, skip = [], False
    for x in sys.argv[1:]:  # what the run was asked for, without where the build is
        if not skip and not x.startswith("--build") and x != "--doc":
            soak.argv.append(x)
        skip = x == "--build"
    soak.load_at_start = os.getloadavg()[0]
    rc = 0
    try:
        soak.run()
    except Exception as e:  # the summary still says what ran and what was found
        soak.fail.add("soak stopped", str(e))
        traceback.print_exc()
        rc = 1
    finally:
        soak.cleanup()
    soak.summary()
    if soak.fail.total():
        rc = 1
    work = getattr(soak, "work", None)
    if work:
        if rc == 0 and not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("\nwork folder kept: %s (daemon.log, log/*.jsonl, torn/)" % work)
    return rc


if __name__ == "__main__":
    sys.exit(main())
