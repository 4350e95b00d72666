"""JUnit XML: one testcase per (case, version, model, repeat), for CI test reports."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..toolcalls import shown_output
from .format import failed_assertions
from .safe import xml_safe


def write_junit(path: Path, suite_name: str, records: Iterable[dict[str, Any]]) -> None:
    suites = ET.Element("testsuites", name=suite_name)
    by_group: dict[str, ET.Element] = {}
    counts: dict[str, list[int]] = {}
    for r in records:
        group = f"{r['prompt']}@{r['version']} {r['model']}"
        if group not in by_group:
            by_group[group] = ET.SubElement(suites, "testsuite", name=group)
            counts[group] = [0, 0, 0]
        name = r["case_id"] + (f" #{r['repeat']}" if r.get("repeat") else "")
        tc = ET.SubElement(
            by_group[group],
            "testcase",
            classname=group,
            name=name,
            time=f"{(r.get('latency_ms') or 0) / 1000:.3f}",
        )
        counts[group][0] += 1
        if r.get("error"):
            counts[group][2] += 1
            err = ET.SubElement(
                tc, "error", type=str(r.get("error_kind") or "error"), message=str(r["error"])[:500]
            )
            err.text = str(r["error"])
        elif not r.get("pass"):
            counts[group][1] += 1
            reasons = failed_assertions(r)
            fail = ET.SubElement(
                tc,
                "failure",
                type="assertion",
                message=f"score {r.get('score', 0):.3f}; " + "; ".join(reasons)[:500],
            )
            fail.text = "\n".join(reasons) + f"\n\noutput:\n{shown_output(r) or ''}"
    for group, el in by_group.items():
        n, failures, errors = counts[group]
        el.set("tests", str(n))
        el.set("failures", str(failures))
        el.set("errors", str(errors))
    write_xml(path, suites)


def write_xml(path: Path, root: ET.Element) -> None:
    """Write a tree as UTF-8 XML, with characters XML 1.0 forbids (NUL, C0 controls from a
    model's output) shown as escapes, so the file stays well-formed."""
    for el in root.iter():
        for key, value in list(el.attrib.items()):
            el.set(key, xml_safe(value))
        if el.text:
            el.text = xml_safe(el.text)
        if el.tail:
            el.tail = xml_safe(el.tail)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
