"""The isolate's outbox: rows gathered into batches, each sent by a request whose row it holds."""

from typing import Any

from edge.ingest import Parcel
from edge.outbox import Outbox
from tests.edge.fakes import FakeClock


class Sender:
    def __init__(self) -> None:
        self.sent: list[list[str]] = []

    def __call__(self, parcels: list[Parcel]) -> Any:
        async def send() -> int:
            self.sent.append([parcel.request_id for parcel in parcels])
            return len(parcels)

        return send()


def _parcel(name: str, size: int = 10) -> Parcel:
    return Parcel(name, b"x" * size)


async def test_the_row_that_opens_a_batch_sends_it_after_the_linger() -> None:
    outbox, clock, sender = Outbox(linger=0.5), FakeClock(), Sender()
    leader = outbox.add(_parcel("a"), sender, clock.sleep)
    assert leader is not None
    assert outbox.add(_parcel("b"), sender, clock.sleep) is None  # rides along with a's
    assert outbox.add(_parcel("c"), sender, clock.sleep) is None
    assert await leader == 3 and clock.sleeps == [0.5]
    assert sender.sent == [["a", "b", "c"]]
    after = outbox.add(_parcel("d"), sender, clock.sleep)  # a new batch, led by d
    assert after is not None and await after == 1 and sender.sent[-1] == ["d"]


async def test_the_row_that_fills_a_batch_sends_it_at_once() -> None:
    outbox, clock, sender = Outbox(linger=0.5, max_rows=3), FakeClock(), Sender()
    leader = outbox.add(_parcel("a"), sender, clock.sleep)
    assert outbox.add(_parcel("b"), sender, clock.sleep) is None
    filler = outbox.add(_parcel("c"), sender, clock.sleep)
    assert leader is not None and filler is not None
    assert await filler == 3 and sender.sent == [["a", "b", "c"]]
    opened = outbox.add(_parcel("d"), sender, clock.sleep)  # the next batch opens meanwhile
    assert await leader is None  # its batch went with c; d's is not its to send
    assert sender.sent == [["a", "b", "c"]]
    assert opened is not None and await opened == 1 and sender.sent[-1] == ["d"]


async def test_a_batch_is_closed_by_its_bytes_too() -> None:
    outbox, clock, sender = Outbox(linger=0.5, max_bytes=100), FakeClock(), Sender()
    leader = outbox.add(_parcel("a", 60), sender, clock.sleep)
    filler = outbox.add(_parcel("b", 60), sender, clock.sleep)
    assert leader is not None and filler is not None
    assert await filler == 2 and await leader is None and sender.sent == [["a", "b"]]
