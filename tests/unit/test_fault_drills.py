"""How a fault drill's turns are scored (bench/fault_drills.py): answered in time, apology, recovery."""

from __future__ import annotations

from bench.fault_drills import OBSERVE_S, RECOVERY_GOAL_S, Supervisor, recovery_after, score_drill


def turn(t: float, outcome: str = "ok", ms: float = 200.0) -> dict[str, object]:
    return {"t": t, "ms": ms, "outcome": outcome, "sender": "s", "text": "hi"}


def test_apologies_count_as_answers_and_recovery_is_the_first_normal_turn_after_the_last_bad_one() -> None:
    turns = [turn(5), turn(21, "apology"), turn(24, "apology"), turn(28), turn(31), turn(40), turn(OBSERVE_S + 25)]
    score = score_drill(turns, fault_start=20.0, fault_end=20.0)
    assert score.recovery_s == 8.0
    assert score.turns == 5  # from the fault until OBSERVE_S after it: not the turn before, not the last one
    assert score.answered_share == 1.0
    assert score.apology_share == 2 / 5
    assert score.meets_goal(lost=0, dup=0)


def test_silence_errors_and_slow_replies_are_not_answers() -> None:
    turns = [turn(21, "silent"), turn(22, "http 502"), turn(23, "ok", ms=7000), turn(24, "apology"), turn(35)]
    score = score_drill(turns, fault_start=20.0, fault_end=20.0)
    assert score.answered_share == 2 / 5  # the apology and the normal reply at 35 s
    assert score.errors == {"silent": 1, "http 502": 1, "over 5 s (ok)": 1}
    assert not score.meets_goal(lost=0, dup=0)


def test_a_fault_nobody_noticed_is_still_scored_on_the_turns_after_it() -> None:
    score = score_drill([turn(10), turn(21), turn(35), turn(49)], fault_start=20.0, fault_end=20.0)
    assert score.recovery_s == 0.0
    assert score.turns == 3
    assert score.answered_share == 1.0


def test_a_turn_in_flight_when_the_fault_starts_is_counted() -> None:
    turns = [turn(19.5, "ConnectionError", ms=800), turn(25)]
    score = score_drill(turns, fault_start=20.0, fault_end=20.0)
    assert score.turns == 2
    assert score.errors == {"ConnectionError": 1}


def test_recovery_runs_from_the_end_of_the_fault_not_its_start() -> None:
    turns = [turn(21, "http 500"), turn(29, "http 500"), turn(33)]
    assert recovery_after(turns, fault_start=20.0, fault_end=30.0) == 3.0


def test_no_bad_turn_means_no_recovery_time() -> None:
    assert recovery_after([turn(21), turn(25)], fault_start=20.0, fault_end=20.0) == 0.0


def test_still_failing_at_the_end_of_the_phase_has_not_recovered_and_misses_the_goal() -> None:
    score = score_drill([turn(21), turn(30, "http 500"), turn(60, "http 500")], fault_start=20.0, fault_end=20.0)
    assert score.recovery_s is None
    assert not score.meets_goal(lost=0, dup=0)


def test_slow_recovery_lost_or_duplicated_messages_miss_the_goal() -> None:
    late = RECOVERY_GOAL_S + 25
    slow = score_drill([turn(21, "apology"), turn(late, "apology"), turn(late + 2)], fault_start=20.0, fault_end=20.0)
    assert slow.answered_share == 1.0
    assert not slow.meets_goal(lost=0, dup=0)
    quick = score_drill([turn(21, "apology"), turn(25)], fault_start=20.0, fault_end=20.0)
    assert quick.meets_goal(lost=0, dup=0)
    assert not quick.meets_goal(lost=1, dup=0)
    assert not quick.meets_goal(lost=0, dup=1)


def test_a_reply_slower_than_a_customer_waits_is_not_back_to_normal() -> None:
    turns = [turn(21, "http 500"), turn(25, "ok", ms=9000), turn(30)]
    assert recovery_after(turns, fault_start=20.0, fault_end=20.0) == 10.0


def test_the_kill_every_action_process_drill_finds_each_process_of_that_kind_and_no_other() -> None:
    status = (
        "actions-1   RUNNING   pid 101, uptime 0:01:00\n"
        "actions-2   RUNNING   pid 102, uptime 0:01:00\n"
        "actions-gateway   RUNNING   pid 103, uptime 0:01:00\n"
        "rasa-1   RUNNING   pid 104, uptime 0:01:00\n"
    )
    several = Supervisor.__new__(Supervisor)
    several.ctl = lambda *args: status  # type: ignore[method-assign]
    assert several.all_of("actions") == ["actions-1", "actions-2"]
    one = Supervisor.__new__(Supervisor)
    one.ctl = lambda *args: "actions   RUNNING   pid 7, uptime 0:00:09\nweb   RUNNING   pid 8\n"  # type: ignore[method-assign]
    assert one.all_of("actions") == ["actions"]
