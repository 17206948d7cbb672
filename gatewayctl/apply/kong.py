"""Carry out a Kong plan over the Admin API (DB mode).

Order (after decK's syncer, GDR pkg/diff/order.go): first the deletes that free a name a new entity needs
(children before parents), then creates and updates level by level top-down (consumers; services,
upstreams, credentials; routes, targets; plugins), then the remaining deletes bottom-up. Within a level,
a write giving up a unique value runs before the one taking it, after the `first` writes that break a
cycle of such values (see plan.kong._order_moved_values), and up to `parallelism` writes are in flight.
Every create and update is a `PUT /<collection>/<id>` with the catalog's deterministic id (targets, which
Kong only updates by PUT, are created by POST carrying the id), so running the same plan twice, or again
after a crash, converges instead of duplicating.

On the first write Kong refuses (or that keeps failing after retries) nothing new is started; writes
already in flight finish; the outcome lists what was done, what failed and what was left unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gatewayctl.apply.batches import Cancel, Interrupted, run_batches
from gatewayctl.apply.batches import Outcome as BatchOutcome
from gatewayctl.clients.kong_admin import KongAdmin, KongError
from gatewayctl.plan.entities import Entity
from gatewayctl.plan.kinds import LEVELS
from gatewayctl.plan.kong import Change

Progress = Callable[[Change], None]


Outcome = BatchOutcome[Change, KongError]


def phases(changes: list[Change]) -> list[list[Change]]:
    """The plan as batches that must run one after another; each batch may run concurrently."""
    deletes = [c for c in changes if c.action == "delete"]
    early_ids = {c.entity.id for c in deletes if c.replaces}
    # children of an early delete go with it (a service's routes before the service)
    grew = True
    while grew:
        grew = False
        for c in deletes:
            if c.entity.id not in early_ids and c.entity.parent_id() in early_ids:
                early_ids.add(c.entity.id)
                grew = True
    early = [c for c in deletes if c.entity.id in early_ids]
    late = [c for c in deletes if c.entity.id not in early_ids]
    writes = [c for c in changes if c.action != "delete"]
    out: list[list[Change]] = []
    for level in reversed(LEVELS):
        out.append([c for c in early if c.entity.spec.level == level])
    for level in LEVELS:
        level_writes = [c for c in writes if c.entity.spec.level == level]
        out.append([c.first for c in level_writes if c.first is not None])  # values given up for others first
        out.extend(_in_order([_after_first(c) for c in level_writes]))
    for level in reversed(LEVELS):
        out.append([c for c in late if c.entity.spec.level == level])
    return [batch for batch in out if batch]


def _after_first(change: Change) -> Change:
    """A change whose first write deleted its entity creates it (a target can only be created by POST)."""
    if change.first is not None and change.first.action == "delete":
        return replace(change, action="create")
    return change


def _in_order(writes: list[Change]) -> list[list[Change]]:
    """One level's writes as batches such that a write giving up a unique value (`after`) runs before the
    write taking it; without such pairs, one batch. Walked with an explicit stack, not recursion: moves
    chain as long as a consumer's list of keys."""
    by_id = {c.entity.id: c for c in writes}
    depth: dict[str, int] = {}  # 0 for a write waiting for none; else one more than the deepest it waits for
    on_path: set[str] = set()  # the plan breaks cycles; be safe: an `after` back onto the path is ignored
    for change in writes:
        start = change.entity.id
        if start in depth:
            continue
        stack = [(start, iter(change.after))]
        on_path.add(start)
        while stack:
            entity_id, waits_for = stack[-1]
            pending = next((a for a in waits_for if a in by_id and a not in depth and a not in on_path), None)
            if pending is not None:
                stack.append((pending, iter(by_id[pending].after)))
                on_path.add(pending)
                continue
            stack.pop()
            on_path.discard(entity_id)
            depth[entity_id] = 1 + max((depth[a] for a in by_id[entity_id].after if a in depth), default=-1)
    batches: dict[int, list[Change]] = {}
    for change in writes:
        batches.setdefault(depth[change.entity.id], []).append(change)
    return [batches[d] for d in sorted(batches)]


def execute(
    client: KongAdmin,
    changes: list[Change],
    parallelism: int = 8,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> Outcome:
    """Carry out the plan. The outcome and progress speak of the plan's changes: a change made in two writes
    (`first`) is done when its second is, and failed when either failed."""
    planned = {c.entity.id: c for c in changes}  # one change per entity
    firsts = {id(c.first) for c in changes if c.first is not None}
    firsts_done: list[Change] = []

    def step_done(step: Change) -> None:
        if id(step) in firsts:
            firsts_done.append(step)
        elif progress is not None:
            progress(planned[step.entity.id])

    batches = phases(changes)
    try:
        steps = run_batches(batches, lambda c: write(client, c), KongError, parallelism, step_done, cancel)
    except Interrupted as exc:
        raise Interrupted(exc.done - len(firsts_done), exc.total - len(firsts)) from None
    failed = {s.entity.id for s, _ in steps.failed}
    skipped = [planned[s.entity.id] for s in steps.skipped if id(s) not in firsts and s.entity.id not in failed]
    begun = {s.entity.id for s in firsts_done}
    return Outcome(
        done=[planned[s.entity.id] for s in steps.done if id(s) not in firsts],
        failed=[(planned[s.entity.id], exc) for s, exc in steps.failed],
        skipped=skipped,
        begun=[c for c in skipped if c.entity.id in begun],
        warnings=steps.warnings,
    )


def write(client: KongAdmin, change: Change) -> None:
    entity = change.entity
    if change.action == "delete":
        client.request("DELETE", entity.write_path(), ok=(204, 404))  # already gone (a cascade) is fine
        return
    if change.action == "create":
        # A POST carrying the id, not Kong's upsert PUT: an entity that holds the id but not this catalog's
        # tags (retagged by hand, or by a decK sync of a dump) is invisible to the plan, and a PUT would
        # replace it; a POST is refused (400, primary key violation) and leaves it as it is.
        path = entity.create_path()
        try:
            client.entity(client.request("POST", path, json={**entity.body, "id": entity.id}, ok=(200, 201)), path)
        except KongError as exc:
            # A POST retried after a lost response finds its own entity already there.
            if (
                exc.attempts > 1
                and exc.status in (400, 409)
                and _ours(client.get_optional(entity.write_path()), entity)
            ):
                return
            raise
        return
    # Kong answers a write with the entity: anything else (a proxy's page) does not show it was made
    path = entity.write_path()
    client.entity(client.request("PUT", path, json=entity.body, ok=(200, 201)), path)


def _ours(found: Any, entity: Entity) -> bool:
    """Whether what Kong holds at `entity`'s id carries the tags `entity` is written with (the ownership tags)."""
    if not isinstance(found, dict):
        return False
    return set(entity.body.get("tags") or []) <= set(found.get("tags") or [])
