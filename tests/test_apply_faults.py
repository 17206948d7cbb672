"""Reliability of `gatewayctl apply` on the Kong emulator: with 10% of requests failing (500, 503, 429 with
Retry-After, connections closed before or after the work, TCP resets; seeded) apply ends with exactly the
state a fault-free apply gives, no duplicates; an apply killed with SIGKILL midway is finished by the next
one and a third makes no write; rollback puts back the state before an apply; entities of others survive
all of it; no secret appears in any output. The emulator's store is compared, not just exit codes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from emulators.kong import KongEmulator, KongState, RandomFaults, running

from gatewayctl.cli import main

SERVICES = 12
CONSUMERS = 10
SECRETS = {f"FAULT_KEY_{i}": f"s3cr3t-fault-key-{i:04d}-zz" for i in range(CONSUMERS)}
OWNED = ["gatewayctl", "gatewayctl-catalog:faults"]
# Another team's entities, with fixed ids so that two emulators hold the same ones.
THEIRS = [
    ("services", {"id": "7b0c3c1e-0000-4000-8000-000000000001", "name": "billing", "host": "billing.internal"}),
    (
        "routes",
        {
            "id": "7b0c3c1e-0000-4000-8000-000000000002",
            "name": "billing-api",
            "paths": ["/billing"],
            "service": {"id": "7b0c3c1e-0000-4000-8000-000000000001"},
            "tags": ["team-billing"],
        },
    ),
    ("consumers", {"id": "7b0c3c1e-0000-4000-8000-000000000003", "username": "partner", "tags": ["gatewayctl"]}),
    (
        "plugins",
        {"id": "7b0c3c1e-0000-4000-8000-000000000004", "name": "cors", "config": {"origins": ["*"]}, "tags": OWNED[:1]},
    ),
]


def catalog_text(services: int = SERVICES, consumers: int = CONSUMERS, minute: int = 100, extra: str = "") -> str:
    lines = ["format: 1", "name: faults", "gateway:", "  request_id: {}", "consumers:"]
    for i in range(consumers):
        lines += [
            f"  - name: app-{i:02d}",
            "    groups: [users]" if i % 3 else "    groups: [users, admins]",
            f'    credentials: {{key_auth: [{{key: "${{env:FAULT_KEY_{i}}}"}}]}}',
        ]
    lines.append("services:")
    for i in range(services):
        lines += [
            f"  - name: svc-{i:02d}",
            f"    url: http://svc-{i:02d}.internal:8080",
            "    auth: [key-auth]",
            "    allow_groups: [users]",
            f"    rate_limit: {{minute: {minute + i}}}",
            "    routes:",
            f"      - {{name: api, paths: [/svc-{i:02d}], methods: [GET, POST]}}",
            f"      - {{name: admin, paths: [/admin/svc-{i:02d}]}}",
        ]
    lines += [
        "  - name: pool",
        "    upstream: {targets: [10.0.0.1:8080, 10.0.0.2:8080, {target: 10.0.0.3:8080, weight: 10}]}",
        "    routes: [{name: api, paths: [/pool]}]",
    ]
    return "\n".join(lines) + "\n" + extra


EXPECTED_WRITES = (
    CONSUMERS * 3
    + CONSUMERS // 3
    + 1  # consumers, key-auths, acls (users + admins on every third)
    + SERVICES * (1 + 2 + 3)  # service, 2 routes, key-auth/acl/rate-limiting plugins
    + 1
    + 1
    + 3
    + 1  # the pool service, its upstream, 3 targets, its route
    + 1  # correlation-id
)


@pytest.fixture
def secrets(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    return workdir


def seed_theirs(state: KongState) -> None:
    for dao, body in THEIRS:
        state.seed(dao, dict(body))


def view(state: KongState) -> dict[str, dict[str, dict[str, Any]]]:
    """The store without timestamps: what an apply is responsible for, comparable across emulators."""
    return {
        dao: {
            e["id"]: {k: v for k, v in e.items() if k not in ("created_at", "updated_at")} for e in state.entities(dao)
        }
        for dao in state.store
    }


def reference_view(text: str) -> dict[str, dict[str, dict[str, Any]]]:
    """What a fault-free apply of `text` leaves in a Kong holding the same entities of others."""
    state = KongState()
    seed_theirs(state)
    with running(state) as kong:
        assert run(kong, text)[0] == 0
    return view(state)


def run(kong: KongEmulator, text: str | None, *argv: str) -> tuple[int, str, str]:
    """`gatewayctl apply` (or other argv) in this process; output captured through the CLI's consoles."""
    from gatewayctl.cli import console

    if text is not None:
        Path("catalog.yaml").write_text(text)
        argv = ("apply", "catalog.yaml", "--yes", *argv)
    with console.out.capture() as out, console.err.capture() as err:
        code = main([*argv, "--kong-admin-url", kong.url])
    return code, out.get(), err.get()


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for value in SECRETS.values():
            assert value not in text


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_apply_with_ten_percent_faults_converges_to_exactly_the_desired_state(secrets: Path, seed: int) -> None:
    text = catalog_text()
    expected = reference_view(text)
    state = KongState()
    seed_theirs(state)
    theirs = {dao: view(state)[dao] for dao in state.store}
    state.random_faults = RandomFaults(0.10, seed, writes_only=False, retry_after="1", resets=True)
    with running(state) as kong:
        code, out, err = run(kong, text, "--parallelism", "4")
        assert code == 0, err
        faults = [r for r in state.requests if r.status in (0, 429, 500, 503)]
        assert len(faults) >= 5  # the faults really happened
        assert view(state) == expected  # every entity, every field; nothing twice, nothing of others touched
        for dao, items in theirs.items():
            for entity_id, entity in items.items():
                assert view(state)[dao][entity_id] == entity
        state.random_faults = None
        before = len(state.writes())
        code, out2, err2 = run(kong, text)
        assert code == 0 and "nothing to do" in out2, out2 + err2
        assert len(state.writes()) == before
    assert_no_secrets(out, err, out2, err2)


def test_dbless_apply_with_faults_loads_the_configuration_once(secrets: Path) -> None:
    text = catalog_text(services=3, consumers=3).replace("name: faults\n", "name: faults\ngateway: {mode: dbless}\n", 1)
    text = text.replace("gateway:\n  request_id: {}\n", "")
    state = KongState(dbless=True)
    state.random_faults = RandomFaults(0.10, 7, writes_only=False, retry_after="1", resets=True)
    with running(state) as kong:
        code, out, err = run(kong, text)
        assert code == 0, err
        loaded = [r for r in state.requests if r.method == "POST" and r.path == "/config" and r.status == 201]
        assert len(loaded) <= 2  # one, or two when the answer to the first was lost and the hash not yet seen
        state.random_faults = None
        assert len(state.entities("services")) == 4 and len(state.entities("targets")) == 3
        posts = len([r for r in state.requests if r.path == "/config" and r.method == "POST"])
        seen = len(state.requests)
        code, out2, err2 = run(kong, text)
        assert code == 0 and "nothing to do" in out2, out2 + err2
        assert len([r for r in state.requests if r.path == "/config" and r.method == "POST"]) == posts
        # Kong runs this catalog alone (its hash says so): the export is not read to find others' entities
        assert not [r for r in state.requests[seen:] if r.path == "/config"]
    assert_no_secrets(out, err, out2, err2)


def puts_made(state: KongState) -> int:
    """The entity creates and updates made (PUTs, and the POSTs that create, but for the lock's)."""
    return len([r for r in state.writes() if r.method in ("PUT", "POST") and b"gatewayctl-lock." not in r.body])


def signal_apply_midway(kong: KongEmulator, state: KongState, signum: int) -> tuple[int, str, str, int]:
    """Run apply of ./catalog.yaml in a child process, send it `signum` once a third of the writes are
    made; (its exit code, stdout, stderr, the PUTs made when the signal was sent)."""
    command = [sys.executable, "-m", "gatewayctl", "apply", "catalog.yaml", "--yes", "--parallelism", "2"]
    process = subprocess.Popen(
        [*command, "--kong-admin-url", kong.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while puts_made(state) < EXPECTED_WRITES // 3:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.005)
        process.send_signal(signum)
        at_signal = puts_made(state)
        out, err = (b.decode() for b in process.communicate(timeout=30))
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, out, err, at_signal


def test_an_apply_killed_midway_is_finished_by_the_next_and_a_third_writes_nothing(secrets: Path) -> None:
    text = catalog_text()
    expected = reference_view(text)
    Path("catalog.yaml").write_text(text)
    state = KongState(latency=0.02)  # slow answers, so that the kill lands mid-apply
    seed_theirs(state)
    with running(state) as kong:
        returncode, out, err, _ = signal_apply_midway(kong, state, signal.SIGKILL)
        assert returncode == -signal.SIGKILL
        puts = puts_made(state)
        assert EXPECTED_WRITES // 3 <= puts < EXPECTED_WRITES
        assert [c for c in state.entities("consumers") if c["username"] == "gatewayctl-lock.faults"]  # left behind

        state.latency = 0.0
        code, out2, err2 = run(kong, text)
        assert code == 0, err2
        assert "took over a stale apply lock" in err2  # the holder's pid is gone: no 15-minute wait
        assert view(state) == expected
        before = len(state.writes())
        code, out3, err3 = run(kong, text)
        assert code == 0 and "nothing to do" in out3, out3 + err3
        assert len(state.writes()) == before
    assert_no_secrets(out, err, out2, err2, out3, err3)


def test_rollback_after_a_faulty_apply_restores_the_state_before_it(secrets: Path) -> None:
    state = KongState()
    seed_theirs(state)
    with running(state) as kong:
        assert run(kong, catalog_text())[0] == 0
        before = view(state)
        # fewer consumers and services, new limits, a new service: creates, updates and deletes
        changed = catalog_text(services=SERVICES - 2, consumers=CONSUMERS - 3, minute=500)
        changed += "  - name: new-one\n    url: http://new.internal\n    routes: [{name: api, paths: [/new]}]\n"
        state.random_faults = RandomFaults(0.10, 11, writes_only=False, retry_after="1", resets=True)
        code, out, err = run(kong, changed)
        assert code == 0, err
        assert view(state) != before
        code, out2, err2 = run(kong, None, "rollback", "--yes")
        assert code == 0, err2
        state.random_faults = None
        assert view(state) == before
        code, out3, err3 = run(kong, catalog_text(), "--dry-run")
        assert code == 0 and "nothing to do" in out3, out3 + err3
    assert_no_secrets(out, err, out2, err2, out3, err3)


def test_a_lock_is_taken_over_at_once_only_when_its_holder_is_known_dead() -> None:
    from gatewayctl.apply.lock import _host, process_space
    from gatewayctl.apply.lock import tags_name_dead_holder as holder_is_dead

    space = process_space()
    if space is None:
        pytest.skip("no /proc: the holder's process cannot be looked up here")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()

    def lock(host: str, pid: int, pids: str | None) -> list[str]:
        """A lock's holder tags."""
        return ["gatewayctl-lock", f"holder:{host}:{pid}", "run:abc"] + ([f"pids:{pids}"] if pids else [])

    assert holder_is_dead(lock(_host(), dead.pid, space))
    assert not holder_is_dead(lock(_host(), 1, space))  # alive (init)
    assert not holder_is_dead(lock(_host(), os.getpid(), space))  # this very process
    assert not holder_is_dead(lock("another-host", dead.pid, space))
    assert not holder_is_dead(lock(_host(), dead.pid, "0000.1"))  # another boot or pid namespace
    assert not holder_is_dead(lock(_host(), dead.pid, None))  # a lock that does not say where it ran


def test_an_apply_terminated_midway_releases_its_lock_and_the_next_finishes(secrets: Path) -> None:
    """SIGTERM (a cancelled CI job) ends apply like Ctrl-C: in-flight writes finish, the lock is released (a
    runner elsewhere need not wait 15 minutes for it), exit 130 with what to do, and a re-run converges."""
    text = catalog_text()
    expected = reference_view(text)
    Path("catalog.yaml").write_text(text)
    state = KongState(latency=0.02)
    seed_theirs(state)
    with running(state) as kong:
        returncode, out, err, at_signal = signal_apply_midway(kong, state, signal.SIGTERM)
        assert returncode == 130 and "Traceback" not in err, err
        made = re.search(r"interrupted: (\d+) of (\d+) changes were made", err)
        assert made and 0 < int(made.group(1)) < int(made.group(2)), err
        # nothing new starts after the signal: only the writes in flight (2, with a little slack for the
        # signal's own delivery) end after it, not the rest of the batch that was queued
        assert puts_made(state) <= at_signal + 4
        assert not [c for c in state.entities("consumers") if c["username"] == "gatewayctl-lock.faults"]
        assert puts_made(state) < EXPECTED_WRITES
        state.latency = 0.0
        code, out2, err2 = run(kong, text)
        assert code == 0 and "stale" not in err2, err2
        assert view(state) == expected
    assert_no_secrets(out, err, out2, err2)
