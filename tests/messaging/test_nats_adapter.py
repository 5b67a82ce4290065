"""messaging.nats against a real nats-server: order per partition, dedupe, retries in order, shared
partitions and failover, a kill -9 of the broker, live feeds, status, bad settings."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

import pytest

from adapters.messaging.nats import NatsMessaging
from core.errors import ConfigurationError, Unavailable
from core.events import PatientRegistered
from core.partitions import PARTITIONS, partition_of
from host.settings import Settings
from ports.storage import StoredEvent
from tests.natsserver import NatsServer

pytestmark = pytest.mark.nats
TYPE = PatientRegistered.event_type()


def settings_for(url: str, **extra: object) -> Settings:
    fields: dict[str, object] = {
        "nats_url": url, "nats_prefix": f"t{uuid.uuid4().hex[:10]}", "nats_ack_wait_seconds": 1.0,
        "relay_backoff_seconds": 0.1, "nats_connect_timeout_seconds": 1.0, **extra}
    return Settings(**fields)  # type: ignore[arg-type]


def patients(n: int) -> list[str]:
    """``n`` patients in ``n`` different partitions (n <= 16)."""
    found: dict[int, str] = {}
    i = 0
    while len(found) < n:
        pinfl = f"{30101900000000 + i}"
        found.setdefault(partition_of(pinfl, uuid.uuid4()), pinfl)
        i += 1
    return list(found.values())


def event(seq: int, patient: str) -> StoredEvent:
    return StoredEvent(seq, PatientRegistered(patient=patient, patient_id=uuid.uuid4(), surname="S",
                                              given_name="G"))


def spread(n: int, people: list[str], start: int = 1) -> list[StoredEvent]:
    return [event(start + i, people[i % len(people)]) for i in range(n)]


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


class Seen:
    """What a consumer group handled, by partition, in order."""

    def __init__(self) -> None:
        self.by_partition: dict[int, list[int]] = defaultdict(list)
        self.batches = 0

    async def handle(self, batch: list[StoredEvent]) -> None:
        self.batches += 1
        for stored in batch:
            self.by_partition[partition_of(stored.event.patient, stored.event.id)].append(stored.seq)

    def seqs(self) -> list[int]:
        return sorted(s for seqs in self.by_partition.values() for s in seqs)


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[NatsMessaging]:
    messaging = NatsMessaging(settings_for(nats_server.url))
    yield messaging
    await messaging.close()


async def test_consumed_once_in_publish_order_per_partition_and_status_moves(bus: NatsMessaging) -> None:
    events = spread(90, patients(3))
    await bus.publish(events)
    await bus.publish(events[:30])  # the relay re-publishes after a crash: the broker drops them
    status = await bus.status()
    assert status.stream["messages"] == 90 and status.durable and status.adapter == "nats"
    seen = Seen()
    consumption = await bus.consume("medcard.alerts", [TYPE], seen.handle, batch=10)
    await until(lambda: len(seen.seqs()) == 90)
    assert seen.seqs() == list(range(1, 91))
    assert all(seqs == sorted(seqs) for seqs in seen.by_partition.values())
    assert len(seen.by_partition) == 3 and seen.batches >= 9
    await until(lambda: consumption.partitions == set(range(PARTITIONS)))
    group = (await bus.status()).groups[0]
    assert (group.group, group.pending) == ("medcard.alerts", 0)


async def test_a_failing_batch_is_redelivered_in_order_before_later_events(bus: NatsMessaging) -> None:
    [patient] = patients(1)
    await bus.publish(spread(5, [patient]))
    handled: list[int] = []
    failures = 0

    async def handle(batch: list[StoredEvent]) -> None:
        nonlocal failures
        if batch[0].seq <= 3 and failures < 2:  # fails twice on what holds seq 1..3
            failures += 1
            await bus.publish(spread(2, [patient], start=6 + 2 * failures))  # later events arrive meanwhile
            raise RuntimeError("database down")
        handled.extend(s.seq for s in batch)

    await bus.consume("medcard.alerts", [TYPE], handle, batch=3)
    await until(lambda: len(handled) == 9)
    assert failures == 2 and handled == [1, 2, 3, 4, 5, 8, 9, 10, 11]


async def test_two_processes_share_partitions_and_one_takes_over_when_the_other_stops(
        nats_server: NatsServer) -> None:
    settings = settings_for(nats_server.url)
    a, b = NatsMessaging(settings), NatsMessaging(settings)
    seen_a, seen_b = Seen(), Seen()
    try:
        ca = await a.consume("medcard.alerts", [TYPE], seen_a.handle, batch=20)
        cb = await b.consume("medcard.alerts", [TYPE], seen_b.handle, batch=20)
        await until(lambda: len(ca.partitions) == 8 and len(cb.partitions) == 8)
        assert not ca.partitions & cb.partitions
        people = patients(PARTITIONS)
        await a.publish(spread(160, people))
        await until(lambda: len(seen_a.seqs()) + len(seen_b.seqs()) == 160)
        assert sorted(seen_a.seqs() + seen_b.seqs()) == list(range(1, 161))
        assert seen_a.seqs() and seen_b.seqs()
        await a.close()  # a clean stop hands its leases back: b takes them on its next tick
        await until(lambda: cb.partitions == set(range(PARTITIONS)), within=5)
        await b.publish(spread(32, people, start=161))
        await until(lambda: len(seen_a.seqs()) + len(seen_b.seqs()) == 192)
        assert sorted(seen_a.seqs() + seen_b.seqs()) == list(range(1, 193))
    finally:
        await a.close()
        await b.close()


async def test_when_a_process_dies_mid_batch_another_takes_over_and_handles_it(nats_server: NatsServer) -> None:
    settings = settings_for(nats_server.url)
    a, b = NatsMessaging(settings), NatsMessaging(settings)
    stuck, seen_b = asyncio.Event(), Seen()
    started: list[int] = []

    async def hang(batch: list[StoredEvent]) -> None:
        started.extend(s.seq for s in batch)
        await stuck.wait()  # the process "dies" here: never acknowledged

    try:
        await a.consume("medcard.alerts", [TYPE], hang)
        await until(lambda: len(a._groups[0].partitions) == PARTITIONS)
        await a.publish(spread(8, patients(2)))
        await until(lambda: {1, 2} <= set(started))  # a batch of each partition in hand, never acked
        assert a._nc is not None
        await a._nc.close()  # gone without a word: leases and member key simply expire
        cb = await b.consume("medcard.alerts", [TYPE], seen_b.handle)
        await until(lambda: cb.partitions == set(range(PARTITIONS)), within=8)
        await until(lambda: seen_b.seqs() == list(range(1, 9)))
    finally:
        stuck.set()
        await a.close()
        await b.close()


async def test_an_event_of_an_unknown_type_is_acknowledged_not_handed_on(bus: NatsMessaging) -> None:
    [patient] = patients(1)
    _, js = await bus._connected()
    partition = partition_of(patient, uuid.uuid4())
    await js.publish(bus.names.subject(partition, "retired.module_event"), b"{}", headers={"Shifo-Seq": "1"})
    await bus.publish([event(2, patient)])
    seen = Seen()
    await bus.consume("medcard.alerts", [TYPE, "retired.module_event"], seen.handle)
    await until(lambda: seen.seqs() == [2])
    for _ in range(50):  # both acknowledged: nothing pending for the group
        status = await bus.status()
        if status.groups[0].pending + status.groups[0].ack_pending == 0:
            break
        await asyncio.sleep(0.05)
    assert status.stream["messages"] == 2 and status.groups[0].ack_pending == 0


async def test_live_subscribers_get_events_by_type_and_hear_of_drops(nats_server: NatsServer) -> None:
    bus = NatsMessaging(settings_for(nats_server.url), live_queue=2)
    try:
        everything = await bus.subscribe()
        other = await bus.subscribe(["medcard.entry_recorded"])
        people = patients(2)
        await bus.publish(spread(5, people))  # nobody reads: 3, 4 and 5 do not fit the queue
        feed = aiter(everything)
        got = [await asyncio.wait_for(anext(feed), 5) for _ in range(2)]
        await bus.publish(spread(1, people, start=6))
        got += [await asyncio.wait_for(anext(feed), 5) for _ in range(2)]
        assert [g.seq if g else None for g in got] == [1, 2, None, 6]
        assert got[0] is not None and got[0].event.patient == people[0]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(anext(aiter(other)), 0.3)
        await everything.close()
        assert [item async for item in feed] == []
    finally:
        await bus.close()


async def test_events_survive_a_kill_9_of_the_broker_and_consumers_resume(
        nats_server: NatsServer, tmp_path) -> None:
    server = NatsServer(nats_server.binary, tmp_path).start()  # a server of its own to kill
    bus = NatsMessaging(settings_for(server.url))
    resumed, replayed = Seen(), Seen()
    try:
        live = await bus.subscribe([TYPE])
        await bus.consume("medcard.alerts", [TYPE], resumed.handle)
        people = patients(4)
        await bus.publish(spread(20, people))
        got = await asyncio.wait_for(anext(aiter(live)), 5)
        assert got is not None and got.seq == 1 and got.event.patient == people[0]
        await until(lambda: len(resumed.seqs()) == 20)
        server.kill()
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await bus.publish(spread(1, people, start=21))
        assert time.monotonic() - started < 6
        server.start()
        await bus.consume("erecipe.stock", [TYPE], replayed.handle)  # a new group reads the stored 20
        await until(lambda: len(replayed.seqs()) == 20, within=15)
        await bus.publish(spread(5, people, start=21))
        # a broker crash may lose the consumers' latest acks (their state is written lazily):
        # acknowledged events can come again, which the inbox check of host.consumers drops
        await until(lambda: set(resumed.seqs()) == set(replayed.seqs()) == set(range(1, 26)), within=15)
        assert replayed.seqs() == list(range(1, 26))
        items = []
        async for item in live:  # the reconnect is reported before (or among) later events
            items.append(item)
            if item is not None and item.seq == 25:
                break
        assert None in items
    finally:
        await bus.close()
        server.cleanup()


async def test_an_unreachable_broker_is_unavailable_quickly() -> None:
    bus = NatsMessaging(settings_for("nats://127.0.0.1:9"))
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await bus.publish(spread(1, patients(1)))
    with pytest.raises(Unavailable):
        await bus.ping()
    assert time.monotonic() - started < 10
    await bus.close()


def test_bad_tls_and_credential_files_are_configuration_errors(tmp_path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    cases: list[dict[str, object]] = [
        {"nats_tls_ca_file": str(tmp_path / "missing.pem")},
        {"nats_tls_ca_file": str(junk)},
        {"nats_tls_cert_file": str(junk)},  # a certificate without its key
        {"nats_tls_cert_file": str(junk), "nats_tls_key_file": str(junk)},
        {"nats_creds_file": str(junk)},
        {"nats_nkey_seed_file": str(junk)},
        {"nats_prefix": " "},
        {"nats_url": " , "},
    ]
    for case in cases:
        with pytest.raises(ConfigurationError):
            NatsMessaging(settings_for("nats://127.0.0.1:4222", **case))
