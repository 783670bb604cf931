#!/usr/bin/env python3
"""Assembles OUTDIR/results.json from what run-gpu.sh's stages left in OUTDIR (any subset of them).

    python3 results.py OUTDIR BUNDLE_DIR

Fields: date, device, driver, cuda (from nvidia-smi), commit, host, software, tests_passed / tests_failed /
tests_skipped (all test JVMs together), tests_parts (each JVM's counts by part, tests-PART.log: gpu, cpu, gpu-sv,
gpu-swin, ...; see run-gpu.sh's SVJ_TESTS; also as tests_gpu / tests_cpu for those two), tests_source (how the
counts were read), rows (our benchmark rows, rows-*.json), peers (peers.json), cases (every benchmark case's
outcome), latency_table (the table's validation), search, search_window, search_measured, stages. Standard
library only.
"""
import glob
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone


def smi(query):
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=" + query, "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20)
        lines = [l.strip() for l in out.stdout.splitlines() if l.strip()]
        return lines[0] if out.returncode == 0 and lines else ""
    except Exception:
        return ""


def cuda_version():
    try:
        out = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=20).stdout
        m = re.search(r"CUDA Version:\s*([0-9.]+)", out)
        return m.group(1) if m else ""
    except Exception:
        return ""


SUMMARY = re.compile(r"^\[\s*(\d+)\s+(containers|tests)\s+(found|skipped|started|aborted|successful|failed)\s*\]")
FEED = re.compile(r"^(.+?) :: (SUCCESSFUL|FAILED|SKIPPED|ABORTED)\b")


def junit_counts(log):
    """Counts of one JUnit console launcher log: its summary when it got that far, else its test feed.

    Returns (dict with passed, failed, skipped, aborted, containers_failed, source) or None without a log.
    GPU tests whose assumption fails (no GPU) are 'aborted': they count as skipped, as Maven reports them.
    A failed container (e.g. a class whose set-up threw) counts as a failure: its tests never ran.
    """
    if not os.path.exists(log):
        return None
    text = open(log, encoding="utf-8", errors="replace").read()
    s = {}
    for line in text.splitlines():
        m = SUMMARY.match(line.strip())
        if m:
            s[(m.group(2), m.group(3))] = int(m.group(1))
    if ("tests", "successful") in s:
        return {"passed": s.get(("tests", "successful"), 0), "failed": s.get(("tests", "failed"), 0),
                "skipped": s.get(("tests", "skipped"), 0), "aborted": s.get(("tests", "aborted"), 0),
                "containers_failed": s.get(("containers", "failed"), 0), "source": "summary"}
    # no summary (the JVM died or was stopped): the test feed printed so far (--details=testfeed writes one line
    # per finished test or container, "Engine > Class > method() :: STATUS", a container after its children)
    done = {}
    for line in text.splitlines():
        m = FEED.match(line)
        if m and " > " in m.group(1):
            done[m.group(1)] = m.group(2)
    c = {"passed": 0, "failed": 0, "skipped": 0, "aborted": 0, "containers_failed": 0,
         "source": "test feed (no summary: the run ended early)"}
    names = sorted(done)
    for i, name in enumerate(names):
        container = i + 1 < len(names) and names[i + 1].startswith(name + " > ")
        status = done[name]
        if container:
            c["containers_failed"] += status == "FAILED"
        else:
            c[{"SUCCESSFUL": "passed", "FAILED": "failed", "SKIPPED": "skipped", "ABORTED": "aborted"}[status]] += 1
    if "hs_err" in text or "A fatal error has been detected" in text:
        c["source"] += "; the JVM crashed"
    return c


def undiscovered(log):
    """Test classes the launcher could not load (logged, not counted), e.g. for a class the runtime lacks."""
    if not os.path.exists(log):
        return []
    text = open(log, encoding="utf-8", errors="replace").read()
    return sorted(set(re.findall(r"ClassSelector \[className = '([^']+)'[^\]]*\] resolution failed", text)))


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception:
        return default


def main():
    out, bundle = sys.argv[1], sys.argv[2]
    res = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "device": smi("name"),
           "driver": smi("driver_version"), "cuda": cuda_version(), "memory": smi("memory.total")}
    try:
        res["commit"] = open(os.path.join(bundle, "COMMIT")).read().strip()
    except OSError:
        res["commit"] = ""
    info = os.path.join(out, "info.txt")
    if os.path.exists(info):
        text = open(info, errors="replace").read()
        m = re.search(r"Model name:\s*(.+)", text)
        n = re.search(r"^CPU\(s\):\s*(\d+)", text, re.M)
        mem = re.search(r"^Mem:\s+(\d+)", text, re.M)
        res["host"] = ", ".join(x for x in [m.group(1).strip() if m else "", (n.group(1) + " CPUs") if n else "",
                                             (mem.group(1) + " GB RAM") if mem else ""] if x)
        sw = [l.strip() for l in text.splitlines() if re.match(r"^(openjdk|torch|timm|python) ", l.strip())]
        res["software"] = "; ".join(sw)
    # one JUnit JVM per test part (tests-PART.log; see run-gpu.sh's SVJ_TESTS)
    total = {"passed": 0, "failed": 0, "skipped": 0}
    sources = []
    parts = {}
    for log in sorted(glob.glob(os.path.join(out, "tests-*.log"))):
        part = os.path.basename(log)[len("tests-"):-len(".log")]
        c = junit_counts(log)
        if c is None:
            continue
        c["undiscovered"] = undiscovered(log)
        parts[part] = c
        if part in ("gpu", "cpu"):
            res["tests_" + part] = c
        total["passed"] += c["passed"]
        total["failed"] += c["failed"] + c["containers_failed"]
        total["skipped"] += c["skipped"] + c["aborted"]
        sources.append(part + ": " + c["source"])
    if parts:
        res["tests_parts"] = parts
    res["tests_passed"], res["tests_failed"], res["tests_skipped"] = total["passed"], total["failed"], total["skipped"]
    res["tests_source"] = "; ".join(sources) if sources else "tests not run in this call"
    rows, cases = [], []
    for f in sorted(glob.glob(os.path.join(out, "rows-*.json"))):
        r = load(f, [])
        if isinstance(r, list):
            rows += [x for x in r if isinstance(x, dict)]
    for f in sorted(glob.glob(os.path.join(out, "cases-*.json"))):
        c = load(f, [])
        if isinstance(c, list):
            cases += c
    # rows of other implementations (the CPU stage's ONNX Runtime rows) are peers' rows
    ours = [x for x in rows if str(x.get("impl", "sparsevit-j")).startswith("sparsevit-j")]
    res["rows"] = ours
    res["cases"] = cases
    peers = load(os.path.join(out, "peers.json"), [])
    res["peers"] = (peers if isinstance(peers, list) else peers.get("rows", [])) + [x for x in rows if x not in ours]
    pm = load(os.path.join(out, "peers-meta.json"))
    if pm:
        res["peers_meta"] = pm
    for key, name in (("latency_table", "latency-validation.json"), ("search", "search-best.json"),
                      ("search_measured", "search-measured.json")):
        v = load(os.path.join(out, name))
        if v is not None:
            res[key] = v
    w = os.path.join(out, "search-window.txt")
    if os.path.exists(w):
        res["search_window"] = open(w).read().strip()
    stages = []
    sl = os.path.join(out, "stages.jsonl")
    if os.path.exists(sl):
        for line in open(sl):
            try:
                stages.append(json.loads(line))
            except ValueError:
                pass
    res["stages"] = stages
    tmp = os.path.join(out, "results.json.tmp")
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1)
    os.replace(tmp, os.path.join(out, "results.json"))
    print("[results] %s: %s, tests %d passed / %d failed / %d skipped, %d rows, %d peer rows, %d stages"
          % (os.path.join(out, "results.json"), res["device"] or "no GPU", res["tests_passed"], res["tests_failed"],
             res["tests_skipped"], len(res["rows"]), len(res["peers"]), len(stages)))


if __name__ == "__main__":
    main()
