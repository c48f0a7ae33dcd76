"""The byte-bounded, expiring LRU store of cache entries."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from proxy.cache.store import PageStore, StoreStats


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Page:
    """A stored value whose size grows as compressed forms are added."""

    body: bytes
    compressed: dict[str, bytes] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return len(self.body) + sum(len(data) for data in self.compressed.values())


def page(size: int) -> Page:
    return Page(b"x" * size)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_store(
    clock: FakeClock, max_bytes: int = 1_000, max_entry_bytes: int | None = None
) -> PageStore[Page]:
    return PageStore(max_bytes, max_entry_bytes=max_entry_bytes or max_bytes, clock=clock)


def test_get_returns_what_was_put(clock: FakeClock) -> None:
    store = make_store(clock)
    value = page(10)
    assert store.put(("/a", "blue"), value, clock.now + 60)
    assert store.get(("/a", "blue")) is value
    assert store.get(("/a", "plain")) is None


def test_hits_and_misses_are_counted_in_get(clock: FakeClock) -> None:
    store = make_store(clock)
    store.put(("/a",), page(10), clock.now + 60)
    store.get(("/a",))
    store.get(("/a",))
    store.get(("/b",))
    stats = store.stats()
    assert (stats.hits, stats.misses, stats.stores) == (2, 1, 1)
    assert ("/a",) in store  # membership is not a lookup
    assert store.stats().hits == 2


def test_bytes_bound_evicts_least_recently_used(clock: FakeClock) -> None:
    store = make_store(clock, max_bytes=300)
    for name in ("/a", "/b", "/c"):
        store.put((name,), page(100), clock.now + 60)
    store.get(("/a",))  # /b is now the least recently used
    store.put(("/d",), page(100), clock.now + 60)
    assert ("/a",) in store
    assert ("/b",) not in store
    assert ("/c",) in store
    assert ("/d",) in store
    stats = store.stats()
    assert stats.evictions == 1
    assert stats.bytes_held == 300
    assert stats.entries == 3


def test_a_large_entry_evicts_as_many_as_needed(clock: FakeClock) -> None:
    store = make_store(clock, max_bytes=300)
    for name in ("/a", "/b", "/c"):
        store.put((name,), page(100), clock.now + 60)
    store.put(("/big",), page(250), clock.now + 60)
    assert [(name,) in store for name in ("/a", "/b", "/c", "/big")] == [
        False,
        False,
        False,
        True,
    ]
    assert store.stats().evictions == 3
    assert store.stats().bytes_held == 250


def test_entries_over_the_per_entry_limit_are_refused(clock: FakeClock) -> None:
    store = make_store(clock, max_bytes=1_000, max_entry_bytes=100)
    store.put(("/small",), page(50), clock.now + 60)
    assert store.put(("/edge",), page(100), clock.now + 60)
    assert not store.put(("/huge",), page(101), clock.now + 60)
    assert ("/huge",) not in store
    assert ("/small",) in store
    stats = store.stats()
    assert (stats.rejections, stats.evictions, stats.bytes_held) == (1, 0, 150)


def test_a_refused_replacement_removes_the_outdated_value(clock: FakeClock) -> None:
    store = make_store(clock, max_bytes=1_000, max_entry_bytes=100)
    store.put(("/a",), page(50), clock.now + 60)
    assert not store.put(("/a",), page(500), clock.now + 60)
    assert store.get(("/a",)) is None
    assert store.stats().bytes_held == 0


def test_default_entry_limit_is_a_share_of_the_store(clock: FakeClock) -> None:
    store: PageStore[Page] = PageStore(800, clock=clock)
    assert store.max_entry_bytes == 100
    assert not store.put(("/a",), page(101), clock.now + 60)


@pytest.mark.parametrize(
    ("max_bytes", "max_entry_bytes", "message"),
    [
        (0, None, "max_bytes must be positive, got 0"),
        (-5, None, "max_bytes must be positive, got -5"),
        (100, 0, "got 0"),
        (100, 101, "got 101"),
    ],
)
def test_bad_limits_are_refused_with_the_value(
    max_bytes: int, max_entry_bytes: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PageStore[Page](max_bytes, max_entry_bytes=max_entry_bytes)


def test_entries_expire_at_their_own_time(clock: FakeClock) -> None:
    store = make_store(clock)
    store.put(("/short",), page(10), clock.now + 10)
    store.put(("/long",), page(20), clock.now + 100)
    clock.advance(9.9)
    assert store.get(("/short",)) is not None
    clock.advance(0.1)
    assert store.get(("/short",)) is None
    assert store.get(("/long",)) is not None
    stats = store.stats()
    assert (stats.expirations, stats.entries, stats.bytes_held) == (1, 1, 20)


def test_expired_entries_stop_holding_bytes(clock: FakeClock) -> None:
    store = make_store(clock, max_bytes=300)
    store.put(("/old",), page(200), clock.now + 10)
    clock.advance(20)
    assert store.stats().bytes_held == 0
    # Room comes from the expired entry, so nothing live is evicted for the newcomer.
    store.put(("/live",), page(100), clock.now + 100)
    store.put(("/new",), page(200), clock.now + 100)
    assert ("/live",) in store
    assert store.stats().evictions == 0


def test_a_put_purges_expired_entries(clock: FakeClock) -> None:
    store = make_store(clock)
    store.put(("/old",), page(100), clock.now + 10)
    clock.advance(10)
    store.put(("/new",), page(1), clock.now + 10)
    stats = store.stats()
    assert (stats.expirations, stats.bytes_held) == (1, 1)


def test_already_expired_values_are_not_stored(clock: FakeClock) -> None:
    store = make_store(clock)
    assert not store.put(("/a",), page(10), clock.now)
    assert not store.put(("/b",), page(10), clock.now - 1)
    assert store.stats() == StoreStats(
        hits=0,
        misses=0,
        stores=0,
        evictions=0,
        expirations=0,
        invalidations=0,
        rejections=2,
        bytes_held=0,
        entries=0,
    )


def test_replacing_a_value_updates_bytes_and_expiry(clock: FakeClock) -> None:
    store = make_store(clock)
    store.put(("/a",), page(100), clock.now + 10)
    replacement = page(40)
    store.put(("/a",), replacement, clock.now + 100)
    clock.advance(50)
    assert store.get(("/a",)) is replacement
    assert store.stats().bytes_held == 40


def test_resize_reads_the_grown_size(clock: FakeClock) -> None:
    store = make_store(clock, max_bytes=300, max_entry_bytes=200)
    value = page(100)
    store.put(("/a",), value, clock.now + 60)
    store.put(("/b",), page(100), clock.now + 60)
    value.compressed["br"] = b"z" * 50
    assert store.stats().bytes_held == 200  # unchanged until told
    assert store.resize(("/a",))
    assert store.stats().bytes_held == 250
    assert store.stats().stores == 2  # a resize is not a new store


def test_resize_keeps_the_expiry(clock: FakeClock) -> None:
    store = make_store(clock)
    value = page(10)
    store.put(("/a",), value, clock.now + 60)
    value.compressed["gzip"] = b"z"
    store.resize(("/a",))
    clock.advance(60)
    assert store.get(("/a",)) is None


def test_resize_past_the_entry_limit_drops_the_entry(clock: FakeClock) -> None:
    store = make_store(clock, max_bytes=1_000, max_entry_bytes=120)
    value = page(100)
    store.put(("/a",), value, clock.now + 60)
    value.compressed["gzip"] = b"z" * 21
    assert not store.resize(("/a",))
    assert ("/a",) not in store
    assert store.stats().bytes_held == 0


def test_resize_that_needs_room_evicts_others(clock: FakeClock) -> None:
    store = make_store(clock, max_bytes=300)
    value = page(100)
    store.put(("/a",), value, clock.now + 60)
    store.put(("/b",), page(100), clock.now + 60)
    store.put(("/c",), page(100), clock.now + 60)
    value.compressed["br"] = b"z" * 100
    assert store.resize(("/a",))
    assert ("/a",) in store
    assert ("/b",) not in store
    assert store.stats().bytes_held == 300


def test_resize_of_a_missing_entry(clock: FakeClock) -> None:
    store = make_store(clock)
    assert not store.resize(("/nothing",))
    store.put(("/a",), page(10), clock.now + 1)
    clock.advance(1)
    assert not store.resize(("/a",))


def test_pop_removes_and_returns(clock: FakeClock) -> None:
    store = make_store(clock)
    value = page(10)
    store.put(("/a", "blue"), value, clock.now + 60)
    assert store.pop(("/a", "blue")) is value
    assert store.pop(("/a", "blue")) is None
    assert store.stats().bytes_held == 0
    # Its URL index entry went with it.
    assert store.invalidate_url("/a") == 0


def test_invalidate_url_removes_every_variant_of_one_url(clock: FakeClock) -> None:
    store = make_store(clock)
    for variant in ("plain", "blue-150", "bw-200"):
        store.put(("https://site.test/news", (), variant), page(10), clock.now + 60)
    store.put(("https://site.test/about", (), "plain"), page(10), clock.now + 60)
    assert store.invalidate_url("https://site.test/news") == 3
    assert store.get(("https://site.test/news", (), "blue-150")) is None
    assert store.get(("https://site.test/about", (), "plain")) is not None
    stats = store.stats()
    assert (stats.invalidations, stats.entries, stats.bytes_held) == (3, 1, 10)
    assert store.invalidate_url("https://site.test/news") == 0


def test_invalidate_url_counts_only_live_entries(clock: FakeClock) -> None:
    store = make_store(clock)
    store.put(("/a", "old"), page(10), clock.now + 5)
    store.put(("/a", "new"), page(10), clock.now + 50)
    clock.advance(10)
    assert store.invalidate_url("/a") == 1
    assert store.stats().expirations == 1


def test_url_index_forgets_evicted_and_expired_keys(clock: FakeClock) -> None:
    store = make_store(clock, max_bytes=100)
    store.put(("/a", 1), page(100), clock.now + 60)
    store.put(("/b", 1), page(100), clock.now + 5)  # evicts /a
    clock.advance(5)
    store.put(("/c", 1), page(10), clock.now + 60)  # purges /b
    assert store.invalidate_url("/a") == 0
    assert store.invalidate_url("/b") == 0
    stats = store.stats()
    assert (stats.evictions, stats.expirations, stats.invalidations) == (1, 1, 0)


def test_an_entry_evicted_by_its_own_replacement_stays_indexed(clock: FakeClock) -> None:
    store = make_store(clock, max_bytes=100)
    store.put(("/a", 1), page(60), clock.now + 60)
    store.put(("/b", 1), page(40), clock.now + 60)
    # Making room for the bigger /a first evicts the old /a (least recent), then /b.
    store.put(("/a", 1), page(90), clock.now + 60)
    assert store.get(("/a", 1)) is not None
    assert ("/b", 1) not in store
    assert store.stats().evictions == 2
    assert store.invalidate_url("/a") == 1
    assert store.stats().bytes_held == 0
