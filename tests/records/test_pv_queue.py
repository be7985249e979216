"""The PV queue on the database (SQLite and PostgreSQL): each case's state at a moment, the
filters, the order (most urgent state, earliest due, case id) and paging that neither repeats
nor skips a case."""

from __future__ import annotations

from datetime import timedelta

from records import CaseSnapshot, DeliverySnapshot, Records
from records.results import CaseState, QueueFilter
from tests.records.test_records import T0, case_document

NOW = T0 + timedelta(hours=30)


async def _case(
    records: Records, case_id: str, due_in_h: int, *, product: str = "XX药", serious: bool = False
) -> None:
    due = NOW + timedelta(hours=due_in_h)
    document = case_document(
        case_id,
        status="submitted",
        due_at=due.isoformat(),
        products=[{"name": product}],
        seriousness=["hospitalisation"] if serious else None,
    )
    await records.save_case(CaseSnapshot.from_document(document))


async def _seeded(records: Records) -> None:
    await _case(records, "AE-A", -6)  # acknowledged (though past due)
    await _case(records, "AE-B", 10)  # dead-lettered
    await _case(records, "AE-D", -1)  # overdue
    await _case(records, "AE-C", -2)  # overdue, due earlier
    await _case(records, "AE-E", 5)  # delivered, awaiting acknowledgement
    await _case(records, "AE-G", 8, product="诺拉维")  # new
    await _case(records, "AE-F", 8, product="Noravex 片", serious=True)  # new, same due as G
    await records.acknowledge_case("AE-A", by="pv1", at=T0, via="console")
    dead = DeliverySnapshot(T0, {}, 8, "webhook: HTTP 502", T0 + timedelta(hours=1), None)
    await records.save_delivery("AE-B", dead, T0)
    done = {"archive": T0}
    await records.save_delivery("AE-E", DeliverySnapshot(T0, done, 0, None, None, T0), T0)


async def test_states_order_and_counts(records: Records) -> None:
    await _seeded(records)
    queue = await records.pv_queue(QueueFilter(), now=NOW, limit=50)
    assert [(e.summary.case_id, e.state) for e in queue.page.items] == [
        ("AE-B", CaseState.DEAD),
        ("AE-C", CaseState.OVERDUE),
        ("AE-D", CaseState.OVERDUE),
        ("AE-E", CaseState.AWAITING),
        ("AE-F", CaseState.NEW),
        ("AE-G", CaseState.NEW),
        ("AE-A", CaseState.ACKED),
    ]
    assert queue.counts == {
        CaseState.DEAD: 1,
        CaseState.OVERDUE: 2,
        CaseState.AWAITING: 1,
        CaseState.NEW: 2,
        CaseState.ACKED: 1,
    }
    assert queue.all_cases == queue.page.total == 7
    later = await records.pv_queue(QueueFilter(CaseState.OVERDUE), now=NOW + timedelta(hours=6))
    assert [e.summary.case_id for e in later.page.items] == ["AE-C", "AE-D", "AE-E"]
    assert later.counts[CaseState.AWAITING] == 0  # AE-E fell due meanwhile


async def test_filters_each_and_with_their_negation(records: Records) -> None:
    await _seeded(records)

    async def ids(wanted: QueueFilter) -> list[str]:
        return [e.summary.case_id for e in (await records.pv_queue(wanted, now=NOW)).page.items]

    assert await ids(QueueFilter(CaseState.DEAD)) == ["AE-B"]
    assert await ids(QueueFilter(CaseState.ACKED)) == ["AE-A"]
    assert await ids(QueueFilter(serious=True)) == ["AE-F"]
    assert "AE-F" in await ids(QueueFilter(serious=False))  # off: every case, serious or not
    assert await ids(QueueFilter(product="noravex")) == ["AE-F"]  # any case, a part of the name
    assert await ids(QueueFilter(product="诺拉")) == ["AE-G"]
    assert await ids(QueueFilter(product="%")) == []  # a LIKE wildcard is a plain character
    assert await ids(QueueFilter(CaseState.NEW, serious=True, product="noravex")) == ["AE-F"]
    assert await ids(QueueFilter(CaseState.OVERDUE, serious=True)) == []


async def test_pages_neither_repeat_nor_skip(records: Records) -> None:
    await _seeded(records)
    whole = await records.pv_queue(QueueFilter(), now=NOW, limit=50)
    paged: list[str] = []
    for offset in range(0, 7, 2):
        page = await records.pv_queue(QueueFilter(), now=NOW, offset=offset, limit=2)
        assert page.page.total == 7
        paged += [e.summary.case_id for e in page.page.items]
    assert paged == [e.summary.case_id for e in whole.page.items]
