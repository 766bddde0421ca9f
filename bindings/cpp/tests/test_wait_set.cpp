// Wait sets: objects handed out in the order they are sealed, each once;
// batches, repeated IDs, timeouts, a Canceller from another thread, a set
// that outlives its Store, moves, and the failure modes (max 0, an empty
// set, an empty Store, the fork rule).
//
// As in test_wait.cpp, these tests assert outcomes, never durations, and
// bound with kLongWait the waits a failed assertion could leave hanging.
#include "support.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <future>
#include <limits>
#include <thread>

using namespace std::chrono_literals;
using objstore::ObjectId;
using objstore::Status;
using objstore::Store;
using objstore::Timeout;
using objstore::WaitSet;
using objstore_test::Child;
using objstore_test::fixed_id;
using objstore_test::Pipe;
using objstore_test::StoreTest;
using objstore_test::text;

namespace {

constexpr auto kLongWait = 60s;
using Indices = std::vector<std::size_t>;

/// IDs 0x70, 0x71, ... (chosen, so that the test seals them when it likes).
std::vector<ObjectId> ids_from(std::uint8_t first, std::size_t n) {
    std::vector<ObjectId> ids;
    for (std::size_t i = 0; i < n; ++i) ids.push_back(fixed_id(static_cast<std::uint8_t>(first + i)));
    return ids;
}

objstore::Result<void> seal(const Store& store, const ObjectId& id, std::string_view payload) {
    auto unsealed = store.create(id, payload.size());
    if (!unsealed) return unsealed.error();
    std::memcpy(unsealed->data().data(), payload.data(), payload.size());
    return unsealed->seal();
}

}  // namespace

TEST_F(StoreTest, WaitSetHandsOutInSealOrderEachOnce) {
    const std::vector<ObjectId> ids = ids_from(0x70, 5);
    auto made = store_.wait_set(ids);
    ASSERT_TRUE(made) << made.error();
    WaitSet set = std::move(made).value();
    EXPECT_TRUE(set);
    EXPECT_EQ(set.size(), 5u);
    EXPECT_EQ(set.remaining(), 5u);
    EXPECT_EQ(set.next(5, Timeout::no_wait()).error().status(), Status::timeout);

    std::size_t handed_out = 0;
    for (std::size_t i : Indices{3, 1, 4, 0, 2}) {
        ASSERT_TRUE(seal(store_, ids[i], "x").ok());
        auto got = set.next(5, kLongWait);
        ASSERT_TRUE(got) << got.error();
        EXPECT_EQ(*got, Indices{i}) << "after sealing object " << i;
        EXPECT_EQ(set.remaining(), 5u - ++handed_out);
    }
    // Everything handed out: an empty result, not an error, and no wait.
    for (int k = 0; k < 2; ++k) {
        auto none = set.next(1);
        ASSERT_TRUE(none) << none.error();
        EXPECT_TRUE(none->empty());
    }
}

TEST_F(StoreTest, WaitSetBatchesAndRepeatedIds) {
    std::vector<ObjectId> ids = ids_from(0x78, 4);
    for (std::size_t i = 0; i < 3; ++i) ASSERT_TRUE(seal(store_, ids[i], "x").ok());
    ids.push_back(ids[1]);  // handed out twice
    auto set = store_.wait_set(ids).value();  // finds the three sealed ones now

    Indices seen;
    for (int k = 0; k < 2; ++k) {
        auto got = set.next(2, Timeout::no_wait());
        ASSERT_TRUE(got) << got.error();
        EXPECT_EQ(got->size(), 2u);
        seen.insert(seen.end(), got->begin(), got->end());
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, (Indices{0, 1, 2, 4}));
    EXPECT_EQ(set.next(1, Timeout::no_wait()).error().status(), Status::timeout);

    ASSERT_TRUE(seal(store_, ids[3], "y").ok());
    auto last = set.next(std::numeric_limits<std::size_t>::max(), kLongWait);  // a huge max is fine
    ASSERT_TRUE(last) << last.error();
    EXPECT_EQ(*last, Indices{3});
    EXPECT_EQ(set.remaining(), 0u);
}

TEST_F(StoreTest, WaitSetWaitsForSealsFromAThreadAndAProcess) {
    const std::vector<ObjectId> ids = ids_from(0x80, 2);
    auto set = store_.wait_set(ids).value();

    std::promise<void> waiting;
    auto next = std::async(std::launch::async, [&] {
        waiting.set_value();
        return set.next(4, kLongWait);
    });
    waiting.get_future().wait();
    auto writer = std::async(std::launch::async, [&] { return seal(store_, ids[1], "from a thread"); });
    ASSERT_TRUE(writer.get().ok());
    auto got = next.get();
    ASSERT_TRUE(got) << got.error();
    EXPECT_EQ(*got, Indices{1});

    Pipe go;
    ASSERT_TRUE(go.ok());
    Child sealer([&] {
        go.close_write();
        auto store = Store::attach(name());
        if (!store) return 1;
        char c = 0;
        if (!go.receive(c)) return 2;  // the parent is about to wait
        return seal(*store, ids[0], "from the child").ok() ? 0 : 3;
    });
    ASSERT_TRUE(sealer.started());
    ASSERT_TRUE(go.send('g'));
    got = set.next(4, kLongWait);
    ASSERT_TRUE(got) << got.error();
    EXPECT_EQ(*got, Indices{0});
    EXPECT_EQ(sealer.wait(), 0);
    EXPECT_EQ(set.remaining(), 0u);
}

TEST_F(StoreTest, WaitSetTimeouts) {
    auto set = store_.wait_set(ids_from(0x88, 3)).value();
    EXPECT_EQ(set.next(1, 10ms).error().status(), Status::timeout);
    EXPECT_EQ(set.next(1, 1us).error().status(), Status::timeout);  // rounded up, still a wait
    // Not waiting is a timeout too for a set (os_wait_set_next), not
    // not_found as for a get.
    EXPECT_EQ(set.next(1, Timeout::no_wait()).error().status(), Status::timeout);
    EXPECT_EQ(set.next(1, 0ms).error().status(), Status::timeout);
    EXPECT_EQ(set.next(1, -5ms).error().status(), Status::timeout);
    EXPECT_EQ(set.remaining(), 3u);
}

TEST_F(StoreTest, CancellerEndsABlockedWaitSetNext) {
    const std::vector<ObjectId> ids = ids_from(0x90, 2);
    auto set = store_.wait_set(ids).value();
    objstore::Canceller stop;

    auto next = std::async(std::launch::async, [&] { return set.next(1, Timeout::forever(), stop); });
    std::this_thread::sleep_for(50ms);  // blocked by now, most likely; either order must work
    ASSERT_TRUE(stop.cancel().ok());
    ASSERT_EQ(next.wait_for(kLongWait), std::future_status::ready) << "the cancelled next did not return";
    auto got = next.get();
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().status(), Status::cancelled);
    EXPECT_EQ(set.remaining(), 2u);

    // Still cancelled: a next with nothing sealed ends at once, but one
    // with an object sealed needs no wait and hands it out.
    EXPECT_EQ(set.next(1, Timeout::forever(), stop).error().status(), Status::cancelled);
    ASSERT_TRUE(seal(store_, ids[1], "here").ok());
    got = set.next(1, Timeout::forever(), stop);
    ASSERT_TRUE(got) << got.error();
    EXPECT_EQ(*got, Indices{1});

    // Re-armed, the same canceller serves a wait that lasts: a timeout.
    ASSERT_TRUE(stop.reset().ok());
    EXPECT_EQ(set.next(1, 1ms, stop).error().status(), Status::timeout);

    // A moved-from canceller is refused rather than ignored.
    objstore::Canceller moved = std::move(stop);
    EXPECT_EQ(set.next(1, Timeout::forever(), stop).error().status(),  // NOLINT(bugprone-use-after-move)
              Status::invalid_argument);
    EXPECT_EQ(set.remaining(), 1u);
}

TEST_F(StoreTest, WaitSetOutlivesItsStore) {
    // The set keeps the mapping alive by itself: once its Store is closed,
    // a next() already waiting goes on waiting and is handed what another
    // handle seals, and later ones work too.
    const std::vector<ObjectId> ids = ids_from(0x98, 2);
    auto other = Store::attach(name());
    ASSERT_TRUE(other) << other.error();
    auto set = store_.wait_set(ids).value();

    std::promise<void> waiting;
    auto next = std::async(std::launch::async, [&] {
        waiting.set_value();
        return set.next(1, kLongWait);
    });
    waiting.get_future().wait();
    ASSERT_TRUE(store_.close().ok());  // the last owner of its handle: os_close now
    ASSERT_TRUE(seal(*other, ids[0], "after the close").ok());
    auto got = next.get();
    ASSERT_TRUE(got) << got.error();
    EXPECT_EQ(*got, Indices{0});

    ASSERT_TRUE(seal(*other, ids[1], "later still").ok());
    got = set.next(2, kLongWait);
    ASSERT_TRUE(got) << got.error();
    EXPECT_EQ(*got, Indices{1});
}

TEST_F(StoreTest, WaitSetMovesAndFailureModes) {
    const ObjectId present = put_text("here");
    auto set = store_.wait_set(std::vector<ObjectId>{present, fixed_id(0xa0)}).value();

    // max 0 is refused, and takes nothing.
    EXPECT_EQ(set.next(0, Timeout::no_wait()).error().status(), Status::invalid_argument);
    EXPECT_EQ(set.remaining(), 2u);

    // A move carries the set and its count; the moved-from one is empty and
    // refused as a NULL set is.
    WaitSet moved = std::move(set);
    EXPECT_FALSE(set);  // NOLINT(bugprone-use-after-move): the moved-from state is what is tested
    EXPECT_EQ(set.size(), 0u);
    EXPECT_EQ(set.next(1, Timeout::no_wait()).error().status(), Status::invalid_argument);
    ASSERT_TRUE(moved);
    EXPECT_EQ(moved.size(), 2u);
    EXPECT_EQ(moved.next(2, Timeout::no_wait()).value(), Indices{0});
    EXPECT_EQ(moved.remaining(), 1u);

    // Move-assignment frees the target's set first; a self-move keeps it.
    WaitSet target = store_.wait_set(std::vector<ObjectId>{present}).value();
    target = std::move(moved);
    EXPECT_EQ(target.size(), 2u);
    EXPECT_EQ(target.remaining(), 1u);
    WaitSet& alias = target;
    target = std::move(alias);
    ASSERT_TRUE(target);
    EXPECT_EQ(target.next(1, Timeout::no_wait()).error().status(), Status::timeout);

    WaitSet none;
    EXPECT_FALSE(none);
    EXPECT_EQ(none.next(1).error().status(), Status::invalid_argument);

    // A set of no IDs has nothing to hand out: empty at once.
    auto empty = store_.wait_set({}).value();
    EXPECT_EQ(empty.size(), 0u);
    auto nothing = empty.next(1);
    ASSERT_TRUE(nothing) << nothing.error();
    EXPECT_TRUE(nothing->empty());

    // An empty Store makes no set.
    EXPECT_EQ(Store().wait_set(std::vector<ObjectId>{present}).error().status(), Status::invalid_argument);
}

TEST_F(StoreTest, WaitSetBelongsToTheProcessThatMadeIt) {
    const ObjectId present = put_text("here");
    auto set = store_.wait_set(std::vector<ObjectId>{present}).value();
    Child child([&] {
        // The parent's set, inherited by fork(), is refused.
        auto inherited = set.next(1, Timeout::no_wait());
        if (inherited || inherited.error().status() != Status::invalid_argument) return 1;
        // A set made here, on a handle of the child's own, works.
        auto mine = Store::attach(name());
        if (!mine) return 2;
        auto own = mine->wait_set(std::vector<ObjectId>{present});
        if (!own) return 3;
        auto got = own->next(1, Timeout::no_wait());
        return got && *got == Indices{0} ? 0 : 4;
    });
    ASSERT_TRUE(child.started());
    EXPECT_EQ(child.wait(), 0);
    // The parent's set is unaffected.
    EXPECT_EQ(set.next(1, Timeout::no_wait()).value(), Indices{0});
}

TEST_F(StoreTest, WaitSetGrowsByAddedIds) {
    // Added IDs get indices from size() on: one sealed already is handed
    // out by the next next(), one sealed later by another thread wakes a
    // next() blocked after the set handed out all it held; an ID added
    // twice is handed out twice. An empty WaitSet refuses an add.
    const std::vector<ObjectId> ids = ids_from(0xb0, 4);
    auto set = store_.wait_set(objstore::Span<const ObjectId>(ids.data(), 1)).value();
    ASSERT_TRUE(seal(store_, ids[0], "first").ok());
    EXPECT_EQ(set.next(4, Timeout::no_wait()).value(), Indices{0});
    EXPECT_TRUE(set.next(4).value().empty());  // all handed out

    ASSERT_TRUE(seal(store_, ids[2], "before the add").ok());
    auto added = set.add(std::vector<ObjectId>{ids[1], ids[2], ids[3], ids[3]});
    ASSERT_TRUE(added) << added.error();
    EXPECT_EQ(set.size(), 5u);
    EXPECT_EQ(set.remaining(), 4u);
    EXPECT_EQ(set.next(4, Timeout::no_wait()).value(), Indices{2});

    std::promise<void> waiting;
    auto next = std::async(std::launch::async, [&] {
        waiting.set_value();
        return set.next(4, kLongWait);
    });
    waiting.get_future().wait();
    auto writer = std::async(std::launch::async, [&] { return seal(store_, ids[3], "from a thread"); });
    ASSERT_TRUE(writer.get().ok());
    auto got = next.get();
    ASSERT_TRUE(got) << got.error();
    EXPECT_EQ(*got, (Indices{3, 4}));
    EXPECT_EQ(set.remaining(), 1u);

    WaitSet none;
    EXPECT_EQ(none.add(ids).error().status(), Status::invalid_argument);
    EXPECT_EQ(none.size(), 0u);
}
