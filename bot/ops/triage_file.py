"""The annotation file between ``crm nlu triage`` and ``crm nlu annotate``: written from a triage report,
read back, and given the labels an operator types at the prompt (its header kept)."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

from analytics.core.errors import InvalidInput
from bot.ops.project import read_yaml
from bot.ops.triage import REASONS, FlaggedMessage, Group, TriageReport, normalise

HEADER = """\
# Customer messages the assistant misunderstood, grouped by similarity (`crm nlu triage`).
#
# To label: replace `label: null` of a group with the intent its messages mean (or `skip`);
# a label on one example overrides its group's. Then run `crm nlu annotate {name}`.
# `suggested` is the intent the customers' own rephrasings got. Texts are masked (e-mail
# addresses, card, phone and order numbers, addresses, customers' names); `senders` are keyed
# hashes of conversation ids.
"""


def _examples(group: Group) -> list[dict[str, Any]]:
    by_key: dict[str, list[FlaggedMessage]] = defaultdict(list)
    for message in group.messages:
        by_key[normalise(message.text)].append(message)
    out = []
    for same in sorted(by_key.values(), key=lambda ms: (-len(ms), ms[0].event_id)):
        first = same[0]
        reasons = Counter(r for m in same for r in m.reasons)
        out.append(
            {
                "text": first.text,
                "label": None,
                "seen": len(same),
                "event_ids": [m.event_id for m in same[:20]],
                "message_ids": [m.message_id for m in same[:20] if m.message_id],
                "senders": sorted({m.sender for m in same})[:20],
                "predicted": Counter(m.predicted for m in same).most_common(1)[0][0],
                "confidence": round(min(m.confidence for m in same), 3),
                "reasons": [r for r in REASONS if reasons[r]],
                "last_seen": max(m.at for m in same).isoformat(timespec="seconds"),
            }
        )
    return out


def report_as_dict(report: TriageReport) -> dict[str, Any]:
    options = report.options
    return {
        "triage": {
            "generated_at": report.generated_at.isoformat(timespec="seconds"),
            "tracker_store": report.source,
            "since": options.since.isoformat(timespec="seconds") if options.since else None,
            "min_confidence": options.min_confidence,
            "rephrase_seconds": options.rephrase_seconds,
            "handoff_seconds": options.handoff_seconds,
            "similarity": options.similarity,
            "events_read": report.events_read,
            "conversations": report.conversations,
            "user_messages": report.user_messages,
            "flagged": report.flagged,
        },
        "groups": [
            {
                "group": g.number,
                "label": None,
                "count": g.count,
                "conversations": g.conversations,
                "predicted": g.predicted,
                "reasons": g.reasons,
                "suggested": g.suggested,
                "examples": _examples(g),
            }
            for g in report.groups
        ],
    }


def write_triage(report: TriageReport, path: Path) -> Path:
    """Write the annotation file (YAML) that `crm nlu annotate` reads."""
    data = report_as_dict(report)
    body = yaml.safe_dump({"triage": data["triage"]}, sort_keys=False, allow_unicode=True, width=120)
    body += yaml.safe_dump(
        {"groups": data["groups"]}, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER.format(name=path) + body, encoding="utf-8")
    return path


def read_triage(path: Path) -> dict[str, Any]:
    try:
        data = read_yaml(path)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data.get("groups"), list):
        raise InvalidInput(f"{path} is not a triage file (no `groups:` list); write one with `crm nlu triage`.")
    return data


def write_labels_into(triage: dict[str, Any], path: Path) -> None:
    """Save labels typed at the prompt back into the triage file (keeps its header)."""
    header = "".join(
        line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if line.startswith("#")
    )
    rest = {k: v for k, v in triage.items() if k != "groups"}
    body = yaml.safe_dump(rest, sort_keys=False, allow_unicode=True, width=120) if rest else ""
    body += yaml.safe_dump(
        {"groups": triage["groups"]}, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None
    )
    path.write_text(header + body, encoding="utf-8")
