"""The gateway's rules for a Rasa process that fails under a customer's turn (bench/fault_drills.py drills them)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.gateway import GatewayPlan, render


def location(config: str, prefix: str) -> str:
    start = config.index(f"location ^~ {prefix} {{")
    return config[start : config.index("\n        }", start)]


def retries(block: str) -> set[str]:
    found = re.search(r"proxy_next_upstream ([^;]+);", block)
    return set(found.group(1).split()) if found else set()


def rendered(tmp_path: Path) -> str:
    return render(GatewayPlan(rasa_ports=(5005, 5015), web_port=8000, state_dir=tmp_path, log_dir=tmp_path))


def test_a_chat_turn_whose_process_dies_is_sent_to_another_process_even_though_it_is_a_post(tmp_path: Path) -> None:
    rest = retries(location(rendered(tmp_path), "/webhooks/"))
    assert {"error", "non_idempotent"} <= rest


def test_a_slow_turn_is_never_sent_twice(tmp_path: Path) -> None:
    # a timed-out turn is most likely still running: a second process would store the message again
    config = rendered(tmp_path)
    assert "timeout" not in retries(location(config, "/webhooks/"))
    assert "timeout" not in retries(config)


def test_socket_io_posts_are_not_resent_to_a_process_that_does_not_hold_their_session(tmp_path: Path) -> None:
    assert "non_idempotent" not in retries(location(rendered(tmp_path), "/socket.io/"))


def test_every_rasa_process_is_left_out_for_a_while_after_a_refused_connection(tmp_path: Path) -> None:
    servers = re.findall(r"server 127\.0\.0\.1:(\d+) max_fails=1 fail_timeout=5s;", rendered(tmp_path))
    assert sorted(set(servers)) == ["5005", "5015"]
