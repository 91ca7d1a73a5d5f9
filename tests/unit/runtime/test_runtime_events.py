"""Events as the recorder writes them: the body of a new Event, repeats counted in its series
within the window, a new Event after the window or when the old one is gone, and never raising."""

from __future__ import annotations

from typing import Any, cast

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta, Status
from lightkube.resources.core_v1 import ConfigMap
from lightkube.resources.events_v1 import Event

from kokpit.runtime.events import MAX_NOTE, SERIES_WINDOW, EventRecorder


class FakeEvents:
    """Records what the recorder asks of the API; `patch_fails` answers patches with that code."""

    def __init__(self) -> None:
        self.created: list[Event] = []
        self.patched: list[tuple[str, str, dict[str, Any]]] = []
        self.patch_fails: int | None = None

    async def create(self, obj: Event) -> Event:
        self.created.append(obj)
        return obj

    async def patch(self, res: type[Any], name: str, patch: dict[str, Any], **kwargs: Any) -> None:
        if self.patch_fails is not None:
            raise ApiError(status=Status(code=self.patch_fails, message="nope"))
        self.patched.append((name, kwargs["namespace"], patch))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[EventRecorder, FakeEvents, Clock]:
    fake, clock = FakeEvents(), Clock()
    recorder = EventRecorder(cast(AsyncClient, fake), "kokpit-test", instance="replica-1", clock=clock)
    return recorder, fake, clock


def subject() -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name="cm", namespace="ns", uid="u-1", resourceVersion="7"))


async def test_a_new_event_names_its_object_reporter_and_reason() -> None:
    recorder, fake, _ = setup()
    await recorder.warning(subject(), "ApplyFailed", "member1: forbidden")
    [event] = fake.created
    assert event.metadata is not None
    assert event.metadata.namespace == "ns"
    assert event.metadata.name is not None and event.metadata.name.startswith("cm.")
    assert (event.type, event.reason, event.note, event.action) == (
        "Warning",
        "ApplyFailed",
        "member1: forbidden",
        "Reconcile",
    )
    assert (event.reportingController, event.reportingInstance) == ("kokpit-test", "replica-1")
    assert event.regarding is not None
    assert (event.regarding.kind, event.regarding.name, event.regarding.uid) == ("ConfigMap", "cm", "u-1")


async def test_repeats_within_the_window_count_in_the_series() -> None:
    recorder, fake, clock = setup()
    for _ in range(3):
        await recorder.normal(subject(), "Synced", "ok")
        clock.now += 10
    assert len(fake.created) == 1
    assert [patch["series"]["count"] for _, _, patch in fake.patched] == [2, 3]
    assert fake.created[0].metadata is not None
    assert {(name, namespace) for name, namespace, _ in fake.patched} == {
        (fake.created[0].metadata.name, "ns")
    }


async def test_a_different_reason_or_note_is_a_different_event() -> None:
    recorder, fake, _ = setup()
    await recorder.normal(subject(), "Synced", "ok")
    await recorder.normal(subject(), "Synced", "other")
    await recorder.warning(subject(), "Synced", "ok")
    assert len(fake.created) == 3
    assert fake.patched == []


async def test_after_the_window_a_new_event_starts() -> None:
    recorder, fake, clock = setup()
    await recorder.normal(subject(), "Synced", "ok")
    clock.now += SERIES_WINDOW + 1
    await recorder.normal(subject(), "Synced", "ok")
    assert len(fake.created) == 2
    assert fake.patched == []


async def test_a_series_whose_event_is_gone_starts_a_new_event() -> None:
    recorder, fake, _ = setup()
    await recorder.normal(subject(), "Synced", "ok")
    fake.patch_fails = 404
    await recorder.normal(subject(), "Synced", "ok")
    assert len(fake.created) == 2


async def test_recording_never_raises_and_long_notes_are_cut() -> None:
    recorder, fake, _ = setup()
    fake.patch_fails = 500
    await recorder.normal(subject(), "Synced", "x" * (MAX_NOTE + 50))
    await recorder.normal(subject(), "Synced", "x" * (MAX_NOTE + 50))  # patch fails with 500: logged
    await recorder.event(subject(), "Bogus", "Synced", "ok")  # not Normal/Warning: logged, not written
    assert len(fake.created) == 1
    note = fake.created[0].note
    assert note is not None and len(note) == MAX_NOTE and note.endswith("...")
