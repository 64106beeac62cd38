"""Property tests: no two distinct raw values ever export one label value.

Seeded random raw values, built to collide: values holding the marker or ``~``, values that
read like changed values (of the old form, ``~`` and 8 hex digits, and of the current one, the
marker and 32), among them actual outputs of the encoder for other generated values, NUL and
lone surrogates beside what cleaning turns them into, long values sharing long prefixes, values
at the length caps and one either side. Over every pair, two distinct values give two label
values; every label value is storable (no NUL, no surrogate, within the cap). Then through the
attribution slots, whose values are cleaned once and rendered as they are, and through a state
file saved before the current form.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re

import pytest

from exporter.backends import ray
from exporter.exposition import text as render
from exporter.exposition.block import Block
from exporter.exposition.renderers.jobs import render_jobs
from exporter.exposition.store import BlockKey, Exposition
from exporter.exposition.text import (
    MAX_EXEMPLAR_JOB_ID_LENGTH,
    MAX_LABEL_VALUE_LENGTH,
    escape,
    storable,
)
from exporter.ledger.attribution import Slots
from exporter.ledger.job_ledger import JobLedger
from exporter.model import Job, status_pairs
from exporter.store import ledger_form

from .helpers import samples

SEEDS = int(os.environ.get("JOBFLEET_LABEL_SEEDS", "30"))
LIMITS = (MAX_LABEL_VALUE_LENGTH, MAX_EXEMPLAR_JOB_ID_LENGTH)  # label values, exemplar job ids
MARKER = "\u00a4"  # what marks a changed value (render.MARKER)
HEX = "0123456789abcdef"
# characters cleaning drops or merges, the markers, what escaping writes, and plain ones
PIECES = (
    *"aZ09f~-. ",
    MARKER,
    "\x00",
    "\ud800",
    "\udbff",
    "\udc00",
    "\udfff",
    "\ufffd",
    "…",
    "中",
    "\\",
    '"',
    "\n",
    "\\n",
)
T0 = 1_800_000_000.0


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def form_1(value: str, limit: int = MAX_LABEL_VALUE_LENGTH) -> str:
    """What versions before the marker exported (``~`` and 8 hex digits): a value that reads
    like a changed one, for the generator."""
    if len(value) <= limit and not re.search("[\x00\ud800-\udfff]", value):
        return value
    cleaned = re.sub(
        "[\x00\ud800-\udfff]", lambda m: "" if m.group() == "\x00" else "\ufffd", value
    )
    if len(cleaned) > limit - 9:
        return f"{cleaned[: limit - 10]}…~{digest(value)[:8]}"
    return f"{cleaned}~{digest(value)[:8]}"


def random_text(rng: random.Random, most: int) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, most)))


def random_hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(HEX) for _ in range(n))


def adversarial_values(rng: random.Random) -> set[str]:
    """Raw values built to collide once encoded, each kind several times."""
    values: set[str] = {"", "other", "\x00", MARKER, "~", "\ufffd"}
    for _ in range(60):
        values.add(random_text(rng, 12))
    for _ in range(40):  # read like changed values, of the old form and the current one
        base = random_text(rng, 6)
        values.update(
            {
                f"{base}~{random_hex(rng, 8)}",
                f"{base}{MARKER}{random_hex(rng, 32)}",
                f"{base}{MARKER}{random_hex(rng, 8)}",
                f"{base}{MARKER}{random_hex(rng, rng.choice((31, 33)))}",
                f"{base}{MARKER}{random_hex(rng, 32).upper()}",
            }
        )
    for _ in range(20):  # differ only by a NUL, a surrogate, or what replaces them
        base = random_text(rng, 5)
        at = rng.randint(0, len(base))
        for piece in ("", "\x00", "\x00\x00", "\ud800", "\udfff", "\ufffd", MARKER, "~"):
            values.add(base[:at] + piece + base[at:])
    for limit in LIMITS:  # long values sharing prefixes, at the cap and either side of it
        for _ in range(12):
            prefix = rng.choice("xy中") * rng.randint(limit - 40, limit + 5)
            for length in (limit - 1, limit, limit + 1, limit + 2, 2 * limit):
                filler = prefix + rng.choice("ab") * max(0, length - len(prefix))
                for tail in ("", "0", "1", "\x00", "\ud800", MARKER, "~"):
                    values.add(filler[: length - len(tail)] + tail)
    for value in list(values):  # the encoder's own outputs, and near misses of them
        for limit in LIMITS:
            changed = storable(value, limit)
            values.update(
                {
                    changed,
                    changed + "x",
                    changed[:-1],
                    storable(changed, limit),
                    form_1(value, limit),
                    changed.rpartition(MARKER)[0] or changed,
                    f"{changed.rpartition(MARKER)[0]}~{digest(value)[:8]}",
                    f"{changed.rpartition(MARKER)[0]}{MARKER}{digest(value)[:8]}",
                }
            )
    return values


def assert_injective(encode, values: set[str]) -> dict[str, str]:
    """{label value: raw value}, failing on the first two raw values that give one."""
    seen: dict[str, str] = {}
    for value in values:
        out = encode(value)
        other = seen.setdefault(out, value)
        assert other == value, f"{other!r} and {value!r} both export {out!r}"
    return seen


@pytest.mark.parametrize("seed", range(SEEDS))
def test_distinct_raw_values_never_export_one_label_value(seed: int) -> None:
    values = adversarial_values(random.Random(seed))
    assert len(values) > 1000
    for limit in LIMITS:
        outputs = assert_injective(lambda v, limit=limit: storable(v, limit), values)
        for out in outputs:
            assert len(out) <= limit
            assert "\x00" not in out
            out.encode("utf-8")  # strict: no surrogate left
        # and the text escaping after it (what the exposition holds) stays one to one
        assert_injective(lambda v, limit=limit: escape(v, limit), values)


@pytest.mark.parametrize("seed", range(SEEDS))
def test_a_value_is_kept_exactly_when_it_is_short_and_clean(seed: int) -> None:
    """Kept: within the cap, without NUL, surrogates or the marker. Changed: the cleaned start,
    the marker once, the first 32 hex digits of the original's SHA-256, within the cap."""
    changed_form = re.compile(f"([^\x00\ud800-\udfff{MARKER}]*){MARKER}([0-9a-f]{{32}})")
    for value in adversarial_values(random.Random(seed)):
        for limit in LIMITS:
            out = storable(value, limit)
            clean = len(value) <= limit and not re.search(f"[\x00\ud800-\udfff{MARKER}]", value)
            if clean:
                assert out == value
                continue
            match = changed_form.fullmatch(out)
            assert match, (value, out)
            assert match.group(2) == digest(value)[:32]
            assert len(out) == min(limit, len(match.group(1)) + 33)
            assert render.is_label_value(out, limit)


def test_the_marker_is_the_one_documented_and_not_ascii() -> None:
    assert render.MARKER == MARKER and not MARKER.isascii()
    assert render.DIGEST_LENGTH == 32
    assert MAX_EXEMPLAR_JOB_ID_LENGTH > render.DIGEST_LENGTH + 1  # room for the digest


def test_plain_ascii_values_skip_the_cleaning(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common case, every label of every per-job series at every poll: never cleaned."""

    def refused(*args: object) -> str:
        raise AssertionError("a plain ASCII value was cleaned")

    monkeypatch.setattr(render, "storable", refused)
    for value in ("raysubmit_0123456789", "a~b", "ops~f2f06f2b", "x" * 256, 'q"\\\n'):
        assert render.escape(value).replace("\\\\", "\\").replace('\\"', '"') in (
            value,
            value.replace("\n", "\\n"),
        )


# --- through the attribution slots ------------------------------------------------------------

NUL_DIGEST = digest("ops\x00")
# "ops\x00" changed in the old form, then in the current one: each also a raw value of its own
SLOT_RAW = (
    "ops\x00",
    f"ops~{NUL_DIGEST[:8]}",
    f"ops{MARKER}{NUL_DIGEST[:32]}",
    f"ops{MARKER}{NUL_DIGEST[:8]}",
    f"ops{MARKER}",
    "ops\ud800",
    "ops\ufffd",
    "ops",
)


def attributed_ledger(max_values: int = 20) -> JobLedger:
    return JobLedger(
        status_pairs(ray.STATUSES),
        failure_reasons=ray.FAILURE_REASONS,
        slots=Slots(("team",), max_values),
        histogram_labels=("team",),
    )


def job(key: str, status: str, team: str) -> Job:
    end = T0 + 50 if ray.STATUSES[status].terminal else None
    return Job(key, key, status, ray.STATUSES[status], submit_time=T0 + 1, end_time=end,
               attribution=(team,))  # fmt: skip


def exported_teams(ledger: JobLedger, family: str) -> dict[str, float]:
    block = Block((("target", "t"), ("backend", "ray")))
    render_jobs(block, ledger.view(), "all")
    exposition = Exposition()
    exposition.update({BlockKey("t", "jobs"): block.encode()})
    out: dict[str, float] = {}
    for (name, labels), n in samples(exposition.body()).items():
        if name == family:
            team = dict(labels)["team"]
            out[team] = out.get(team, 0) + n
    return out


def test_values_that_read_like_a_changed_value_take_slots_of_their_own() -> None:
    """``ops\\0`` and ``ops~f2f06f2b`` (what ``ops\\0`` became before), and the current form's
    equivalents: each takes its own slot, is counted apart, and is exported as the value the
    encoder gives it, cleaned once (never a changed value changed again)."""
    assert NUL_DIGEST[:8] == "f2f06f2b"
    ledger = attributed_ledger()
    ledger.apply([], T0)
    ledger.apply([job(f"j{i}", "RUNNING", raw) for i, raw in enumerate(SLOT_RAW)], T0 + 10)
    ledger.apply([job(f"j{i}", "SUCCEEDED", raw) for i, raw in enumerate(SLOT_RAW)], T0 + 60)
    assert len(ledger.slots.values["team"]) == len(SLOT_RAW)
    expected = {storable(raw): 1 for raw in SLOT_RAW}
    assert len(expected) == len(SLOT_RAW)
    assert exported_teams(ledger, "jobfleet_jobs_submitted_total") == expected
    assert exported_teams(ledger, "jobfleet_jobs_finished_total") == expected
    assert exported_teams(ledger, "jobfleet_job_duration_seconds_count") == expected
    again = attributed_ledger()  # and after a restart from the saved state
    ledger_form.restore(again, json.loads(json.dumps(ledger_form.to_state(ledger))))
    assert exported_teams(again, "jobfleet_jobs_submitted_total") == expected
    assert again.slots.admit((f"ops~{NUL_DIGEST[:8]}",), new_job=True) == (f"ops~{NUL_DIGEST[:8]}",)


@pytest.mark.parametrize("seed", range(3))
def test_random_adversarial_values_take_one_slot_each(seed: int) -> None:
    values = sorted(adversarial_values(random.Random(seed)) - {"", "other"})
    slots = Slots(("team",), len(values))
    admitted = [slots.admit((value,), new_job=True)[0] for value in values]
    assert len(set(admitted)) == len(values) == len(slots.values["team"])
    assert [slots.lookup((value,))[0] for value in values] == admitted
    slots.check({"team": list(slots.values["team"])})  # what it saves, it takes back


def test_slots_saved_in_the_old_form_are_upgraded_and_never_merge() -> None:
    """A state file of a version before the marker: its slots hold values changed the old way
    (``~`` and 8 hex digits), which a kept value could also end with. After the restart, each
    counts on distinctly: a plain value keeps its slot; a value the old form kept that holds
    the marker is under its current label value; a value ending in ``~`` and 8 hex digits keeps
    its counts under that value with the marker for ``~``, a value no job can have any more, so
    ``ops\\0`` and ``ops~f2f06f2b`` each take a new slot instead of sharing it."""
    old_changed = f"ops~{NUL_DIGEST[:8]}"
    first = attributed_ledger()
    first.apply([], T0)
    raws = ("a", old_changed, "PLACEHOLDER")
    first.apply([job(f"j{i}", "SUCCEEDED", raw) for i, raw in enumerate(raws)], T0 + 60)
    state = ledger_form.to_state(first)
    state["attribution"].pop("form", None)  # saved before slots saved their form
    text = json.dumps(state).replace("PLACEHOLDER", f"x{MARKER}y")  # kept by the old form
    again = attributed_ledger()
    ledger_form.restore(again, json.loads(text))
    legacy = f"ops{MARKER}{NUL_DIGEST[:8]}"
    upgraded = {"a", legacy, storable(f"x{MARKER}y")}
    assert set(again.slots.values["team"]) == upgraded
    assert exported_teams(again, "jobfleet_jobs_submitted_total") == dict.fromkeys(upgraded, 1)
    assert ledger_form.to_state(again)["attribution"]["form"] == 2
    # new jobs: the plain value and the marked one count on under their slots; ops\0 and
    # ops~f2f06f2b take new slots, neither shares the legacy one
    jobs = [job("k0", "RUNNING", "a"), job("k1", "RUNNING", f"x{MARKER}y")]
    jobs += [job("k2", "RUNNING", "ops\x00"), job("k3", "RUNNING", old_changed)]
    again.apply(jobs, T0 + 120)
    teams = exported_teams(again, "jobfleet_jobs_submitted_total")
    assert teams == {
        "a": 2,  # the saved job and the new one, on one series
        legacy: 1,
        storable(f"x{MARKER}y"): 2,
        storable("ops\x00"): 1,
        old_changed: 1,
    }
    # saved again (the current form), the legacy slot is taken back as it is
    later = attributed_ledger()
    ledger_form.restore(later, json.loads(json.dumps(ledger_form.to_state(again))))
    assert set(later.slots.values["team"]) == set(teams)


def test_a_slot_form_this_version_does_not_know_is_refused() -> None:
    first = attributed_ledger()
    first.apply([], T0)
    state = ledger_form.to_state(first)
    state["attribution"]["form"] = 3
    with pytest.raises(ValueError, match=r"attribution\.form"):
        ledger_form.restore(attributed_ledger(), state)
