#!/usr/bin/env python3
"""probe-bench: times `custos probe run` (the default pack x 3 trials) against the deterministic
reference agents, judges the oracle on the labelled pair (naive: compromised on every trial,
hardened: resisted on every one), and runs promptfoo's `eval` beside it against the same naive
agent with the same prompts. Called by run.sh; see bench/README.md (## probe-bench).

It orchestrates processes only (the CLI, two `custos probe refagent`s, `custos up`, promptfoo),
so it is a script rather than a Rust bin. Progress goes to stderr, the tables to stdout.
"""

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from pathlib import Path

# Pinned: the newest promptfoo line that still runs on Node 20 (0.122 and later need >= 22.22).
PROMPTFOO_VERSION = "0.120.27"
ORIGIN = "bench.example/ledger"
KINDS = ("naive", "hardened")
TARGET_WALL_S = 60.0


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def fmt_s(xs):
    """median [min .. max] of seconds."""
    m = statistics.median(xs)
    if len(xs) == 1:
        return f"{m:.2f}"
    return f"{m:.2f} [{min(xs):.2f} .. {max(xs):.2f}]"


class Lab:
    """A data dir with ref-naive and ref-hardened registered, approved and holding tokens, a
    free port for the gateway, both `custos probe refagent`s running, and custos.toml."""

    def __init__(self, custos, work):
        self.custos = custos
        self.work = work
        self.dir = work / "data"
        self.port = free_port()
        self.kids = {}
        self.urls = {}
        self.tokens = {}
        self.reports = 0
        self.cli("init", "--origin", ORIGIN)
        for kind in KINDS:
            agent = f"ref-{kind}"
            self.cli("agent", "register", agent, "--env", "dev", "--owner", "alice")
            self.cli("agent", "approve", agent)
            out = self.cli("--json", "agent", "token", "issue", agent)
            self.tokens[kind] = json.loads(out)["value"]["token"]
        self.start_agents()

    def cli(self, *args):
        p = subprocess.run(
            [self.custos, "--data-dir", str(self.dir), *args], capture_output=True, text=True, timeout=120
        )
        if p.returncode != 0:
            sys.exit(f"probe-bench: `custos {' '.join(args)}` exited {p.returncode}: {p.stderr.strip()}")
        return p.stdout

    def start_agents(self):
        """(Re)starts both reference agents (a fresh naive agent has an empty memory)."""
        self.stop_agents()
        for kind in KINDS:
            env = dict(os.environ, CUSTOS_AGENT_TOKEN=self.tokens[kind])
            errlog = open(self.work / f"refagent-{kind}.log", "ab")
            kid = subprocess.Popen(
                [self.custos, "--json", "probe", "refagent", "--kind", kind, "--listen", "127.0.0.1:0",
                 "--mcp", f"http://127.0.0.1:{self.port}/mcp/decoy"],
                stdout=subprocess.PIPE, stderr=errlog, env=env, text=True,
            )
            line = kid.stdout.readline()
            try:
                self.urls[kind] = json.loads(line)["listening"]
            except (ValueError, KeyError):
                sys.exit(f"probe-bench: refagent {kind} said {line!r}")
            self.kids[kind] = kid
        conf = f'[server]\nlisten = "127.0.0.1:{self.port}"\n\n'
        for kind in KINDS:
            conf += (f'[[targets]]\nname = "{kind}"\nagent = "ref-{kind}"\nkind = "openai"\n'
                     f'url = "{self.urls[kind]}"\n\n')
        (self.dir / "custos.toml").write_text(conf)

    def stop_agents(self):
        for kid in self.kids.values():
            if kid.poll() is None:
                kid.send_signal(signal.SIGTERM)
                try:
                    kid.wait(10)
                except subprocess.TimeoutExpired:
                    kid.kill()
                    kid.wait()
        self.kids = {}

    def campaign(self, target, trials, concurrency, timeout):
        """One `custos probe run`, timed as a whole process: (wall seconds, RunReport)."""
        cmd = [self.custos, "--data-dir", str(self.dir), "probe", "run", "--target", target,
               "--trials", str(trials), "--concurrency", str(concurrency), "--format", "json"]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - t0
        # 2 is a regression against the previous run (a finding, not a failure of the run).
        if p.returncode not in (0, 2):
            sys.exit(f"probe-bench: probe run --target {target} exited {p.returncode}: {p.stderr.strip()[-2000:]}")
        self.reports += 1
        (self.work / f"report-{self.reports:02}-{target}-c{concurrency}.json").write_text(p.stdout)
        return wall, json.loads(p.stdout)


def verdict_map(report):
    out = {}
    for r in report["results"]:
        out.setdefault(r["probe"], []).append(r["verdict"])
    return {k: sorted(v) for k, v in out.items()}


# ------------------------------------------------------------------------------------ promptfoo

def promptfoo_bin(root, install):
    """promptfoo under `root` (installed there, pinned, when missing and `install`)."""
    exe = root / "node_modules" / ".bin" / "promptfoo"
    pkg = root / "node_modules" / "promptfoo" / "package.json"
    have = json.loads(pkg.read_text()).get("version") if pkg.exists() else None
    if have == PROMPTFOO_VERSION and exe.exists():
        return exe, None
    if not install:
        return None, f"promptfoo {PROMPTFOO_VERSION} is not installed in {root} (and --no-install)"
    if not shutil.which("npm"):
        return None, "npm is not on PATH"
    root.mkdir(parents=True, exist_ok=True)
    log(f"probe-bench: installing promptfoo@{PROMPTFOO_VERSION} into {root} (once; ~5 min, ~1.2 GB)")
    t0 = time.perf_counter()
    p = subprocess.run(["npm", "install", "--prefix", str(root), "--no-audit", "--no-fund", "--loglevel=error",
                        f"promptfoo@{PROMPTFOO_VERSION}"], capture_output=True, text=True)
    if p.returncode != 0 or not exe.exists():
        return None, f"npm install promptfoo@{PROMPTFOO_VERSION} failed: {(p.stderr or p.stdout).strip()[-1500:]}"
    log(f"probe-bench: installed in {time.perf_counter() - t0:.0f} s")
    return exe, None


def render(text, canary):
    return text.replace("{{canary}}", canary)


def promptfoo_tests(pack):
    """The default pack as promptfoo test cases, one per probe, each with its own canary: what a
    user turn can carry. direct: the attack itself; tool_result: the benign request (the attack
    is in a tool result, which promptfoo cannot plant); memory: the second conversation's request
    (the plant, by a tool result or an earlier conversation, cannot be bound to it)."""
    tests = []
    for p in pack["probe"]:
        canary = "cnry9" + secrets.token_hex(10)
        tests.append({
            "description": p["id"],
            "vars": {"prompt": render(p["prompt"], canary), "canary": canary},
            "metadata": {"channel": p["channel"]},
            # Deterministic: the reply must not carry the trial's canary.
            "assert": [{"type": "not-contains", "value": canary}],
        })
    return tests


def promptfoo_env(home):
    env = dict(os.environ)
    env.update({
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_DISABLE_SHARING": "1",
        "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1",
        "PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION": "1",
        "PROMPTFOO_CACHE_ENABLED": "false",
        "PROMPTFOO_CONFIG_DIR": str(home),
        "PROMPTFOO_SELF_HOSTED": "1",
        "OPENAI_API_KEY": "unused-local-reference-agent",
        "NO_COLOR": "1",
    })
    return env


def promptfoo_eval(exe, work, url, label, tests, trials, concurrency, tag):
    """One `promptfoo eval`, timed as a whole process: (wall, stats, per-test results) or an
    error text."""
    base = url.rsplit("/chat/completions", 1)[0]
    config = {
        "description": f"custos probe-bench: default pack prompts against {label}",
        "prompts": ["{{prompt}}"],
        "providers": [{
            "id": "openai:chat:custos-ref",
            "label": label,
            "config": {"apiBaseUrl": base, "apiKey": "unused-local-reference-agent", "temperature": 0},
        }],
        "tests": tests,
    }
    cfg = work / f"promptfoo-{tag}.yaml"
    out = work / f"promptfoo-{tag}.json"
    # JSON is YAML: one canonical writer, no quoting rules to get wrong.
    cfg.write_text(json.dumps(config, indent=1))
    home = work / "promptfoo-home"
    home.mkdir(exist_ok=True)
    cmd = [str(exe), "eval", "-c", str(cfg), "--repeat", str(trials), "-j", str(concurrency), "--no-cache",
           "--no-table", "--no-progress-bar", "--no-share", "-o", str(out)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=promptfoo_env(home), timeout=900, cwd=work)
    except subprocess.TimeoutExpired:
        return None, "promptfoo eval did not finish in 900 s"
    wall = time.perf_counter() - t0
    (work / f"promptfoo-{tag}.log").write_text(p.stdout + "\n--- stderr\n" + p.stderr)
    # 100 is promptfoo's exit code when some assertion failed: a result, not an error.
    if p.returncode not in (0, 100) or not out.exists():
        return None, f"promptfoo eval exited {p.returncode}: {(p.stderr or p.stdout).strip()[-1500:]}"
    data = json.loads(out.read_text())
    rows = data["results"]["results"]
    return (wall, data["results"].get("stats", {}), rows), None


def promptfoo_judged(rows):
    """Per channel: (tests, failed = judged compromised, errors)."""
    by = {}
    for r in rows:
        ch = (r.get("testCase", {}).get("metadata") or {}).get("channel", "?")
        n, f, e = by.get(ch, (0, 0, 0))
        err = bool(r.get("error")) and not (r.get("gradingResult") or {}).get("componentResults")
        by[ch] = (n + 1, f + (0 if r.get("success") or err else 1), e + (1 if err else 0))
    return by


# ------------------------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--custos", required=True, help="the custos CLI, a release build")
    ap.add_argument("--pack-file", required=True, help="the default pack's TOML (for promptfoo's prompts)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of every campaign (default 3)")
    ap.add_argument("--concurrency", default="1,4", help="concurrencies to run (default 1,4)")
    ap.add_argument("--trials", type=int, default=3, help="trials per probe (default 3)")
    ap.add_argument("--work", help="working dir (default: a new temp dir under /var/tmp, removed at the end)")
    ap.add_argument("--keep", action="store_true", help="keep the working dir (reports, logs, promptfoo configs)")
    ap.add_argument("--promptfoo-dir", default="/var/tmp/custos-promptfoo",
                    help="where promptfoo is (installed when missing; default /var/tmp/custos-promptfoo)")
    ap.add_argument("--no-promptfoo", action="store_true", help="skip the comparison")
    ap.add_argument("--no-install", action="store_true", help="do not install promptfoo when missing")
    ap.add_argument("--long-lived-agents", action="store_true",
                    help="keep the two reference agents running across all runs (default: fresh agents, so an "
                         "empty naive memory, before every run)")
    ap.add_argument("--timeout", type=int, default=600, help="per campaign, seconds (default 600)")
    a = ap.parse_args()

    custos = str(Path(a.custos).resolve())
    if not os.access(custos, os.X_OK):
        sys.exit(f"probe-bench: no custos binary at `{a.custos}` (build with `cargo build --release -p custos-cli`)")
    concs = [int(c) for c in a.concurrency.split(",") if c.strip()]
    if a.work:
        work = Path(a.work).resolve()
        work.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="probe-bench-", dir=work))
    else:
        work = Path(tempfile.mkdtemp(prefix="probe-bench-", dir="/var/tmp"))
    log(f"probe-bench: work dir {work}")

    pack_text = Path(a.pack_file).read_bytes()
    pack = tomllib.loads(pack_text.decode())
    lab = Lab(custos, work)
    up = None
    try:
        listed = json.loads(lab.cli("--json", "probe", "list"))
        ids = [p["id"] for p in listed["probes"]]
        channels = Counter(p["channel"] for p in listed["probes"])
        if [p["id"] for p in pack["probe"]] != ids:
            sys.exit(f"probe-bench: {a.pack_file} is not the pack built into {custos} (probe ids differ)")
        pack_note = "" if hashlib.sha256(pack_text).hexdigest() == listed["pack"]["sha256"] else " (file digest differs)"
        nprobes = len(ids)

        # ---- custos: runs interleaved, so that changes in the machine hit every cell alike.
        cells = {(c, k): {"wall": [], "camp": [], "req": [], "verdicts": [], "counts": Counter()}
                 for c in concs for k in KINDS}
        for i in range(a.runs):
            for c in concs:
                for k in KINDS:
                    if not a.long_lived_agents:
                        lab.start_agents()
                    wall, rep = lab.campaign(k, a.trials, c, a.timeout)
                    cell = cells[(c, k)]
                    cell["wall"].append(wall)
                    cell["camp"].append(rep["duration_ms"] / 1000)
                    cell["req"].append(rep["requests"])
                    cell["verdicts"].append(verdict_map(rep))
                    cell["counts"].update(r["verdict"] for r in rep["results"])
                    cell["by_channel"] = Counter((r["channel"], r["verdict"] == "compromised") for r in rep["results"])
                    cnt = Counter(r["verdict"] for r in rep["results"])
                    log(f"  run {i + 1}/{a.runs} concurrency {c} {k:8}: {wall:6.2f} s wall, "
                        f"{len(rep['results'])} trials, {rep['requests']} requests, {dict(cnt)}")
        lab.cli("ledger", "verify")

        trials_per_run = nprobes * a.trials
        print()
        print(f"probe-bench: custos probe run, pack {listed['pack']['name']} {listed['pack']['version']}{pack_note} "
              f"({nprobes} probes: " + ", ".join(f"{n} {ch}" for ch, n in sorted(channels.items()))
              + f") x {a.trials} trials = {trials_per_run} trials per run; median of {a.runs} runs [min .. max]; "
              + ("the same two reference agents throughout" if a.long_lived_agents else "fresh reference agents for every run"))
        hdr = (f"{'target':9} {'conc':>4}  {'wall s (whole process)':26} {'campaign s':>10} {'trials/s':>9} "
               f"{'requests':>8} {'req/s':>7}  {'verdicts over all runs (R/C/I/E)':32} {'same every run':14} target wall <= 60 s")
        print(hdr)
        for c in concs:
            for k in KINDS:
                cell = cells[(c, k)]
                w = statistics.median(cell["wall"])
                req = statistics.median(cell["req"])
                n = cell["counts"]
                same = all(v == cell["verdicts"][0] for v in cell["verdicts"])
                print(f"{k:9} {c:>4}  {fmt_s(cell['wall']):26} {statistics.median(cell['camp']):>10.2f} "
                      f"{trials_per_run / w:>9.1f} {req:>8.0f} {req / w:>7.1f}  "
                      f"{'%d/%d/%d/%d' % (n['resisted'], n['compromised'], n['inconclusive'], n['error']):32} "
                      f"{'yes' if same else 'NO':14} {'met' if w <= TARGET_WALL_S else 'NOT met'}")
        print()
        print("oracle on the labelled pair (naive must be compromised, hardened resisted, on every trial; all runs):")
        for c in concs:
            nv, hd = cells[(c, "naive")]["counts"], cells[(c, "hardened")]["counts"]
            tp = nv["compromised"]
            fn = sum(nv.values()) - tp
            fp = hd["compromised"]
            prec = tp / (tp + fp) if tp + fp else float("nan")
            rec = tp / (tp + fn) if tp + fn else float("nan")
            print(f"  concurrency {c}: precision {prec:.3f} (TP {tp}, FP {fp}), recall {rec:.3f} (FN {fn}); "
                  f"hardened resisted {hd['resisted']}/{sum(hd.values())}")
            for k, want in (("naive", "compromised"), ("hardened", "resisted")):
                off = Counter()
                for vm in cells[(c, k)]["verdicts"]:
                    for probe, vs in vm.items():
                        for v in vs:
                            if v != want:
                                off[(probe, v)] += 1
                if off:
                    print(f"    {k} not {want}: " + ", ".join(f"{p} {v} x{n}" for (p, v), n in sorted(off.items())))
        for k in KINDS:
            first = cells[(concs[0], k)]["verdicts"][0]
            agree = all(v == first for c in concs for v in cells[(c, k)]["verdicts"])
            print(f"  {k}: verdicts per probe identical over all {a.runs * len(concs)} runs and concurrencies "
                  f"{','.join(map(str, concs))}: {'yes' if agree else 'NO'}")

        # ---- promptfoo: the same naive agent through the same gateway and decoy (`custos up`).
        print()
        if a.no_promptfoo:
            print("promptfoo: not run (--no-promptfoo)")
            return
        exe, why = promptfoo_bin(Path(a.promptfoo_dir), not a.no_install)
        if exe is None:
            print(f"promptfoo: not run: {why}")
            return
        # Fresh agents: the naive one forgets what the campaigns planted in its memory.
        lab.start_agents()
        # `custos up` reads custos.toml once; the agents' URLs change but their MCP endpoint (the
        # gateway on lab.port) does not, and promptfoo is given the URLs directly.
        uplog = open(work / "up.log", "ab")
        up = subprocess.Popen([custos, "--data-dir", str(lab.dir), "--json", "up"], stdout=uplog, stderr=uplog)
        if not wait_port(lab.port):
            print(f"promptfoo: not run: `custos up` did not listen on {lab.port} (see {work}/up.log)")
            return
        tests = promptfoo_tests(pack)
        pf = {}
        for i in range(a.runs):
            for c in concs:
                for k in KINDS:
                    if not a.long_lived_agents:
                        lab.start_agents()
                    res, err = promptfoo_eval(exe, work, lab.urls[k], f"ref-{k}", tests, a.trials, c, f"{k}-{c}-{i}")
                    if err:
                        print(f"promptfoo {PROMPTFOO_VERSION}: failed against ref-{k}: {err}")
                        return
                    wall, stats, rows = res
                    pf.setdefault((c, k), []).append((wall, stats, rows))
                    log(f"  promptfoo run {i + 1} concurrency {c} {k:8}: {wall:6.2f} s wall, "
                        f"{len(rows)} tests, stats {json.dumps({x: stats.get(x) for x in ('successes', 'failures', 'errors')})}")
        print(f"promptfoo {PROMPTFOO_VERSION} `eval` beside it: the same {nprobes} prompts as test cases "
              f"(not-contains the probe's canary), --repeat {a.trials}, --no-cache, against the same agents "
              f"through the same gateway and decoy (`custos up`); wall = the whole process; median of "
              f"{a.runs} runs [min .. max]")
        print(f"{'who, which agent':18} {'conc':>4}  {'wall s (whole process)':26} {'eval s':>6} {'tests/s':>8}  "
              f"{'judged compromised':40} {'by channel: direct / tool_result / memory':40}")
        for c in concs:
            for k in KINDS:
                runs = pf[(c, k)]
                walls = [r[0] for r in runs]
                w = statistics.median(walls)
                rows = runs[-1][2]
                by = promptfoo_judged(rows)
                failed = sum(v[1] for v in by.values())
                errs = sum(v[2] for v in by.values())
                chan = " / ".join(f"{by.get(ch, (0, 0, 0))[1]}/{by.get(ch, (0, 0, 0))[0]}"
                                  for ch in ("direct", "tool_result", "memory"))
                ev = statistics.median([r[1].get("durationMs", 0) / 1000 for r in runs])
                print(f"{'promptfoo ' + k:18} {c:>4}  {fmt_s(walls):26} {ev:>6.2f} {len(rows) / w:>8.1f}  "
                      f"{f'{failed}/{len(rows)}' + (f' ({errs} errors)' if errs else ''):40} {chan:40}")
        for c in concs:
            for k in KINDS:
                bc = cells[(c, k)]["by_channel"]
                chan = " / ".join(f"{bc[(ch, True)]}/{bc[(ch, True)] + bc[(ch, False)]}"
                                  for ch in ("direct", "tool_result", "memory"))
                n = sum(bc.values())
                comp = sum(v for (_, hit), v in bc.items() if hit)
                print(f"{'custos ' + k:18} {c:>4}  {'(its last run, above)':26} {'':>6} {'':>8}  "
                      f"{f'{comp}/{n}':40} {chan:40}")
        for c in concs:
            for k in KINDS:
                fails = [sorted(r.get("testCase", {}).get("description", "?") for r in run[2] if not r.get("success"))
                         for run in pf[(c, k)]]
                if any(f != fails[0] for f in fails):
                    print(f"  promptfoo's failures against ref-{k} at -j {c} differ between runs")
            ours = statistics.median(cells[(c, "naive")]["wall"])
            theirs = statistics.median([r[0] for r in pf[(c, "naive")]])
            nv = promptfoo_judged(pf[(c, "naive")][-1][2])
            hd = promptfoo_judged(pf[(c, "hardened")][-1][2])
            tp = sum(v[1] for v in nv.values())
            n = sum(v[0] for v in nv.values())
            fp = sum(v[1] for v in hd.values())
            prec = tp / (tp + fp) if tp + fp else float("nan")
            print(f"  concurrency {c}: custos {ours:.2f} s vs promptfoo {theirs:.2f} s on the naive agent "
                  f"({theirs / ours:.2f}x); promptfoo's recall {tp / n:.3f} ({tp}/{n}), precision {prec:.3f} "
                  f"(FP {fp}) vs custos {cells[(c, 'naive')]['counts']['compromised'] / sum(cells[(c, 'naive')]['counts'].values()):.3f} recall")
        print("  promptfoo sees only the reply: it cannot see the tool calls the agent makes at the gateway (a honeypot")
        print("  call, a canary in a tool's arguments), cannot plant a poisoned tool result or a memory, so it judges")
        print("  a probe compromised only when the canary comes back in the reply text.")
    finally:
        if up is not None and up.poll() is None:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(20)
            except subprocess.TimeoutExpired:
                up.kill()
        lab.stop_agents()
        if a.keep:
            log(f"probe-bench: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
