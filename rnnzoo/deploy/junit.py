"""JUnit XML for ``rnnzoo verify --junit-xml`` and the zoo's ``exports/junit.xml``: what CI dashboards read.

One ``<testsuite>`` per export folder, one ``<testcase>`` per export x check
x runtime (:mod:`rnnzoo.deploy.outcomes`). The measured differences are in
every testcase: in the failure message where it failed, in
``<system-out>`` where it passed (JUnit has no message for a pass). Written
with the standard library's ElementTree and replaced atomically, so a
dashboard never reads half a file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rnnzoo.core.atomic import atomic_write
from rnnzoo.deploy.outcomes import Outcome, outcomes


def junit_tree(reports: Iterable[dict[str, Any]], name: str = "rnnzoo verify") -> ET.ElementTree:
    """The JUnit document for these verify reports (one per export folder)."""
    root = ET.Element("testsuites", name=name)
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for report in reports:
        suite = _suite(outcomes(report), str(report.get("folder", "?")))
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        root.append(suite)
    root.attrib.update({k: str(v) for k, v in totals.items()})
    ET.indent(root)
    return ET.ElementTree(root)


def _suite(rows: list[Outcome], folder: str) -> ET.Element:
    count = {s: sum(r.status == s for r in rows) for s in ("failed", "error", "skipped")}
    suite = ET.Element("testsuite", name=folder, tests=str(len(rows)), failures=str(count["failed"]),
                       errors=str(count["error"]), skipped=str(count["skipped"]))
    for row in rows:
        runtime = f" [{row.runtime}]" if row.runtime != "-" else ""
        case = ET.SubElement(suite, "testcase", classname=f"rnnzoo.verify.{row.model}", name=f"{row.check}{runtime}",
                             file=folder, time="0")
        if row.status == "passed":
            ET.SubElement(case, "system-out").text = row.message
        else:
            tag = {"failed": "failure", "error": "error", "skipped": "skipped"}[row.status]
            ET.SubElement(case, tag, message=row.message[:1000]).text = row.message
    return suite


def write_junit(path: str | Path, reports: Iterable[dict[str, Any]], name: str = "rnnzoo verify") -> Path:
    """Write (atomically) the JUnit XML of these verify reports to ``path``; its parent folder is created."""
    tree = junit_tree(reports, name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda p: tree.write(p, encoding="utf-8", xml_declaration=True))
