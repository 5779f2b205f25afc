#!/usr/bin/env python3
"""Checks that a probe campaign's JUnit XML and SARIF say what its JSON report says.

The JSON is custos-probe's `RunReport` as serde writes it: `results[]` with `probe`, `asi`,
`trial` and `verdict` (resisted, compromised, inconclusive, error). The JUnit file is read by
junitparser (pinned in requirements.txt), an outside reader of the format CI dashboards use:
  - the suite's tests/failures/errors/skipped attributes equal the JSON's counts;
  - one test case per trial, named `<probe> trial <n>` in class `<asi>.<probe>`, whose outcome
    is the trial's verdict: compromised = failure, error = error, inconclusive = skipped,
    resisted = passed;
  - the outcome elements counted one by one agree with the attributes.
The SARIF file (already schema-checked by ../validate/validate_sarif.py) has one result per
compromised trial, each naming a rule the driver declares, and one error notification per
errored trial.

Usage: check_report.py JSON JUNIT SARIF   exit 0 when they agree, 1 otherwise (each mismatch printed).
"""

import json
import sys
from collections import Counter

from junitparser import Error, Failure, JUnitXml, Skipped

OUTCOME = {"resisted": "passed", "compromised": "failure", "error": "error", "inconclusive": "skipped"}


def outcome(case):
    kinds = {type(r) for r in case.result}
    if len(case.result) > 1:
        return "several: " + ", ".join(sorted(k.__name__ for k in kinds))
    if Failure in kinds:
        return "failure"
    if Error in kinds:
        return "error"
    if Skipped in kinds:
        return "skipped"
    return "passed" if not case.result else "unknown"


def check_junit(report, path, problems):
    try:
        xml = JUnitXml.fromfile(path)
    except Exception as e:  # junitparser raises lxml/etree errors as they come
        problems.append(f"{path}: not readable JUnit XML: {e}")
        return
    suites = list(xml) if isinstance(xml, JUnitXml) else [xml]
    if len(suites) != 1:
        problems.append(f"{path}: {len(suites)} test suites, expected 1")
        return
    suite = suites[0]
    verdicts = Counter(t["verdict"] for t in report["results"])
    expected = {
        "tests": len(report["results"]),
        "failures": verdicts["compromised"],
        "errors": verdicts["error"],
        "skipped": verdicts["inconclusive"],
    }
    for name, want in expected.items():
        got = getattr(suite, name)
        if got != want:
            problems.append(f"{path}: testsuite {name}={got}, the JSON report has {want}")
    want_cases = Counter(
        (f"{t['asi']}.{t['probe']}", f"{t['probe']} trial {t['trial']}", OUTCOME[t["verdict"]])
        for t in report["results"]
    )
    got_cases = Counter((c.classname, c.name, outcome(c)) for c in suite)
    for case, n in sorted((want_cases - got_cases).items()):
        problems.append(f"{path}: missing test case {case} (x{n})")
    for case, n in sorted((got_cases - want_cases).items()):
        problems.append(f"{path}: unexpected test case {case} (x{n})")
    by_outcome = Counter(o for (_, _, o) in got_cases.elements())
    counted = {
        "tests": sum(by_outcome.values()),
        "failures": by_outcome["failure"],
        "errors": by_outcome["error"],
        "skipped": by_outcome["skipped"],
    }
    for name, n in counted.items():
        if n != getattr(suite, name):
            problems.append(f"{path}: testsuite {name}={getattr(suite, name)} but {n} such test cases")
    passed = by_outcome["passed"]
    print(
        f"{path}: {counted['tests']} test cases: {passed} passed, {counted['failures']} failures, "
        f"{counted['errors']} errors, {counted['skipped']} skipped"
    )


def check_sarif(report, path, problems):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        run = doc["runs"][0]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        problems.append(f"{path}: not a SARIF log with a run: {e!r}")
        return
    verdicts = Counter(t["verdict"] for t in report["results"])
    results = run.get("results", [])
    if len(results) != verdicts["compromised"]:
        problems.append(f"{path}: {len(results)} results, the JSON report has {verdicts['compromised']} compromised trials")
    rules = [r.get("id") for r in run.get("tool", {}).get("driver", {}).get("rules", [])]
    for i, result in enumerate(results):
        if result.get("ruleId") not in rules:
            problems.append(f"{path}: result {i} names rule {result.get('ruleId')!r}, not declared by the driver")
        elif result.get("ruleIndex", -1) >= 0 and rules[result["ruleIndex"] : result["ruleIndex"] + 1] != [result["ruleId"]]:
            problems.append(f"{path}: result {i}: ruleIndex {result['ruleIndex']} is not rule {result['ruleId']!r}")
    notes = [n for i in run.get("invocations", []) for n in i.get("toolExecutionNotifications", [])]
    errors = [n for n in notes if n.get("level") == "error"]
    if len(errors) != verdicts["error"]:
        problems.append(f"{path}: {len(errors)} error notifications, the JSON report has {verdicts['error']} errored trials")
    print(f"{path}: {len(results)} results, {len(errors)} error notifications")


def main(args):
    if len(args) != 3:
        sys.exit("usage: check_report.py JSON JUNIT SARIF")
    report_path, junit_path, sarif_path = args
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    problems = []
    unknown = {t.get("verdict") for t in report["results"]} - OUTCOME.keys()
    if unknown:
        sys.exit(f"check_report: {report_path}: unknown verdicts {sorted(map(str, unknown))}")
    check_junit(report, junit_path, problems)
    check_sarif(report, sarif_path, problems)
    for p in problems:
        print(f"MISMATCH {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
