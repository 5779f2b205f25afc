#!/usr/bin/env python3
"""Writes a deliberately wrong copy of a probe report's JUnit or SARIF file, for validate.sh's
self-test: each copy must be rejected, or the checks prove nothing.

  junit-outcome   one test case's outcome changed (a failure dropped, or one added to a pass)
  junit-count     the suite's failures attribute off by one
  junit-control   a raw control character, which XML 1.0 forbids
  sarif-result    one result more than there are compromised trials
  sarif-schema    executionSuccessful a string, which the SARIF 2.1.0 schema forbids

Usage: tamper.py KIND IN OUT   (standard library only)
"""

import json
import sys
import xml.etree.ElementTree as ET


def junit_outcome(text):
    root = ET.fromstring(text)
    cases = list(root.iter("testcase"))
    for case in cases:
        failure = case.find("failure")
        if failure is not None:
            case.remove(failure)
            break
    else:
        case = next((c for c in cases if len(c) == 0), None)
        if case is None:  # no passing case (or no case at all): add a failing one
            suite = root if root.tag == "testsuite" else root.find("testsuite")
            case = ET.SubElement(suite, "testcase", {"classname": "tampered", "name": "tampered"})
        ET.SubElement(case, "failure", {"type": "compromised", "message": "tampered"})
    return ET.tostring(root, encoding="unicode")


def junit_count(text):
    root = ET.fromstring(text)
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    suite.set("failures", str(int(suite.get("failures", "0")) + 1))
    return ET.tostring(root, encoding="unicode")


def junit_control(text):
    return text.replace('<testsuite name="', '<testsuite name="\x01', 1)


def sarif_result(text):
    doc = json.loads(text)
    run = doc["runs"][0]
    rules = run["tool"]["driver"].get("rules", [])
    rule = rules[0]["id"] if rules else "tampered"
    run.setdefault("results", []).append({"ruleId": rule, "level": "error", "message": {"text": "tampered"}})
    return json.dumps(doc, indent=2)


def sarif_schema(text):
    doc = json.loads(text)
    doc["runs"][0]["invocations"][0]["executionSuccessful"] = "yes"
    return json.dumps(doc, indent=2)


KINDS = {f.__name__.replace("_", "-"): f for f in (junit_outcome, junit_count, junit_control, sarif_result, sarif_schema)}

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in KINDS:
        sys.exit(f"usage: tamper.py {{{','.join(KINDS)}}} IN OUT")
    with open(sys.argv[2], encoding="utf-8") as f:
        out = KINDS[sys.argv[1]](f.read())
    with open(sys.argv[3], "w", encoding="utf-8") as f:
        f.write(out)
