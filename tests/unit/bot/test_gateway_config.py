"""The gateway's rules for a Rasa process or an action-server process that fails under a customer's turn
(bench/fault_drills.py drills them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.gateway import GatewayPlan, render
from bot.launch import ServeError


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


def block(config: str, opener: str) -> str:
    """The text of the ``{ ... }`` block that starts at the first line holding ``opener``."""
    start = config.index(opener)
    depth, i = 0, config.index("{", start)
    while True:
        depth += {"{": 1, "}": -1}.get(config[i], 0)
        if depth == 0:
            return config[start : i + 1]
        i += 1


def with_actions(tmp_path: Path, **overrides: object) -> str:
    values: dict[str, object] = {
        "rasa_ports": (5005, 5015),
        "web_port": 8000,
        "state_dir": tmp_path,
        "log_dir": tmp_path,
        "host": "0.0.0.0",  # a public gateway: the action servers must still be on loopback only
        "port": 8080,
        "action_ports": (5056, 5057, 5058),
        "actions_port": 5055,
    }
    values.update(overrides)
    return render(GatewayPlan(**values))  # type: ignore[arg-type]


def public_server(config: str) -> str:
    return block(config, "    server {\n        listen 0.0.0.0:8080;")


def test_rasa_reaches_every_action_server_process_through_one_loopback_port(tmp_path: Path) -> None:
    config = with_actions(tmp_path)
    upstream = block(config, "upstream actions {")
    assert re.findall(r"server (\S+) ", upstream) == ["127.0.0.1:5056", "127.0.0.1:5057", "127.0.0.1:5058"]
    internal = block(config, "    server {\n        listen 127.0.0.1:5055;")
    assert re.findall(r"listen ([^;]+);", internal) == ["127.0.0.1:5055"]
    assert "proxy_pass http://actions;" in internal


def test_the_public_port_never_leads_to_the_action_servers(tmp_path: Path) -> None:
    config = with_actions(tmp_path)
    public = public_server(config)
    assert "http://actions" not in public
    assert not re.search(r":505[5-8]\b", public)
    assert config.count("proxy_pass http://actions;") == 1  # only in the loopback server


def test_an_action_call_goes_to_another_process_only_if_it_never_reached_the_first(tmp_path: Path) -> None:
    # an action may write (a return, an address change): nginx passes a POST on after an error only if it
    # was not sent yet, unless non_idempotent says otherwise
    internal = block(with_actions(tmp_path), "    server {\n        listen 127.0.0.1:5055;")
    assert "error" in retries(internal)
    assert "non_idempotent" not in retries(internal)
    assert not re.search(r"^\s*keepalive \d+;", block(with_actions(tmp_path), "upstream actions {"), re.MULTILINE)


def test_the_action_servers_are_not_held_to_a_customers_limits(tmp_path: Path) -> None:
    # every call comes from the Rasa processes' one address; a long conversation's tracker is over 1 MiB
    config = with_actions(tmp_path)
    internal = block(config, "    server {\n        listen 127.0.0.1:5055;")
    assert "limit_conn" not in internal and "limit_req" not in internal
    assert "client_max_body_size 4m;" in internal
    assert not re.search(r"^    limit_conn ", config, re.MULTILINE)  # not inherited from the http level
    assert "limit_conn per_client 50;" in public_server(config)


def test_without_action_servers_the_gateway_has_no_part_for_them(tmp_path: Path) -> None:
    config = rendered(tmp_path)
    assert "upstream actions" not in config and "http://actions" not in config


def test_the_action_servers_part_needs_both_their_ports_and_its_own(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match="both"):
        with_actions(tmp_path, actions_port=None)
    with pytest.raises(ServeError, match="both"):
        with_actions(tmp_path, action_ports=())
