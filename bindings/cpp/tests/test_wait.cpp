// Waiting: a get that waits for a seal made by another thread or another
// process, timeouts, and the fork() rule (a child opens the store again).
//
// These tests assert outcomes, never durations. A waiter may start waiting
// before or after the seal it waits for; both orders must give the sealed
// bytes, and the handshakes below make the waiting order the likely one.
// Waits that a failed assertion could leave hanging in this process are
// bounded (kLongWait) rather than forever; Timeout::forever() is used where
// the waiter is a child process, which the Child guard kills.
#include "support.hpp"

#include <cstring>
#include <future>
#include <thread>

using namespace std::chrono_literals;
using objstore::Object;
using objstore::ObjectId;
using objstore::Stats;
using objstore::Status;
using objstore::Store;
using objstore::Timeout;
using objstore_test::Child;
using objstore_test::fixed_id;
using objstore_test::Pipe;
using objstore_test::StoreTest;
using objstore_test::text;

namespace {

constexpr auto kLongWait = 60s;

/// Puts `payload` under `id` through create + write + seal.
objstore::Result<void> create_and_seal(const Store& store, const ObjectId& id, std::string_view payload,
                                       std::string_view meta = {}) {
    auto unsealed = store.create(id, payload.size(), objstore::as_bytes(meta));
    if (!unsealed) return unsealed.error();
    std::memcpy(unsealed->data().data(), payload.data(), payload.size());
    return unsealed->seal();
}

}  // namespace

TEST_F(StoreTest, NoTimeoutGivenWaitsForTheSeal) {
    // The default of every binding (README: "Defaults"): a get with no
    // timeout waits until the object is sealed. The waiter is a child, so
    // that a get that never returned could not hang the test process.
    const ObjectId id = fixed_id(0x62);
    Pipe waiting;
    ASSERT_TRUE(waiting.ok());
    Child reader([&] {
        auto store = Store::attach(name());
        if (!store) return 1;
        if (!waiting.send('w')) return 2;
        auto obj = store->get(id);  // no timeout given
        if (!obj) return obj.error().status() == Status::not_found ? 3 : 4;
        return text(obj->data()) == "sealed later" ? 0 : 5;
    });
    ASSERT_TRUE(reader.started());
    waiting.close_write();
    char c;
    ASSERT_TRUE(waiting.receive(c));
    std::this_thread::sleep_for(100ms);  // the reader is waiting, most likely
    ASSERT_TRUE(create_and_seal(store_, id, "sealed later").ok());
    EXPECT_EQ(reader.wait(), 0) << "3: the get did not wait";
}

TEST_F(StoreTest, TimeoutsOfAnAbsentObject) {
    const ObjectId absent = fixed_id(0x61);
    EXPECT_EQ(store_.get(absent, Timeout::no_wait()).error().status(), Status::not_found);
    EXPECT_EQ(store_.get(absent, 0ms).error().status(), Status::not_found);
    EXPECT_EQ(store_.get(absent, 10ms).error().status(), Status::timeout);
    EXPECT_EQ(store_.get(absent, 1us).error().status(), Status::timeout);  // rounded up, still a wait

    // A positive timeout that runs out while the object is created but not
    // sealed: still a timeout.
    auto unsealed = store_.create(absent, 4);
    ASSERT_TRUE(unsealed) << unsealed.error();
    EXPECT_EQ(store_.get(absent, 10ms).error().status(), Status::timeout);
}

TEST_F(StoreTest, GetWaitsForASealFromAnotherThread) {
    const ObjectId id = fixed_id(0x62);
    // The object exists, unsealed, before the reader starts: the reader
    // cannot succeed until the seal.
    auto unsealed = store_.create(id, 5, objstore::as_bytes("meta"));
    ASSERT_TRUE(unsealed) << unsealed.error();
    std::memcpy(unsealed->data().data(), "later", 5);

    std::promise<void> waiting;
    auto reader = std::async(std::launch::async, [&]() -> objstore::Result<Object> {
        waiting.set_value();
        return store_.get(id, kLongWait);  // a const Store shared between threads
    });
    waiting.get_future().wait();
    EXPECT_EQ(store_.get(id, Timeout::no_wait()).error().status(), Status::not_found);  // not visible before the seal
    ASSERT_TRUE(unsealed->seal().ok());

    auto obj = reader.get();
    ASSERT_TRUE(obj) << obj.error();
    EXPECT_EQ(text(obj->data()), "later");
    EXPECT_EQ(text(obj->meta()), "meta");
}

TEST_F(StoreTest, GetWaitsForAnIdNobodyHasCreatedYet) {
    const ObjectId id = fixed_id(0x63);
    std::promise<void> waiting;
    auto reader = std::async(std::launch::async, [&]() -> objstore::Result<Object> {
        waiting.set_value();
        return store_.get(id, kLongWait);
    });
    waiting.get_future().wait();
    auto writer = std::async(std::launch::async, [&] { return create_and_seal(store_, id, "from a thread"); });
    auto written = writer.get();
    ASSERT_TRUE(written.ok()) << written.error();
    auto obj = reader.get();
    ASSERT_TRUE(obj) << obj.error();
    EXPECT_EQ(text(obj->data()), "from a thread");
}

TEST_F(StoreTest, GetManyWaitsForTheMissingOnes) {
    std::vector<ObjectId> ids{put_text("present"), fixed_id(0x64), fixed_id(0x65)};
    std::promise<void> waiting;
    auto reader = std::async(std::launch::async, [&]() -> objstore::Result<std::vector<Object>> {
        waiting.set_value();
        return store_.get_many(ids, kLongWait);
    });
    waiting.get_future().wait();
    ASSERT_TRUE(create_and_seal(store_, ids[2], "third").ok());
    ASSERT_TRUE(create_and_seal(store_, ids[1], "second").ok());

    auto objs = reader.get();
    ASSERT_TRUE(objs) << objs.error();
    ASSERT_TRUE(objstore::all_present(*objs));
    EXPECT_EQ(text((*objs)[0].data()), "present");
    EXPECT_EQ(text((*objs)[1].data()), "second");
    EXPECT_EQ(text((*objs)[2].data()), "third");
}

TEST_F(StoreTest, ManyThreadsShareOneStore) {
    // const member functions are safe to call concurrently: each thread puts,
    // reads back, and removes its own objects through one Store.
    constexpr int kThreads = 4, kRounds = 200;
    std::vector<std::future<int>> workers;
    for (int t = 0; t < kThreads; ++t) {
        workers.push_back(std::async(std::launch::async, [this, t] {
            int bad = 0;
            for (int i = 0; i < kRounds; ++i) {
                std::string payload = std::to_string(t) + ":" + std::to_string(i);
                auto id = store_.put(objstore::as_bytes(payload));
                if (!id) return -1;
                auto obj = store_.get(*id);
                if (!obj || text(obj->data()) != payload) ++bad;
                *obj = Object();
                if (i % 2 == 0 && !store_.remove(*id).ok()) ++bad;
            }
            return bad;
        }));
    }
    for (auto& w : workers) EXPECT_EQ(w.get(), 0);
    Stats s = stats();
    EXPECT_EQ(s.object_count, static_cast<std::uint64_t>(kThreads * kRounds / 2));
    EXPECT_EQ(s.pinned_count, 0u);
}

TEST_F(StoreTest, ReaderProcessWaitsForASealInThisProcess) {
    const ObjectId id = fixed_id(0x66);
    Pipe attached;
    ASSERT_TRUE(attached.ok());
    Child reader([&] {
        // A child made by fork() opens the store again; it must not use the
        // parent's handle.
        auto store = Store::attach(name());
        if (!store) return 1;
        attached.send('a');
        auto obj = store->get(id, Timeout::forever());
        if (!obj) return 2;
        auto many = store->get_many(std::vector<ObjectId>{id, id}, Timeout::forever());
        if (!many || !objstore::all_present(*many)) return 4;
        if (text(obj->data()) != "from the parent" || text(obj->meta()) != "text") return 3;
        return 0;
    });
    ASSERT_TRUE(reader.started());
    attached.close_write();
    char c = 0;
    ASSERT_TRUE(attached.receive(c)) << "reader exited with " << reader.wait();

    auto sealed = create_and_seal(store_, id, "from the parent", "text");
    ASSERT_TRUE(sealed.ok()) << sealed.error();
    EXPECT_EQ(reader.wait(), 0);
    // The reader's pin died with it (its handle was closed on return).
    EXPECT_EQ(stats().pinned_count, 0u);
}

TEST_F(StoreTest, ThisProcessWaitsForASealInAChildProcess) {
    const ObjectId id = fixed_id(0x67);
    Pipe go;
    ASSERT_TRUE(go.ok());
    Child writer([&] {
        go.close_write();
        auto store = Store::attach(name());
        if (!store) return 1;
        char c = 0;
        if (!go.receive(c)) return 2;  // the parent is about to wait
        return create_and_seal(*store, id, "from the child", "child meta").ok() ? 0 : 3;
    });
    ASSERT_TRUE(writer.started());
    EXPECT_EQ(store_.get(id, Timeout::no_wait()).error().status(), Status::not_found);
    ASSERT_TRUE(go.send('g'));

    auto obj = store_.get(id, kLongWait);
    ASSERT_TRUE(obj) << obj.error();
    EXPECT_EQ(text(obj->data()), "from the child");
    EXPECT_EQ(text(obj->meta()), "child meta");
    EXPECT_EQ(writer.wait(), 0);
    // The object outlives the process that made it.
    ASSERT_TRUE(obj->release().ok());
    EXPECT_TRUE(store_.contains(id).value());
}

TEST_F(StoreTest, ForkedChildMustOpenTheStoreAgain) {
    ObjectId id = put_text("parent's");
    Child child([&] {
        int bad = 0;
        // The parent's handle, inherited by fork(), is refused.
        auto inherited = store_.get(id);
        if (inherited || inherited.error().status() != Status::invalid_argument) bad |= 1;
        auto inherited_put = store_.put(objstore::as_bytes("x"));
        if (inherited_put || inherited_put.error().status() != Status::invalid_argument) bad |= 2;
        // A handle of its own works.
        auto mine = Store::attach(name());
        if (!mine) return bad | 4;
        auto obj = mine->get(id);
        if (!obj || text(obj->data()) != "parent's") bad |= 8;
        auto child_stats = mine->stats();
        if (!child_stats || child_stats->attached_processes != 2) bad |= 16;
        return bad;
    });
    ASSERT_TRUE(child.started());
    EXPECT_EQ(child.wait(), 0);
    // The parent's handle is unaffected, and the child is gone.
    auto obj = store_.get(id);
    ASSERT_TRUE(obj) << obj.error();
    EXPECT_EQ(text(obj->data()), "parent's");
    EXPECT_EQ(stats().attached_processes, 1u);
}

TEST_F(StoreTest, CancellerEndsABlockedGetGetManyAndWait) {
    // Each call waits forever for an absent object on another thread, and
    // this thread cancels it. Cancelling may come before the call starts
    // waiting or after: both must end it with Status::cancelled.
    const ObjectId absent = fixed_id(0x63);
    const ObjectId present = put_text("here");
    objstore::Canceller stop;

    auto get = std::async(std::launch::async, [&] { return store_.get(absent, Timeout::forever(), stop); });
    std::this_thread::sleep_for(50ms);  // blocked by now, most likely
    ASSERT_TRUE(stop.cancel().ok());
    ASSERT_EQ(get.wait_for(kLongWait), std::future_status::ready) << "the cancelled get did not return";
    auto got = get.get();
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().status(), Status::cancelled);

    // It stays cancelled (cancel is idempotent): later waits end at once,
    // but an object that is there needs no wait and is got.
    ASSERT_TRUE(stop.cancel().ok());
    EXPECT_EQ(store_.get(absent, Timeout::forever(), stop).error().status(), Status::cancelled);
    auto here = store_.get(present, Timeout::forever(), stop);
    ASSERT_TRUE(here) << here.error();
    EXPECT_EQ(text(here->data()), "here");
    ASSERT_TRUE(here->release().ok());

    // get_many: cancelled is an error, and the object it had got is
    // released with the partial result.
    const std::vector<ObjectId> both{present, absent};
    ASSERT_TRUE(stop.reset().ok());
    auto many = std::async(std::launch::async, [&] { return store_.get_many(both, Timeout::forever(), stop); });
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(stop.cancel().ok());
    ASSERT_EQ(many.wait_for(kLongWait), std::future_status::ready) << "the cancelled get_many did not return";
    auto got_many = many.get();
    ASSERT_FALSE(got_many);
    EXPECT_EQ(got_many.error().status(), Status::cancelled);
    EXPECT_EQ(stats().pinned_count, 0u);  // the partial result released its object

    ASSERT_TRUE(stop.reset().ok());
    EXPECT_EQ(store_.wait(both, 2, 1ms, stop).value(), (std::vector<bool>{true, false}));  // re-armed: a timeout
    auto waited = std::async(std::launch::async, [&] { return store_.wait(both, 2, Timeout::forever(), stop); });
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(stop.cancel().ok());
    ASSERT_EQ(waited.wait_for(kLongWait), std::future_status::ready) << "the cancelled wait did not return";
    EXPECT_EQ(waited.get().error().status(), Status::cancelled);

    // A moved-from canceller is refused rather than ignored.
    objstore::Canceller moved = std::move(stop);
    EXPECT_TRUE(moved);
    EXPECT_FALSE(stop);  // NOLINT(bugprone-use-after-move): the moved-from state is what is tested
    EXPECT_EQ(store_.get(absent, Timeout::forever(), stop).error().status(), Status::invalid_argument);
}
