"""Policy verdicts as JUnit XML, so CI systems show each rule as a test case.

One ``<testsuite>`` per audit (or comparison), one ``<testcase>`` per verdict:

- ``pass`` → a passed test case;
- ``fail`` → a ``<failure>`` (the pipeline goes red; the CLI also exits 1);
- ``warn`` → a passed test case whose ``<system-out>`` starts with ``WARN:``. A warning
  does not stop a release (the CLI exits 0 on warnings), and ``<skipped>`` would tell the
  reader the rule was not evaluated, which is false: it was, and the data could not rule
  a breach out. ``warnings`` is counted as a property of the suite.

The layout follows the common Jenkins / Ant JUnit schema (``testsuites`` › ``testsuite``
› ``testcase`` › ``failure`` | ``system-out``); ``tests/reference/junit.xsd`` is the
subset the tests validate against.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from .result import atomic_write_text

__all__ = ["junit_xml", "write_junit"]


# Characters XML 1.0 forbids (C0 controls but tab / newline / carriage return, lone
# surrogates, U+FFFE / U+FFFF): a group name holding one would make the file not well-formed.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(value: Any) -> str:
    """``str(value)`` with the characters XML cannot hold written as visible escapes (``\\x1b``)."""
    return _ILLEGAL_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                            else f"\\u{ord(m.group()):04x}", str(value))


def _case_name(v: Mapping[str, Any]) -> str:
    name = v.get("path") or v["metric"]
    subject = v.get("subject")
    if subject and not v.get("path"):
        name = f"{name} [{subject}]"
    return _xml(name)


def junit_xml(verdicts: Sequence[Mapping[str, Any]], *, suite: str, timestamp: str | None = None,
              properties: Mapping[str, Any] | None = None) -> str:
    """The JUnit XML text for ``verdicts`` (dicts as in audit.json ``verdicts``)."""
    failures = sum(v["status"] == "fail" for v in verdicts)
    warnings = sum(v["status"] == "warn" for v in verdicts)
    root = ET.Element("testsuites", name="audit-engine", tests=str(len(verdicts)), failures=str(failures),
                      errors="0")
    attrs = {"name": _xml(suite), "tests": str(len(verdicts)), "failures": str(failures), "errors": "0",
             "skipped": "0", "time": "0"}
    if timestamp:
        attrs["timestamp"] = _xml(timestamp[:19])  # xs:dateTime without the zone, as the Ant schema has it
    ts = ET.SubElement(root, "testsuite", attrs)
    props = ET.SubElement(ts, "properties")
    for key, value in {**(properties or {}), "warnings": warnings}.items():
        ET.SubElement(props, "property", name=_xml(key), value=_xml(value))
    for v in verdicts:
        case = ET.SubElement(ts, "testcase", name=_case_name(v), classname=_xml(f"audit-engine.{v['check']}"),
                             time="0")
        if v["status"] == "fail":
            failure = ET.SubElement(case, "failure", message=_xml(v["message"]), type="policy")
            failure.text = _xml(_detail(v))
        elif v["status"] == "warn":
            ET.SubElement(case, "system-out").text = _xml(f"WARN: {v['message']}")
        else:
            ET.SubElement(case, "system-out").text = _xml(v["message"])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _detail(v: Mapping[str, Any]) -> str:
    return (f"{v['message']}\nmetric: {v['metric']}\nvalue: {v.get('value')}\nthreshold: {v.get('threshold')}"
            + (f"\nsubject: {v['subject']}" if v.get("subject") else ""))


def write_junit(path: str | os.PathLike[str], verdicts: Sequence[Mapping[str, Any]], *, suite: str,
                timestamp: str | None = None, properties: Mapping[str, Any] | None = None) -> None:
    """Write :func:`junit_xml` to ``path`` atomically."""
    atomic_write_text(path, junit_xml(verdicts, suite=suite, timestamp=timestamp, properties=properties))
