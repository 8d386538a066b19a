#!/usr/bin/env python3
"""Helpers of scripts/bench-python-sdk (standard library only).

    report.py requests LOG.json
        The number of requests in a mock request log (`GET /_mock/requests`) and the most
        times one request (method, URL, body) was sent: "N MAX".

    report.py same-reads --python-log A.json --esu-log B.json --python-out P.json --snapshot S.json
        Whether the Python script and esu-preflight sent the same requests (method, path,
        query parameters, JSON body; the SDK's Resource Graph body adds the model's default
        `allowPartialScopes: false`, which is the service's default) and read the same data
        (the Python script's counts against esu-preflight's snapshot of the same mock). Exits 1
        on a difference.

    report.py table RUNS.tsv --critical-path-ms MS --latency-ms MS
        The markdown table of the timed runs (lines: label, wall ms, requests, max sends,
        in-process ms or "-").
"""

from __future__ import annotations

import collections
import json
import statistics
import sys
import urllib.parse


def request_key(request: dict) -> tuple:
    url = urllib.parse.urlsplit(request["url"])
    query = tuple(sorted(urllib.parse.parse_qsl(url.query, keep_blank_values=True)))
    body = request.get("body") or ""
    if body:
        try:
            doc = json.loads(body)
        except ValueError:
            pass
        else:
            options = doc.get("options") if isinstance(doc, dict) else None
            if isinstance(options, dict) and options.get("allowPartialScopes") is False:
                del options["allowPartialScopes"]
            body = json.dumps(doc, sort_keys=True)
    return (request["method"], url.path.lower(), query, body)


def load(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def requests(path: str) -> None:
    log = load(path)
    counts = collections.Counter(request_key(r) for r in log)
    print(len(log), max(counts.values(), default=0))


def same_reads(args: dict[str, str]) -> int:
    python_log = collections.Counter(request_key(r) for r in load(args["--python-log"]))
    esu_log = collections.Counter(request_key(r) for r in load(args["--esu-log"]))
    ok = True
    if python_log == esu_log:
        print(f"same requests: {sum(python_log.values())} each, the same method, URL and body")
    else:
        ok = False
        print(f"DIFFERENT requests: Python {sum(python_log.values())}, esu-preflight {sum(esu_log.values())}")
        for key in python_log - esu_log:
            print("  only Python:       ", key[0], key[1], key[2], key[3][:160])
        for key in esu_log - python_log:
            print("  only esu-preflight:", key[0], key[1], key[2], key[3][:160])

    read = load(args["--python-out"])["read"]
    snapshot = load(args["--snapshot"])
    sub = snapshot["subscriptions"][0]

    def count(fact) -> int | str:
        if not isinstance(fact, dict) or fact.get("status") != "available":
            return f"not read ({fact.get('status') if isinstance(fact, dict) else fact})"
        return len(fact.get("value") or [])

    groups = sub.get("resource_groups") or []
    tenant = snapshot.get("tenant") or {}
    pairs = [
        ("providers", read["providers"], count(sub["providers"])),
        ("permissions at the subscription", read["permissions"], count(sub["permissions"])),
        ("ESU licenses", read["licenses"], count(sub["licenses"])),
        ("Arc machines", read["machines"], count(sub["machines"])),
        ("patch policy states", read["patch_policy_states"], sum(count(f) for f in sub["patch_states"].values())),
        ("MAK keys", read["mak_keys"], count(sub["mak_keys"])),
        ("role assignments at the subscription", read["role_assignments_at_subscription"],
         count(sub["authorization"]["role_assignments"])),
        ("deny assignments at the subscription", read["deny_assignments_at_subscription"],
         count(sub["authorization"]["deny_assignments"])),
        ("policy assignments at the subscription", read["policy_assignments_at_subscription"],
         count(sub["authorization"]["policy_assignments"])),
        ("policy exemptions at the subscription", read["policy_exemptions_at_subscription"],
         count(sub["authorization"]["policy_exemptions"])),
        ("resource groups", read["resource_groups"], sorted(g["name"].lower() for g in groups)),
        ("policy assignments at the groups", read["policy_assignments_at_groups"],
         sum(count(g["authorization"]["policy_assignments"]) for g in groups)),
        ("role definitions", read["role_definitions"], len(tenant.get("role_definitions", {}))),
        ("policy definitions", read["policy_definitions"], len(tenant.get("policy_definitions", {}))),
        ("policy set definitions", read["policy_set_definitions"], len(tenant.get("policy_set_definitions", {}))),
    ]
    for what, python, esu in pairs:
        same = python == esu
        ok &= same
        print(f"  {what}: Python {python}, esu-preflight {esu}{'' if same else '  <- DIFFERENT'}")
    return 0 if ok else 1


def table(path: str, critical_path_ms: float, latency_ms: float) -> None:
    rows: dict[str, list] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            label, wall, reqs, max_sends, inner = line.rstrip("\n").split("\t")
            rows.setdefault(label, []).append((float(wall), int(reqs), int(max_sends), inner))

    def pct(values: list[float], p: float) -> float:
        values = sorted(values)
        return values[min(len(values) - 1, int(len(values) * p))]

    medians = {label: statistics.median(r[0] for r in runs) for label, runs in rows.items()}
    python = next((label for label in rows if label.startswith("Python")), None)
    print(
        "| run | requests per run | max sends of one request | sequential bound (requests × "
        f"{latency_ms:g} ms) | median | p90 | median / critical path ({critical_path_ms:g} ms) | "
        "Python script's median / this median |"
    )
    print("|---|---|---|---|---|---|---|---|")

    def row(label: str, times: list[float], runs: list) -> None:
        reqs = max(r[1] for r in runs)
        median = statistics.median(times)
        versus = f"{medians[python] / median:.1f}×" if python and not label.startswith("Python") else "-"
        print(
            f"| {label} | {reqs} | {max(r[2] for r in runs)} | {reqs * latency_ms / 1000:.2f} s | "
            f"{median:.1f} ms | {pct(times, 0.9):.1f} ms | {median / critical_path_ms:.2f}× | {versus} |"
        )

    for label, runs in rows.items():
        row(label, [r[0] for r in runs], runs)
        inner = [float(r[3]) for r in runs if r[3] != "-"]
        if inner:
            row(f"{label}: the reads alone (in-process timer)", inner, runs)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "requests":
        requests(argv[1])
        return 0
    if argv and argv[0] == "same-reads":
        return same_reads(dict(zip(argv[1::2], argv[2::2])))
    if len(argv) >= 2 and argv[0] == "table":
        options = dict(zip(argv[2::2], argv[3::2]))
        table(argv[1], float(options["--critical-path-ms"]), float(options["--latency-ms"]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
