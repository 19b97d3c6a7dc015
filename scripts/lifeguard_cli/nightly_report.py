# SPDX-License-Identifier: MIT
"""The reports of `lifeguard nightly`, made from its state: summary.json, junit.xml,
results.sarif (SARIF 2.1.0) and report.html with matplotlib plots (Agg; PNGs in plots/ and
embedded in the page as data URIs, so the page is one self-contained file)."""

import base64
import html
import io
import xml.etree.ElementTree as ET
from pathlib import Path

from .nightly_corpus import input_files
from .nightly_crashes import crash_inputs
from .nightly_state import write_json_atomic
from .paths import REPO_ROOT

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_URI = "https://github.com/lifeguard/lifeguard"


# ---- summary.json -----------------------------------------------------------------------

def target_summary(out, name, ts):
    """One target's entry of summary.json, its runs in the out directory put end to end."""
    coverage, corpus = [], []
    offset = execs = 0.0
    first_crash = None
    timeouts = ooms = 0
    for run in ts["runs"]:
        for t, run_execs, cov, corp, _ in run["series"]:
            coverage.append([round(offset + t, 2), cov])
            corpus.append([round(offset + t, 2), corp])
        if first_crash is None and run.get("first_crash_seconds") is not None:
            first_crash = round(offset + run["first_crash_seconds"], 3)
        offset += run["seconds"]
        execs += run["execs"]
        timeouts += run.get("timeouts", 0)
        ooms += run.get("ooms", 0)
    findings = ts["findings"].values()
    classified = ts["classified"]
    inputs = crash_inputs(out.artifacts(name))
    return {
        "execs": int(execs),
        "exec_per_sec": round(execs / offset, 1) if offset else 0.0,
        "seconds": round(offset, 3),
        "runs": len(ts["runs"]),
        "fault": ts.get("fault"),
        "crashes": len(ts["findings"]),
        "new_crashes": sum(1 for f in findings if not f.get("regression")),
        "crash_inputs": len(inputs),
        "unclassified": sum(1 for p in inputs if p.name not in classified),
        "unreproduced": sum(1 for k in classified.values() if k is None),
        "timeouts": timeouts,
        "ooms": ooms,
        "seconds_to_first_crash": first_crash,
        "coverage": coverage,
        "corpus_size": corpus,
        "corpus_entries": len(input_files(out.corpus(name))),
        "merged_back": ts.get("merged_back", 0),
    }


def summary(out, state, budget, seconds):
    """summary.json's object: per target figures and the list of unique crashes."""
    targets = {name: target_summary(out, name, ts) for name, ts in state["targets"].items()}
    findings = []
    for name, ts in state["targets"].items():
        for finding in ts["findings"].values():
            findings.append({
                "target": name, "kind": finding["kind"], "tool": finding["tool"],
                "summary": finding["summary"], "dedup_token": finding["token"],
                "key": finding["key"], "new": not finding.get("regression"),
                "regression": finding.get("regression"), "inputs": finding["inputs"],
                "first_input": f"artifacts/{name}/{finding['first_input']}",
                "minimized": finding.get("minimized"), "candidate": finding.get("candidate"),
                "frame": finding.get("frame"), "schedule": finding.get("schedule"),
                "report": finding.get("report", [])})
    return {"budget": budget, "seconds": round(seconds, 3), "targets": targets,
            "findings": findings}


# ---- junit.xml ----------------------------------------------------------------------------

def junit(summary_):
    """One testsuite, one testcase per target, a <failure> per new unique crash (crashes a
    regression already has are listed in the testcase's system-out)."""
    targets = summary_["targets"]
    by_target = {}
    for finding in summary_["findings"]:
        by_target.setdefault(finding["target"], []).append(finding)
    failures = sum(1 for f in summary_["findings"] if f["new"])
    suite = ET.Element("testsuite", name="lifeguard-nightly", tests=str(len(targets)),
                       failures=str(failures), errors="0", skipped="0",
                       time=f"{summary_['seconds']:.3f}")
    for name, t in targets.items():
        case = ET.SubElement(suite, "testcase", classname="nightly", name=name,
                             time=f"{t['seconds']:.3f}")
        known = []
        for finding in by_target.get(name, []):
            if not finding["new"]:
                known.append(f"{finding['summary']} (regression {finding['regression']})")
                continue
            failure = ET.SubElement(case, "failure", type=finding["kind"],
                                    message=finding["summary"])
            failure.text = "\n".join([f"input: {finding['candidate'] or finding['first_input']}",
                                      f"dedup token: {finding['dedup_token']}",
                                      *finding["report"]])
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join([f"execs {t['execs']}, {t['exec_per_sec']} exec/s, "
                              f"{t['corpus_entries']} corpus entries, {t['crash_inputs']} crash "
                              "inputs", *(f"known: {k}" for k in known)])
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    return tree


# ---- results.sarif --------------------------------------------------------------------------

def sarif(summary_):
    """SARIF 2.1.0: one rule per fault kind, one result per unique crash at its top frame."""
    kinds = sorted({f["kind"] for f in summary_["findings"]})
    rules = [{"id": kind, "name": kind,
              "shortDescription": {"text": f"{kind} found by fuzzing"},
              "helpUri": f"{TOOL_URI}#fault-kinds"} for kind in kinds]
    results = []
    for finding in summary_["findings"]:
        result = {
            "ruleId": finding["kind"], "ruleIndex": kinds.index(finding["kind"]),
            "level": "error" if finding["new"] else "note",
            "message": {"text": f"{finding['target']}: {finding['summary']}"
                                + ("" if finding["new"] else
                                   f" (regression {finding['regression']})")},
            "partialFingerprints": {"dedupKey": finding["key"]},
            "properties": {"target": finding["target"], "input": finding["candidate"]
                           or finding["first_input"], "new": finding["new"]},
        }
        frame = finding.get("frame")
        if frame:
            result["locations"] = [{"physicalLocation": {
                "artifactLocation": {"uri": frame["file"], "uriBaseId": "SRCROOT"},
                "region": {"startLine": frame["line"]}}}]
        results.append(result)
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "lifeguard", "informationUri": TOOL_URI, "rules": rules}},
        "originalUriBaseIds": {"SRCROOT": {"uri": REPO_ROOT.as_uri() + "/"}},
        "results": results}]}


# ---- report.html ----------------------------------------------------------------------------

def plots(summary_, directory):
    """The PNGs of the report as [(title, file name, PNG bytes)]; [] without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    targets = summary_["targets"]
    made = []

    def save(fig, title, name):
        buffer = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        data = buffer.getvalue()
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / name).write_bytes(data)
        made.append((title, name, data))

    for key, title, ylabel, name in (
            ("coverage", "Coverage over time", "coverage (edges)", "coverage.png"),
            ("corpus_size", "Corpus size over time", "corpus entries", "corpus.png")):
        fig, ax = plt.subplots(figsize=(9, 4))
        for target, t in targets.items():
            if t[key]:
                xs, ys = zip(*t[key])
                ax.plot(xs, ys, marker=".", label=target)
        ax.set_xlabel("seconds of fuzzing")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if any(t[key] for t in targets.values()):
            ax.legend(loc="best", fontsize="small")
        save(fig, title, name)

    names = list(targets)
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(names) + 1.5))
    rates = [targets[n]["exec_per_sec"] for n in names]
    ax.barh(names, rates, color="tab:blue")
    for y, rate in enumerate(rates):
        ax.text(rate, y, f" {rate:,.0f}", va="center", fontsize="small")
    ax.set_xlabel("executions per second")
    ax.set_title("Executions per second")
    ax.invert_yaxis()
    save(fig, "Executions per second", "exec_rate.png")

    fig, ax = plt.subplots(figsize=(9, 0.5 * len(names) + 1.5))
    firsts = [targets[n]["seconds_to_first_crash"] for n in names]
    ax.barh(names, [f or 0 for f in firsts], color="tab:red")
    for y, first in enumerate(firsts):
        ax.text(first or 0, y, f" {first:.1f} s" if first is not None else " no crash",
                va="center", fontsize="small")
    ax.set_xlabel("seconds of fuzzing to the first crash")
    ax.set_title("Time to first crash")
    ax.invert_yaxis()
    save(fig, "Time to first crash", "first_crash.png")
    return made


def page(summary_, images):
    """report.html's text."""
    e = html.escape
    rows = "".join(_target_row(e, n, t) for n, t in summary_["targets"].items())
    findings = "".join(_finding_row(e, f) for f in summary_["findings"]) or \
        '<tr><td colspan="6">no crashes</td></tr>'
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(data).decode()}" '
        f'alt="{e(title)}" data-file="plots/{e(name)}"></figure>'
        for title, name, data in images) or "<p>(no plots: matplotlib is not installed)</p>"
    new = sum(1 for f in summary_["findings"] if f["new"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lifeguard nightly</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
td, th {{ border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }}
td.n {{ text-align: right; }} .new {{ color: #b00; font-weight: bold; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; border: 1px solid #ddd; }}
code {{ font-size: 90%; }}
</style></head><body>
<h1>lifeguard nightly</h1>
<p>budget {summary_['budget']} s, ran {summary_['seconds']:.0f} s;
{len(summary_['findings'])} unique crashes, <span class="{'new' if new else ''}">{new} new</span>.</p>
<h2>Targets</h2>
<table><tr><th>target</th><th>execs</th><th>exec/s</th><th>seconds</th><th>corpus</th>
<th>unique crashes</th><th>new</th><th>crash inputs</th><th>first crash (s)</th></tr>
{rows}</table>
<h2>Crashes</h2>
<table><tr><th>target</th><th>kind</th><th>where</th><th>summary</th><th>inputs</th>
<th>candidate / regression</th></tr>
{findings}</table>
<h2>Plots</h2>
{figures}
</body></html>
"""


def _target_row(e, name, t):
    first = t["seconds_to_first_crash"]
    cells = [e(name), f"{t['execs']:,}", f"{t['exec_per_sec']:,.0f}", f"{t['seconds']:.0f}",
             str(t["corpus_entries"]), str(t["crashes"]), str(t["new_crashes"]),
             str(t["crash_inputs"]), "-" if first is None else f"{first:.1f}"]
    return "<tr>" + "".join(f'<td class="n">{c}</td>' if i else f"<td>{c}</td>"
                            for i, c in enumerate(cells)) + "</tr>\n"


def _finding_row(e, f):
    frame = f.get("frame")
    where = f"{frame['file']}:{frame['line']} in {frame['function']}" if frame else "?"
    status = (f'<span class="new">new</span>: <code>{e(f["candidate"] or f["first_input"])}</code>'
              if f["new"] else f"regression <code>{e(f['regression'])}</code>")
    return (f"<tr><td>{e(f['target'])}</td><td>{e(f['kind'])}</td><td><code>{e(where)}</code>"
            f"</td><td><code>{e(f['summary'])}</code></td><td class=\"n\">{f['inputs']}</td>"
            f"<td>{status}</td></tr>\n")


# ---- all of them ------------------------------------------------------------------------------

def write_all(out, state, budget, seconds):
    """Write the four reports into the out directory; returns the summary object."""
    result = summary(out, state, budget, seconds)
    write_json_atomic(out.root / "summary.json", result)
    junit(result).write(out.root / "junit.xml", encoding="utf-8", xml_declaration=True)
    write_json_atomic(out.root / "results.sarif", sarif(result))
    (out.root / "report.html").write_text(page(result, plots(result, out.plots())),
                                          encoding="utf-8")
    return result


def print_summary(summary_, out, stream):
    """A few lines for people: per target figures, then each unique crash."""
    for name, t in summary_["targets"].items():
        first = t["seconds_to_first_crash"]
        print(f"{name}: {t['execs']:,} execs in {t['seconds']:.0f} s ({t['exec_per_sec']:,.0f}/s), "
              f"corpus {t['corpus_entries']}, {t['crashes']} unique crashes "
              f"({t['new_crashes']} new) from {t['crash_inputs']} crash inputs"
              + (f", first after {first:.1f} s" if first is not None else ""), file=stream)
    for f in summary_["findings"]:
        status = f"NEW -> {f['candidate']}" if f["new"] else f"regression {f['regression']}"
        print(f"  {f['target']}: {f['summary']} [{f['dedup_token']}] x{f['inputs']}: {status}",
              file=stream)
    print(f"reports: {out.root}/{{summary.json,junit.xml,results.sarif,report.html}}",
          file=stream)
