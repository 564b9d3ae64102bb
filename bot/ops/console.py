"""Rich tables for the ``crm nlu`` commands (kept out of bot/cli/nlu.py so the commands stay short)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from rich.table import Table

from analytics.usecases.operations import AuditEntry, ModelInfo
from bot.ops.gate import Comparison, Evaluation, GateDecision
from bot.ops.triage import TriageReport


def triage_table(report: TriageReport, limit: int = 15) -> Table:
    table = Table(
        title=f"{report.flagged:,} of {report.user_messages:,} customer messages look misunderstood "
        f"({len(report.groups):,} groups, {report.events_read:,} events read in {report.seconds.get('total', 0):.2f} s)"
    )
    for column in ("group", "messages", "conversations", "predicted", "why", "suggested", "e.g."):
        table.add_column(column, justify="right" if column in ("group", "messages", "conversations") else "left")
    for group in report.groups[:limit]:
        predicted = ", ".join(f"{k} {v}" for k, v in list(group.predicted.items())[:3])
        why = ", ".join(f"{k} {v}" for k, v in group.reasons.items())
        table.add_row(
            str(group.number),
            str(group.count),
            str(group.conversations),
            predicted,
            why,
            group.suggested or "",
            group.representative[:60],
        )
    return table


def _cell(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.3f}"


def comparison_table(
    candidate_name: str, candidate: Evaluation, live_name: Optional[str], live: Optional[Evaluation]
) -> Table:
    title = f"Held-out intents: {candidate_name}" + (f" vs {live_name} (live)" if live_name else "")
    table = Table(title=title)
    table.add_column("intent")
    table.add_column("support", justify="right")
    for label in ("P", "R", "F1"):
        table.add_column(f"{label} new", justify="right")
    if live is not None:
        table.add_column("F1 live", justify="right")
        table.add_column("Δ F1", justify="right")
    for intent, new, old in Comparison.of(candidate, live).rows:
        either = new or old
        row = [
            intent,
            str(either.support if either else 0),
            _cell(new.precision if new else None),
            _cell(new.recall if new else None),
            _cell(new.f1 if new else None),
        ]
        if live is not None:
            delta = None if new is None or old is None else new.f1 - old.f1
            shown = "–" if delta is None else f"{delta:+.3f}"
            if delta is not None and delta < -0.05:
                shown = f"[red]{shown}[/]"
            row += [_cell(old.f1 if old else None), shown]
        table.add_row(*row)
    summary = ["macro-F1", "", "", "", f"{candidate.macro_f1:.4f}"]
    if live is not None:
        summary += [f"{live.macro_f1:.4f}", f"{candidate.macro_f1 - live.macro_f1:+.4f}"]
    table.add_row(*summary, style="bold")
    return table


def decision_lines(decision: GateDecision) -> list[str]:
    lines = ["[bold green]gate: passed[/]" if decision.passed else "[bold red]gate: refused[/]"]
    lines += [f"  [red]✗[/] {reason}" for reason in decision.reasons]
    lines += [f"  · {note}" for note in decision.notes]
    return lines


def models_table(models: Sequence[ModelInfo]) -> Table:
    table = Table(title="Models (newest last)")
    for column in ("name", "status", "trained/registered", "by", "data hash", "macro-F1", "conv. tests", "published"):
        table.add_column(column, justify="right" if column == "macro-F1" else "left")
    for m in models:
        conv = ""
        if m.metrics:
            c = m.metrics.get("conversations") or {}
            conv = f"{c.get('passed')}/{c.get('total')}" if c.get("ran") else "–"
        status = {"live": "[bold green]live[/]", "rolled_back": "[red]rolled back[/]"}.get(m.status, m.status)
        published = f"{m.published_at:%Y-%m-%d %H:%M} {m.published_by}" if m.published_at else ""
        table.add_row(
            m.name,
            status,
            f"{m.created_at:%Y-%m-%d %H:%M}",
            m.created_by,
            (m.data_hash or "")[:12],
            _cell(m.macro_f1),
            conv,
            published,
        )
    return table


def audit_table(entries: Sequence[AuditEntry]) -> Table:
    table = Table(title="Audit log (newest first)")
    for column in ("when (UTC)", "who", "did", "model", "why / what"):
        table.add_column(column)
    for e in entries:
        what = e.reason or ""
        if not what:
            keys = ("macro_f1", "conversation_tests", "replaced", "from", "added", "error", "data_hash")
            what = ", ".join(f"{k} {e.detail[k]}" for k in keys if e.detail.get(k) is not None)
        if e.action == "refuse" and e.detail.get("reasons"):
            what = "; ".join(e.detail["reasons"])
        if e.action == "publish" and e.detail.get("forced"):
            what = f"[red]FORCED[/] past the gate: {e.reason}"
        table.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.operator, e.action, e.model or "", what[:120])
    return table
