"""Human-readable rendering of invocation summaries."""

from __future__ import annotations

from typing import Any

from snapstack.execute import Outcome

COUNT_KEYS = [o.value for o in Outcome]


def counts_line(summary: dict[str, Any]) -> str:
    """``7 created, 1 failed`` — the non-zero outcomes, in a fixed order."""
    parts = [f"{summary[k]} {k.replace('_', ' ')}" for k in COUNT_KEYS if summary.get(k)]
    return ", ".join(parts) or "nothing to do"


def table(summary: dict[str, Any]) -> str:
    """One row per disk: disk, outcome, snapshot, error code."""
    rows = [("disk", "outcome", "snapshot", "error")]
    for d in summary.get("disks", []):
        rows.append((d["disk_id"], d["outcome"], d.get("snapshot_id", ""), d.get("error_code", "")))
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def legend(summary: dict[str, Any]) -> str:
    """Why each error code in the summary ended as it did, from the taxonomy."""
    from snapstack.ecs.errors import classify

    codes = sorted({d["error_code"] for d in summary.get("disks", []) if d.get("error_code")})
    return "\n".join(
        f"  {code}: {classify(code).disposition.value} - {classify(code).reason}" for code in codes
    )
