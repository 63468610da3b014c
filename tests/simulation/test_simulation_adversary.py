"""The attacker harness (simulated attackers) against a real ``veronica serve``.

One test per attack: it fails if the attack succeeded in any try (``accepted``) or
if a try could not be judged (``inconclusive``: the harness could not set it up),
so a harness fault never passes for a refusal. The genuine control must sign in.
Tries are few and the cheap attacks end within a few frames; the full run with
its numbers is ``veronica eval adversary``. The hostile actors themselves are
checked first, without a server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

from server_support import ServedServer, free_port, running_server
from support import face_path
from veronica.cli import EXIT_BAD_INPUT, app
from veronica.liveness.signals.light import LightLimits
from veronica.liveness.types import RGB, Action
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import AnalysisOptions
from veronica.simulation.actors import GenuineActor, load_head
from veronica.simulation.adversary import (
    ATTACKS,
    CONTROL,
    FAST_RELAY_S,
    LATE_RELAY_S,
    PROXY_SCHEDULES,
    RESIDUALS,
    SPECS,
    STRANGER_MEANS,
    AdversaryConfig,
    AdversaryReport,
    AttackResult,
    Harness,
    TryRecord,
    _run_tries,
    normalise_url,
    run_attack,
)
from veronica.simulation.head import HeadModel
from veronica.simulation.hostile import (
    AskLog,
    DelayedRelay,
    NoFaceDuringLight,
    NoisyFrozenActor,
    ProxyActor,
    ProxySchedule,
)

CONCURRENCY = 2
"""Tries in flight: the server runs on the same 2-core machine."""
SEED = 1
LOCKOUT_FAILURES = 3
"""The server's lockout threshold, below the default 5: the lockout attacks fail
this many sessions (and one more) per try, and each print failure is a ~16 s
session. 3 is the least at which ``success_clears_address_counter`` still fails
once before its own sign-in; the rules tested do not depend on the number."""
RED: RGB = (255, 0, 0)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def victim_head() -> HeadModel:
    return load_head(face_path("obama", 2))


@pytest.fixture(scope="module")
def accomplice_head() -> HeadModel:
    return load_head(face_path("biden", 2))


def asks(frames: int) -> list[tuple[float, Action | None, RGB | None]]:
    """A page's sequence at 10 frames/s: nothing, two colours, nothing, a turn."""
    out: list[tuple[float, Action | None, RGB | None]] = []
    for i in range(frames):
        t = i / 10.0
        light = RED if 0.5 <= t < 0.8 else (0, 0, 255) if 0.8 <= t < 1.1 else None
        action = Action.TURN_LEFT if 1.5 <= t < 3.0 else None
        out.append((t, action, light))
    return out


# -- the hostile actors (no server) ------------------------------------------------------


@pytest.mark.parametrize("schedule", [ProxySchedule(3, 1), ProxySchedule(old_sampling=True)])
def test_proxy_actor_shows_the_victim_exactly_on_the_scheduled_frames(
    victim_head: HeadModel, accomplice_head: HeadModel, schedule: ProxySchedule
) -> None:
    seed = 7
    proxy = ProxyActor(victim_head, accomplice_head, seed, schedule)
    # The same people alone, following the same page: each proxy frame must be one
    # of theirs, pixel for pixel (same pose, room, noise), chosen by the schedule.
    victim, accomplice = GenuineActor(victim_head, seed), GenuineActor(accomplice_head, seed)
    expected = []
    for index, (t, action, light) in enumerate(asks(40), start=1):
        shown = proxy.frame(t, action, light)
        as_victim = victim.frame(t, action, light)
        as_accomplice = accomplice.frame(t, action, light)
        assert not np.array_equal(as_victim, as_accomplice)
        if schedule.shows_victim(index, action, light):
            expected.append(index)
            assert np.array_equal(shown, as_victim), index
        else:
            assert np.array_equal(shown, as_accomplice), index
    assert proxy.victim_frames == expected
    if schedule.old_sampling:
        # Every 5th frame, except those showing a colour (frame 10) or a step (20, 25, 30).
        assert expected == [5, 15, 35, 40]
    else:
        assert expected == list(range(1, 41, 3))


def test_proxy_schedules_cover_every_k_and_the_old_sampling_in_five_tries() -> None:
    first = PROXY_SCHEDULES[:5]
    assert {s.every for s in first if not s.old_sampling} == {2, 3, 5, 10}
    assert any(s.old_sampling for s in first)
    with pytest.raises(ValueError):
        ProxySchedule(3, 3)


def test_ask_log_answers_what_was_shown_at_a_time() -> None:
    log = AskLog()
    log.record(0.0, None, None)
    log.record(1.0, Action.BLINK, None)
    log.record(1.1, Action.BLINK, None)  # unchanged: not a new entry
    log.record(2.0, None, RED)
    assert log.times == [0.0, 1.0, 2.0]
    assert log.at(-0.5) == (None, None)
    assert log.at(0.99) == (None, None)
    assert log.at(1.0) == (Action.BLINK, None)
    assert log.at(5.0) == (None, RED)


def test_delayed_relay_shows_the_victim_answering_the_earlier_question(
    victim_head: HeadModel,
) -> None:
    delay = 0.6
    relay = DelayedRelay(GenuineActor(victim_head, 3), delay)
    reference = GenuineActor(victim_head, 3)
    sequence = asks(40)
    for t, action, light in sequence:
        late = [(a, c) for s, a, c in sequence if s <= t - delay]
        late_action, late_light = late[-1] if late else (None, None)
        assert np.array_equal(
            relay.frame(t, action, light), reference.frame(t, late_action, late_light)
        ), t


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_noisy_frozen_frame_adds_fresh_noise_of_sigma(victim_head: HeadModel, sigma: float) -> None:
    still = GenuineActor(victim_head, 4).frame(0.0, None, None)
    actor = NoisyFrozenActor(still, sigma, seed=11)
    first, second = actor.frame(0.1, None, None), actor.frame(0.2, None, None)
    inside = (still > 15) & (still < 240)  # away from clipping
    for frame in (first, second):
        noise = frame.astype(np.float64) - still.astype(np.float64)
        assert abs(float(noise[inside].mean())) < 0.05
        # Rounding to whole grey levels adds a uniform error of variance 1/12.
        rounded = (sigma**2 + 1.0 / 12.0) ** 0.5
        assert float(noise[inside].std()) == pytest.approx(rounded, rel=0.02)
    assert float(np.mean(first != second)) > 0.5  # fresh noise, not a repeated frame
    again = NoisyFrozenActor(still, sigma, seed=11)
    assert np.array_equal(again.frame(0.1, None, None), first)  # deterministic by seed
    other = NoisyFrozenActor(still, sigma, seed=12)
    assert not np.array_equal(other.frame(0.1, None, None), first)


def _has_face(engine: FaceEngine, frame: NDArray[np.uint8]) -> bool:
    return engine.analyze(frame, AnalysisOptions(embed=False, pad=False)).face is not None


def test_no_face_during_light_leaves_the_picture_only_while_coloured(
    face_engine: FaceEngine, victim_head: HeadModel
) -> None:
    actor = NoFaceDuringLight(GenuineActor(victim_head, 5))
    for t, action, light in asks(16):
        assert _has_face(face_engine, actor.frame(t, action, light)) is (light is None), t


def test_results_count_accepted_stopped_and_inconclusive_tries() -> None:
    records = (
        TryRecord("late_relay", 0, 1, False, "liveness_failed", "relay 0.5 s", False, 10.0),
        TryRecord("late_relay", 1, 2, True, "ok", "relay 0.3 s; ws", False, 10.0),
        TryRecord("late_relay", 2, 3, False, "harness: no answer", "", True, 30.0),
    )
    result = AttackResult("late_relay", "claim", False, records)
    assert (result.tries, result.accepted, result.inconclusive, result.conclusive) == (3, 1, 1, 2)
    assert result.stopped == (("liveness_failed", 1),)
    assert "ACCEPTED: ok ×1 [relay 0.3 s]" in result.summary()
    assert "inconclusive: harness: no answer ×1" in result.summary()
    ci = result.rate_ci95()
    assert ci is not None and 0.0 < ci[0] < 0.5 < ci[1] < 1.0  # 1 of 2 conclusive
    doc = result.to_json_dict()
    assert doc["accepted"] == 1 and len(doc["records"]) == 3


def test_a_residual_probe_is_reported_apart_and_never_counted_as_a_broken_claim() -> None:
    stopped = TryRecord("late_relay", 0, 1, False, "liveness_failed", "relay 0.6 s", False, 9.0)
    relayed = TryRecord("fast_relay", 0, 2, True, "ok", "relay 0.2 s late", False, 9.0)
    honest = TryRecord(CONTROL, 0, 3, True, "ok", "honest", False, 9.0)
    report = AdversaryReport(
        "http://127.0.0.1:1", 0, 1, 1, "2026-12-07T00:00:00Z", 27.0,
        (
            AttackResult(CONTROL, "control", True, (honest,)),
            AttackResult("fast_relay", "residual claim", False, (relayed,), residual=True),
            AttackResult("late_relay", "relay claim", False, (stopped,)),
        ),
    )  # fmt: skip
    assert report.attacks_accepted == 0 and report.accepted_attacks == ()
    names = [row[0] for row in report.rows()]
    assert names == ["late_relay", "fast_relay (residual)", f"{CONTROL} (control)"]
    assert "accepted: ok ×1 [relay 0.2 s late]" in report.rows()[1][3]
    assert "| `fast_relay (residual)` | residual claim |" in report.to_markdown()
    assert report.to_json_dict()["results"][1]["residual"] is True
    broken = AttackResult("late_relay", "relay claim", False, (relayed,))
    assert replace(report, results=(broken,)).attacks_accepted == 1


def test_the_relay_claim_starts_at_the_light_lag_limit() -> None:
    """A relay adds its delay to the victim's own lag, so only a delay of at least
    the lag limit is refused whatever the webcam; shorter ones are the residual."""
    assert LATE_RELAY_S[0] >= LightLimits().max_lag_s
    assert FAST_RELAY_S[1] == LATE_RELAY_S[0]
    assert RESIDUALS == ("fast_relay",)
    assert not set(RESIDUALS) & set(ATTACKS) and CONTROL not in ATTACKS
    assert SPECS["fast_relay"].claim.startswith("residual")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://login.example/", "https://login.example"),
    ],
)
def test_normalise_url_keeps_the_origin(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


# -- attacks against a real server -------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedServer]:
    with running_server(
        tmp_path_factory.mktemp("adversary"),
        extra_env={"VERONICA_LOCKOUT_FAILURES": str(LOCKOUT_FAILURES)},
    ) as served:
        yield served


@pytest.fixture(scope="module")
def harness(server: ServedServer) -> Iterator[Harness]:
    config = AdversaryConfig(
        server.url,
        server.admin_key,
        concurrency=CONCURRENCY,
        lockout_failures=LOCKOUT_FAILURES,
    )
    with Harness(config) as opened:
        yield opened


def describe(result: AttackResult) -> str:
    lines = [f"{result.name}:"]
    for r in result.records:
        verdict = "ACCEPTED" if r.accepted else "inconclusive" if r.inconclusive else "stopped"
        lines.append(f"  try {r.index}: {verdict}: {r.answer} ({r.detail})")
    return "\n".join(lines)


def tried(harness: Harness, tries: Mapping[str, int], concurrency: int) -> dict[str, AttackResult]:
    """The tries of several attacks (``name: tries``) in one pool, ``concurrency`` at
    a time, as ``veronica eval adversary`` runs its shared attacks; each try has
    the seed ``run_attack(..., seed=SEED)`` would give it."""
    jobs = [(SPECS[name], index) for name, count in tries.items() for index in range(count)]
    records = _run_tries(harness, jobs, concurrency, SEED, None)
    return {
        name: AttackResult(
            name,
            SPECS[name].claim,
            SPECS[name].control,
            tuple(sorted(r for r in records if r.attack == name)),
        )
        for name in tries
    }


def judged(result: AttackResult, tries: int) -> AttackResult:
    """The test fails if any try was accepted or not judged."""
    assert result.tries == tries
    assert result.accepted == 0, "the attack succeeded\n" + describe(result)
    assert result.inconclusive == 0, "a try could not be judged\n" + describe(result)
    return result


def held(harness: Harness, name: str, tries: int) -> AttackResult:
    """Run the attack alone; the test fails if any try was accepted or not judged."""
    return judged(run_attack(harness, name, tries, seed=SEED, concurrency=CONCURRENCY), tries)


SHARED_TRIES = {
    "liveness_by_proxy": 5,  # the first five schedules cover every k and the old sampling
    "frozen_frame_noise": 3,  # σ 1, 2, 3
    "late_relay": 2,  # each attack with 2 tries: one over WebSocket, one over HTTP
    "no_face_during_light": 2,
    "success_clears_address_counter": 1,
    "offline_response": 1,
    "slow_claimed_clock": 2,
    "fast_claimed_clock": 2,
    "light_opt_out_under_required": 2,
    "oversized_json": 2,  # declared length, chunked
    "metrics_methods": 1,
}
"""Tries of the attacks that share the server (not ``exclusive``), the longest
first: one run keeps ``CONCURRENCY`` tries in flight throughout, where one run per
attack leaves a slot idle behind each odd count."""


@pytest.fixture(scope="module")
def shared(harness: Harness, request: pytest.FixtureRequest) -> dict[str, AttackResult]:
    """The shared attacks whose tests were collected, run together at first use;
    each test then judges its own attack's tries."""
    collected = {item.name.removeprefix("test_") for item in request.session.items}
    wanted = {name: n for name, n in SHARED_TRIES.items() if name in collected}
    assert not [name for name in wanted if SPECS[name].exclusive]
    return tried(harness, wanted, CONCURRENCY)


def test_every_attack_has_a_test() -> None:
    tested = {n.removeprefix("test_") for n in globals() if n.startswith("test_")}
    assert set(ATTACKS) <= tested


@pytest.mark.slow
def test_slow_claimed_clock(shared: dict[str, AttackResult]) -> None:
    judged(shared["slow_claimed_clock"], 2)


@pytest.mark.slow
def test_fast_claimed_clock(shared: dict[str, AttackResult]) -> None:
    judged(shared["fast_claimed_clock"], 2)


@pytest.mark.slow
def test_offline_response(shared: dict[str, AttackResult]) -> None:
    judged(shared["offline_response"], 1)


@pytest.mark.slow
def test_late_relay(shared: dict[str, AttackResult]) -> None:
    judged(shared["late_relay"], 2)


@pytest.mark.slow
def test_liveness_by_proxy(shared: dict[str, AttackResult]) -> None:
    judged(shared["liveness_by_proxy"], 5)


@pytest.mark.slow
def test_light_opt_out_under_required(shared: dict[str, AttackResult]) -> None:
    judged(shared["light_opt_out_under_required"], 2)


@pytest.mark.slow
def test_no_face_during_light(shared: dict[str, AttackResult]) -> None:
    judged(shared["no_face_during_light"], 2)


@pytest.mark.slow
def test_frozen_frame_noise(shared: dict[str, AttackResult]) -> None:
    judged(shared["frozen_frame_noise"], 3)


@pytest.mark.slow
def test_stranger_locks_out_victim(harness: Harness) -> None:
    # The runner takes this attack's tries one at a time (``exclusive``), yet they
    # share nothing: each has its own victim and addresses and keeps one session
    # going at a time (an abandoned one ends idle before the next). So two at once,
    # as the shared attacks run: the print try (three ~16 s print sessions, then the
    # victim) overlaps the other two.
    name, tries = "stranger_locks_out_victim", len(STRANGER_MEANS)
    judged(tried(harness, {name: tries}, CONCURRENCY)[name], tries)


@pytest.mark.slow
def test_admission_exhaustion(harness: Harness) -> None:
    held(harness, "admission_exhaustion", 2)


@pytest.mark.slow
def test_success_clears_address_counter(shared: dict[str, AttackResult]) -> None:
    judged(shared["success_clears_address_counter"], 1)


@pytest.mark.slow
def test_spoofed_forwarded_for(harness: Harness) -> None:
    held(harness, "spoofed_forwarded_for", 1)


@pytest.mark.slow
def test_oversized_json(shared: dict[str, AttackResult]) -> None:
    result = judged(shared["oversized_json"], 2)
    assert dict(result.stopped) == {"413 body_too_large": 2}


@pytest.mark.slow
def test_metrics_methods(shared: dict[str, AttackResult]) -> None:
    judged(shared["metrics_methods"], 1)


@pytest.mark.slow
def test_genuine_control_signs_in(harness: Harness) -> None:
    # One session at a time: the control measures the server, not the client's share
    # of a starved CPU (below ~6 frames/s too few frames see each colour).
    people = 2
    first = run_attack(harness, CONTROL, people, seed=1, concurrency=1)
    signed_in, report = first.accepted, describe(first)
    if signed_in < people:  # a refused person tries once more (another simulated take)
        again = run_attack(harness, CONTROL, people - signed_in, seed=2, concurrency=1)
        signed_in, report = signed_in + again.accepted, report + "\n" + describe(again)
    assert signed_in == people, "a genuine user was refused twice\n" + report


# -- the command line --------------------------------------------------------------------


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["eval", "adversary", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, _ANSI.sub("", result.stdout), _ANSI.sub("", result.stderr)


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:8000", "not a url", "http://127.0.0.1:8000/x"])
def test_cli_refuses_a_bad_url(url: str) -> None:
    code, _, stderr = run_cli("--server", url, "--admin-key", "k")
    assert code == EXIT_BAD_INPUT
    assert "URL" in one_error_line(stderr) or "origin" in one_error_line(stderr)


def test_cli_refuses_an_unreachable_server() -> None:
    code, _, stderr = run_cli("--server", f"http://127.0.0.1:{free_port()}", "--admin-key", "k")
    assert code == EXIT_BAD_INPUT
    assert "cannot reach" in one_error_line(stderr)


def test_cli_refuses_an_unknown_attack() -> None:
    code, _, stderr = run_cli("--server", "http://127.0.0.1:1", "--admin-key", "k", "--attack", "x")
    assert code == EXIT_BAD_INPUT
    assert "unknown attack 'x'" in one_error_line(stderr)


@pytest.mark.slow
def test_cli_refuses_a_wrong_admin_key(server: ServedServer) -> None:
    code, _, stderr = run_cli("--server", server.url, "--admin-key", "not-the-key")
    assert code == EXIT_BAD_INPUT
    assert "admin key" in one_error_line(stderr)


@pytest.mark.slow
def test_cli_runs_reports_and_deletes_its_users(server: ServedServer, tmp_path: Path) -> None:
    out_json, out_md = tmp_path / "adversary.json", tmp_path / "adversary.md"
    args = ["--server", server.url, "--admin-key", server.admin_key, "--tries", "1"]
    args += ["--attack", CONTROL, "--json", str(out_json), "--markdown", str(out_md)]
    code, stdout, _ = run_cli(*args)
    assert code == 0  # the control is not an attack: its result never fails the run
    assert "genuine_control" in stdout and "simulated attackers" in stdout
    report = json.loads(out_json.read_text())
    assert report["simulated"] is True
    assert [r["name"] for r in report["results"]] == [CONTROL]
    assert report["results"][0]["tries"] == 1
    assert "| `genuine_control (control)` |" in out_md.read_text()
    users = httpx.get(f"{server.url}/api/v1/admin/users", headers=server.admin_headers).json()
    assert not [u for u in users["users"] if u["username"].startswith("adv-")]
