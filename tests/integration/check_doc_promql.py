#!/usr/bin/env python3
"""Checks that every PromQL expression in docs/observability.md parses (promtool check rules).

Usage: check_doc_promql.py DOC WORK_DIR. Expressions are the ```promql block's paragraphs
(lines between comment or blank lines). Exit 0 when promtool accepts all of them.
"""
import json
import re
import subprocess
import sys


def main() -> int:
    doc, work = sys.argv[1], sys.argv[2]
    text = open(doc, encoding="utf-8").read()
    blocks = re.findall(r"```promql\n(.*?)```", text, re.S)
    exprs, cur = [], []
    for block in blocks:
        for line in block.split("\n") + [""]:
            if line.startswith("#") or not line.strip():
                if cur:
                    exprs.append(" ".join(cur))
                    cur = []
                continue
            cur.append(line.strip())
    if not exprs:
        print(f"no ```promql block in {doc}")
        return 1
    rules = f"{work}/doc_rules.yml"
    with open(rules, "w", encoding="utf-8") as f:
        f.write("groups:\n- name: observability_md\n  rules:\n")
        for i, e in enumerate(exprs):
            f.write(f"  - alert: Doc{i}\n    expr: {json.dumps(e)}\n")
    r = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
    print(r.stdout + r.stderr)
    print(f"{len(exprs)} expressions checked")
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
