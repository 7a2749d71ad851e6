"""JUnit XML of the histogram grades, for GitLab merge-request test reports.

One testcase per object: BAD is a failure, WARNING passes with the reason in
system-out, NOT_COMPARED is skipped. The testsuite is named after the comparison.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def junit_tree(summary) -> ET.ElementTree:
    counts = summary.counts
    suites = ET.Element("testsuites", name="relval-qa")
    suite = ET.SubElement(suites, "testsuite", name=f"qa {summary.new} vs {summary.ref}",
                          tests=str(len(summary.results)), failures=str(counts["BAD"]),
                          errors="0", skipped=str(counts["NOT_COMPARED"]))
    for result in summary.sorted_results():
        classname = f"qa.{result.file}" if result.file else "qa"
        case = ET.SubElement(suite, "testcase", name=result.path or result.name, classname=classname)
        if result.grade == "BAD":
            failure = ET.SubElement(case, "failure", message=f"BAD: {result.reason}", type=result.status)
            failure.text = result.reason
        elif result.grade == "NOT_COMPARED":
            ET.SubElement(case, "skipped", message=result.reason)
        elif result.grade == "WARNING":
            ET.SubElement(case, "system-out").text = f"WARNING: {result.reason}"
    return ET.ElementTree(suites)


def write_junit(summary, path: Path) -> Path:
    tree = junit_tree(summary)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path
