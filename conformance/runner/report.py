"""The counts at the end of a run: PASS / WARNING / SKIPPED / FAIL per plan,
the OpenID Connect certification plans, the FAPI 2.0 plan and the runner's
other groups each apart, and the closing
`N passed, N failed` line with what it counts said beside it."""

from __future__ import annotations

from collections import Counter

from .registry import PLANS, Module

VERDICTS = ("PASS", "WARNING", "SKIPPED", "FAIL")


def per_plan(modules: list[Module], verdicts: list[str]) -> dict[str, Counter]:
    """Verdict counts by plan name, in report order (plans without modules left out)."""
    by: dict[str, Counter] = {p.name: Counter() for p in PLANS}
    for m, v in zip(modules, verdicts):
        if v not in VERDICTS:
            raise ValueError(f"unknown verdict {v!r} for {m.name}")
        by[m.plan][v] += 1
    return {k: c for k, c in by.items() if c}


def totals(modules: list[Module], verdicts: list[str]) -> tuple[int, int, int]:
    """(passed, failed, skipped) over every module: passed is PASS plus WARNING
    (a warning is certifiable), failed is FAIL, and a skip is neither."""
    c = Counter(verdicts)
    return c["PASS"] + c["WARNING"], c["FAIL"], c["SKIPPED"]


def summary_lines(modules: list[Module], verdicts: list[str]) -> list[str]:
    """The per-plan table and the closing lines; the last is `N passed, N failed`."""
    by = per_plan(modules, verdicts)
    width = max([len(n) for n in by] + [34]) + 2

    def row(label: str, c: Counter) -> str:
        return f"  {label:{width}}" + "".join(f"{c[v]:>9}" for v in VERDICTS)

    out = [f"{'Results by plan':{width + 2}}" + "".join(f"{v:>9}" for v in VERDICTS)]
    groups = (
        (lambda p: p.certification and not p.group, "certification plans"),
        (lambda p: p.group == "fapi2", "FAPI 2.0 certification plan (counted apart from the OpenID Connect plans)"),
        (lambda p: not p.certification, "not certification (reported apart, not part of any certification result)"),
    )
    for belongs, title in groups:
        plans = [p for p in PLANS if belongs(p) and p.name in by]
        if not plans:
            continue
        out.append(f"{title}:")
        group = Counter()
        for p in plans:
            out.append(row(p.name, by[p.name]))
            group.update(by[p.name])
        out.append(row("(together)", group))
    passed, failed, skipped = totals(modules, verdicts)
    out.append("")
    out.append(f"passed = PASS + WARNING over all {len(modules)} modules, certification or not; failed = FAIL; "
               f"the {skipped} SKIPPED count as neither")
    out.append(f"{passed} passed, {failed} failed")
    return out
