// Store: opening (create or attach, attach only, create only), options,
// destroy, close, move semantics, stats, listing, collect.
#include "support.hpp"

#include <algorithm>

#include <sys/stat.h>

using namespace std::chrono_literals;
using objstore::ObjectId;
using objstore::ObjectState;
using objstore::Options;
using objstore::Stats;
using objstore::Status;
using objstore::Store;
using objstore_test::Child;
using objstore_test::fixed_id;
using objstore_test::Pipe;
using objstore_test::ScopedStoreName;
using objstore_test::StoreTest;
using objstore_test::text;
using objstore_test::unique_store_name;

TEST_F(StoreTest, OpenAttachesToAnExistingStoreAndSharesObjects) {
    ObjectId id = put_text("shared");

    auto second = Store::open(name());
    ASSERT_TRUE(second) << second.error();
    auto obj = second->get(id);
    ASSERT_TRUE(obj) << obj.error();
    EXPECT_EQ(text(obj->data()), "shared");

    auto attached = Store::attach(name());
    ASSERT_TRUE(attached) << attached.error();
    EXPECT_TRUE(attached->contains(id).value());

    // Capacity comes from the file, not from an attacher's options.
    Options other;
    other.capacity_bytes = 64u << 20;
    auto third = Store::open(name(), other);
    ASSERT_TRUE(third) << third.error();
    EXPECT_EQ(third->stats().value().capacity_bytes, kCapacity);
    // Handles of one process share one attachment.
    EXPECT_EQ(stats().attached_processes, 1u);
}

TEST_F(StoreTest, AttachToAMissingStoreIsNotFound) {
    ScopedStoreName missing(unique_store_name("missing"));
    auto store = Store::attach(missing.str());
    ASSERT_FALSE(store);
    EXPECT_EQ(store.error().status(), Status::not_found);
    EXPECT_FALSE(store.error().message().empty());
    // ...and did not create it.
    EXPECT_EQ(Store::destroy(missing.str()).error().status(), Status::not_found);
}

TEST_F(StoreTest, CreateNewRefusesAnExistingStore) {
    auto again = Store::create_new(name());
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().status(), Status::already_exists);
    EXPECT_NE(again.error().message().find("already exists"), std::string::npos) << again.error();
}

TEST_F(StoreTest, OptionsReachTheStore) {
    ScopedStoreName other(unique_store_name("options"));
    Options options;
    options.capacity_bytes = 8u << 20;
    options.max_objects = 1000;
    options.max_processes = 17;
    options.prefault = true;
    auto store = Store::create_new(other.str(), options);
    ASSERT_TRUE(store) << store.error();
    auto s = store->stats();
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->capacity_bytes, 8u << 20);
    EXPECT_EQ(s->max_objects, 1000u);
    EXPECT_EQ(s->max_processes, 17u);

    // Defaults are the C library's: 256 processes, mode 0600.
    EXPECT_EQ(stats().max_processes, 256u);
    struct stat sb {};
    ASSERT_EQ(::stat(("/dev/shm/" + name()).c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 07777, 0600u);
}

TEST_F(StoreTest, ModeAndPathStores) {
    // A name with a '/' is a file path.
    ScopedStoreName path("/tmp/" + unique_store_name("path"));
    Options options;
    options.capacity_bytes = 1u << 20;
    options.mode = 0640;
    auto store = Store::create_new(path.str(), options);
    ASSERT_TRUE(store) << store.error();
    struct stat sb {};
    ASSERT_EQ(::stat(path.str().c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 07777, 0640u);
}

TEST_F(StoreTest, BadOptionsAreInvalidArguments) {
    ScopedStoreName other(unique_store_name("bad"));
    Options options;
    options.max_processes = 100000;  // more than the 4096 allowed
    auto store = Store::open(other.str(), options);
    ASSERT_FALSE(store);
    EXPECT_EQ(store.error().status(), Status::invalid_argument);
    auto empty_name = Store::open("");
    ASSERT_FALSE(empty_name);
    EXPECT_EQ(empty_name.error().status(), Status::invalid_argument);
}

TEST_F(StoreTest, DestroyRemovesTheStore) {
    ObjectId id = put_text("gone");
    store_ = Store();
    ASSERT_TRUE(Store::destroy(name()).ok());
    EXPECT_NE(::access(("/dev/shm/" + name()).c_str(), F_OK), 0);
    auto again = Store::destroy(name());
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().status(), Status::not_found);
    EXPECT_EQ(Store::attach(name()).error().status(), Status::not_found);

    // The next open makes a new, empty store.
    auto fresh = Store::open(name());
    ASSERT_TRUE(fresh) << fresh.error();
    EXPECT_FALSE(fresh->contains(id).value());
}

TEST_F(StoreTest, CloseIsExplicitAndLeavesAnEmptyHandle) {
    ASSERT_TRUE(store_);
    auto closed = store_.close();
    EXPECT_TRUE(closed.ok()) << closed.error();
    EXPECT_FALSE(store_);
    EXPECT_EQ(store_.raw(), nullptr);
    // An empty handle gets the C API's answer to a NULL handle.
    auto put = store_.put(objstore::as_bytes("x"));
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().status(), Status::invalid_argument);
    EXPECT_EQ(store_.get(fixed_id(1)).error().status(), Status::invalid_argument);
    EXPECT_EQ(store_.close().error().status(), Status::invalid_argument);
}

TEST_F(StoreTest, MoveTransfersTheHandle) {
    ObjectId id = put_text("moved");
    os_store* raw = store_.raw();

    Store moved = std::move(store_);
    EXPECT_EQ(moved.raw(), raw);
    EXPECT_FALSE(store_);
    EXPECT_EQ(store_.get(id).error().status(), Status::invalid_argument);
    EXPECT_EQ(text(moved.get(id).value().data()), "moved");

    // Move-assigning over an open Store closes its old handle, which
    // releases that handle's pins. Pin through the C API on the old handle
    // so that no Object is left pointing at it.
    auto other = Store::open(name());
    ASSERT_TRUE(other) << other.error();
    os_buffer buf;
    ASSERT_EQ(os_get(other->raw(), &id.raw(), 0, &buf), static_cast<os_status>(OS_OK));
    EXPECT_EQ(moved.stats().value().pinned_count, 1u);
    *other = std::move(moved);
    EXPECT_FALSE(moved);
    EXPECT_EQ(other->raw(), raw);
    EXPECT_EQ(other->stats().value().pinned_count, 0u);

    // Self-move leaves it intact.
    Store& alias = *other;
    *other = std::move(alias);
    EXPECT_EQ(other->raw(), raw);
    store_ = std::move(*other);
}

TEST_F(StoreTest, StatsCountObjects) {
    Stats before = stats();
    EXPECT_EQ(before.capacity_bytes, kCapacity);
    EXPECT_EQ(before.object_count, 0u);
    EXPECT_EQ(before.used_bytes, 0u);

    ObjectId a = put_text("aaaa");
    put_text("bbbbbbbb");
    put_text("c");
    auto unsealed = store_.create(fixed_id(9), 100);
    ASSERT_TRUE(unsealed) << unsealed.error();
    auto pinned = store_.get(a);
    ASSERT_TRUE(pinned) << pinned.error();

    Stats s = stats();
    EXPECT_EQ(s.object_count, 3u);
    EXPECT_EQ(s.unsealed_count, 1u);
    EXPECT_EQ(s.pinned_count, 1u);
    EXPECT_GT(s.used_bytes, 0u);
    EXPECT_EQ(s.attached_processes, 1u);
    EXPECT_EQ(s.spilled_count, 0u);
}

TEST_F(StoreTest, ListReportsEveryObjectWithItsState) {
    std::vector<ObjectId> sealed;
    for (int i = 0; i < 5; ++i) {
        std::string data(static_cast<std::size_t>(10 * (i + 1)), 'x');
        auto id = store_.put(objstore::as_bytes(data), objstore::as_bytes(std::string(static_cast<std::size_t>(i), 'm')));
        ASSERT_TRUE(id) << id.error();
        sealed.push_back(*id);
    }
    auto unsealed = store_.create(fixed_id(0x31), 3);
    ASSERT_TRUE(unsealed) << unsealed.error();
    // Removed while pinned: listed as deleted until the pin goes.
    auto pinned = store_.get(sealed[4]);
    ASSERT_TRUE(pinned) << pinned.error();
    ASSERT_TRUE(store_.remove(sealed[4]).ok());

    auto all = store_.list();
    ASSERT_TRUE(all) << all.error();
    ASSERT_EQ(all->size(), 6u);
    auto find = [&](const ObjectId& id) {
        return std::find_if(all->begin(), all->end(), [&](const objstore::ObjectInfo& i) { return i.id == id; });
    };
    for (int i = 0; i < 4; ++i) {
        auto it = find(sealed[static_cast<std::size_t>(i)]);
        ASSERT_NE(it, all->end());
        EXPECT_EQ(it->state, ObjectState::sealed);
        EXPECT_EQ(it->data_len, static_cast<std::uint64_t>(10 * (i + 1)));
        EXPECT_EQ(it->meta_len, static_cast<std::uint64_t>(i));
        EXPECT_GT(it->created_unix, 1600000000u);
    }
    EXPECT_EQ(find(fixed_id(0x31))->state, ObjectState::unsealed);
    EXPECT_EQ(find(sealed[4])->state, ObjectState::deleted);
    EXPECT_EQ(find(sealed[4])->pinning_processes, 1u);

    // In batches through a cursor: the same objects.
    std::vector<ObjectId> batched;
    objstore::ListCursor cursor;
    int calls = 0;
    while (!cursor.done()) {
        ASSERT_LT(++calls, 1000000);
        auto batch = store_.list(cursor, 2);
        ASSERT_TRUE(batch) << batch.error();
        EXPECT_LE(batch->size(), 2u);
        for (const auto& info : *batch) batched.push_back(info.id);
    }
    std::vector<ObjectId> listed;
    for (const auto& info : *all) listed.push_back(info.id);
    std::sort(batched.begin(), batched.end());
    std::sort(listed.begin(), listed.end());
    EXPECT_EQ(batched, listed);

    objstore::ListCursor zero;
    auto empty_batch = store_.list(zero, 0);
    ASSERT_FALSE(empty_batch);
    EXPECT_EQ(empty_batch.error().status(), Status::invalid_argument);
}

TEST_F(StoreTest, CollectReclaimsWhatADeadProcessHeld) {
    ObjectId id = put_text("pinned by a child");
    const ObjectId half_written = fixed_id(0x42);
    Pipe ready;
    ASSERT_TRUE(ready.ok());
    Child child([&] {
        // A child made by fork() opens the store again.
        auto store = Store::attach(name());
        if (!store) return 1;
        auto obj = store->get(id);
        auto unsealed = store->create(half_written, 4096);
        if (!obj || !unsealed) return 2;
        ready.send('r');
        ::pause();  // dies holding both, killed by the parent
        return 3;
    });
    ASSERT_TRUE(child.started());
    ready.close_write();  // so that a child that fails early gives EOF, not a hang
    char c = 0;
    ASSERT_TRUE(ready.receive(c)) << "child exited with " << child.wait();
    EXPECT_EQ(stats().pinned_count, 1u);
    EXPECT_EQ(stats().unsealed_count, 1u);
    EXPECT_EQ(stats().attached_processes, 2u);

    ::kill(child.pid(), SIGKILL);
    EXPECT_EQ(child.wait(), 128 + SIGKILL);
    auto collected = store_.collect();
    ASSERT_TRUE(collected.ok()) << collected.error();

    Stats s = stats();
    EXPECT_EQ(s.pinned_count, 0u);
    EXPECT_EQ(s.unsealed_count, 0u);
    EXPECT_EQ(s.attached_processes, 1u);
    EXPECT_GE(s.reclaimed_processes, 1u);
    // The object itself is intact, and the aborted one's ID is free again.
    EXPECT_EQ(text(store_.get(id).value().data()), "pinned by a child");
    auto again = store_.create(half_written, 10);
    EXPECT_TRUE(again) << again.error();
}
