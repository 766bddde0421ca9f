// Objects: put and get with metadata, zero copy and alignment, pins held by
// Object (RAII, moves), create / seal / abort through UnsealedObject,
// remove, contains, get_many, and every error status the C API documents.
#include "support.hpp"

#include <cstring>
#include <numeric>

using namespace std::chrono_literals;
using objstore::Object;
using objstore::ObjectId;
using objstore::Options;
using objstore::Stats;
using objstore::Status;
using objstore::Store;
using objstore::UnsealedObject;
using objstore_test::fixed_id;
using objstore_test::ScopedStoreName;
using objstore_test::StoreTest;
using objstore_test::text;
using objstore_test::unique_store_name;

namespace {

bool aligned64(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }

}  // namespace

TEST_F(StoreTest, PutAndGetRoundTripWithMetadata) {
    std::vector<float> tensor(1000);
    std::iota(tensor.begin(), tensor.end(), 0.5f);
    const std::string meta = "float32 10,100";
    auto id = store_.put(objstore::as_bytes(tensor), objstore::as_bytes(meta));
    ASSERT_TRUE(id) << id.error();
    EXPECT_NE(*id, ObjectId());

    auto obj = store_.get(*id);
    ASSERT_TRUE(obj) << obj.error();
    EXPECT_TRUE(*obj);
    EXPECT_EQ(obj->id(), *id);
    ASSERT_EQ(obj->size(), tensor.size() * sizeof(float));
    ASSERT_EQ(obj->data().size(), tensor.size() * sizeof(float));
    EXPECT_EQ(std::memcmp(obj->data().data(), tensor.data(), obj->size()), 0);
    EXPECT_EQ(text(obj->meta()), meta);

    // Fresh IDs are distinct.
    auto other = store_.put(objstore::as_bytes(tensor));
    ASSERT_TRUE(other) << other.error();
    EXPECT_NE(*other, *id);
    auto plain = store_.get(*other);
    ASSERT_TRUE(plain) << plain.error();
    EXPECT_TRUE(plain->meta().empty());
}

TEST_F(StoreTest, ZeroLengthObject) {
    auto id = store_.put({});
    ASSERT_TRUE(id) << id.error();
    auto obj = store_.get(*id);
    ASSERT_TRUE(obj) << obj.error();
    EXPECT_TRUE(*obj);  // present, pinned, and empty
    EXPECT_EQ(obj->size(), 0u);
    EXPECT_TRUE(obj->data().empty());
    EXPECT_NE(obj->data().data(), nullptr);
}

TEST_F(StoreTest, GetIsZeroCopyAndAligned) {
    for (std::size_t size : {std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{65}, std::size_t{4096},
                             std::size_t{1} << 20}) {
        SCOPED_TRACE(size);
        const ObjectId id = fixed_id(static_cast<std::uint8_t>(size % 251));
        auto unsealed = store_.create(id, size);
        ASSERT_TRUE(unsealed) << unsealed.error();
        std::byte* written = unsealed->data().data();
        EXPECT_TRUE(aligned64(written));
        std::memset(written, 0x5a, size);
        ASSERT_TRUE(unsealed->seal().ok());

        auto first = store_.get(id);
        auto second = store_.get(id);
        ASSERT_TRUE(first && second);
        // Readers see the very bytes the writer wrote: no copy at seal or get.
        EXPECT_EQ(first->data().data(), written);
        EXPECT_EQ(second->data().data(), written);
        EXPECT_TRUE(aligned64(first->data().data()));
        EXPECT_EQ(first->data()[size - 1], std::byte{0x5a});
        // Through another handle: aligned, the same bytes.
        auto other = Store::attach(name());
        ASSERT_TRUE(other) << other.error();
        auto via_other = other->get(id);
        ASSERT_TRUE(via_other) << via_other.error();
        EXPECT_TRUE(aligned64(via_other->data().data()));
        EXPECT_EQ(std::memcmp(via_other->data().data(), written, size), 0);
        ASSERT_TRUE(store_.remove(id).ok());
    }
}

TEST_F(StoreTest, ObjectReleasesItsPinWhenDestroyed) {
    ObjectId id = put_text("pinned");
    {
        auto obj = store_.get(id);
        ASSERT_TRUE(obj) << obj.error();
        EXPECT_EQ(stats().pinned_count, 1u);
        {
            auto again = store_.get(id);  // a second pin on the same object
            ASSERT_TRUE(again) << again.error();
        }
        // One pin left: removing it now is deferred, the bytes stay.
        ASSERT_TRUE(store_.remove(id).ok());
        EXPECT_EQ(stats().pinned_count, 1u);
        EXPECT_EQ(text(obj->data()), "pinned");
    }
    Stats s = stats();
    EXPECT_EQ(s.pinned_count, 0u);
    EXPECT_EQ(s.object_count, 0u);
    EXPECT_EQ(s.used_bytes, 0u);  // freed at the last release
}

TEST_F(StoreTest, ExplicitReleaseEmptiesTheObject) {
    ObjectId id = put_text("released");
    auto obj = store_.get(id);
    ASSERT_TRUE(obj) << obj.error();
    auto released = obj->release();
    EXPECT_TRUE(released.ok()) << released.error();
    EXPECT_FALSE(*obj);
    EXPECT_TRUE(obj->data().empty());
    EXPECT_TRUE(obj->meta().empty());
    EXPECT_EQ(stats().pinned_count, 0u);
    EXPECT_TRUE(obj->release().ok());  // releasing an empty Object does nothing
    EXPECT_EQ(stats().pinned_count, 0u);
}

TEST_F(StoreTest, MovingAnObjectMovesItsPin) {
    ObjectId x = put_text("x"), y = put_text("y");
    Object a = store_.get(x).value();
    const std::byte* where = a.data().data();

    Object b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_TRUE(a.data().empty());
    EXPECT_TRUE(b);
    EXPECT_EQ(b.data().data(), where);
    EXPECT_EQ(b.id(), x);
    EXPECT_EQ(stats().pinned_count, 1u);

    // Move-assigning over a pinned Object releases its old pin.
    Object c = store_.get(y).value();
    EXPECT_EQ(stats().pinned_count, 2u);
    c = std::move(b);
    EXPECT_EQ(stats().pinned_count, 1u);
    EXPECT_EQ(text(c.data()), "x");
    EXPECT_TRUE(store_.remove(y).ok());  // y is not pinned any more: freed at once
    EXPECT_EQ(stats().object_count, 1u);

    Object& alias = c;
    c = std::move(alias);  // self-move keeps the pin
    EXPECT_TRUE(c);
    EXPECT_EQ(stats().pinned_count, 1u);

    // In a vector that reallocates, every pin moves along, none is dropped.
    std::vector<Object> many;
    for (int i = 0; i < 100; ++i) many.push_back(store_.get(x).value());
    EXPECT_EQ(stats().pinned_count, 1u);  // one object, pinned 101 times
    many.clear();
    c = Object();
    EXPECT_EQ(stats().pinned_count, 0u);
}

TEST_F(StoreTest, RemovedObjectKeepsItsBytesAndIdWhilePinned) {
    ObjectId id = put_text("still here");
    auto obj = store_.get(id);
    ASSERT_TRUE(obj) << obj.error();
    ASSERT_TRUE(store_.remove(id).ok());

    EXPECT_FALSE(store_.contains(id).value());
    EXPECT_EQ(store_.get(id, objstore::Timeout::no_wait()).error().status(), Status::not_found);
    EXPECT_EQ(store_.remove(id).error().status(), Status::not_found);
    EXPECT_EQ(store_.create(id, 4).error().status(), Status::already_exists);  // reserved until released
    EXPECT_EQ(text(obj->data()), "still here");

    *obj = Object();
    auto reused = store_.create(id, 4);
    EXPECT_TRUE(reused) << reused.error();
}

TEST_F(StoreTest, CreateSealAndGet) {
    const ObjectId id = fixed_id(0xab);
    auto unsealed = store_.create(id, 1000, objstore::as_bytes("m"));
    ASSERT_TRUE(unsealed) << unsealed.error();
    EXPECT_TRUE(*unsealed);
    EXPECT_EQ(unsealed->id(), id);
    ASSERT_EQ(unsealed->size(), 1000u);
    ASSERT_EQ(unsealed->data().size(), 1000u);
    for (std::size_t i = 0; i < 1000; ++i) unsealed->data()[i] = std::byte(static_cast<unsigned char>(i));

    // Unsealed: invisible to gets and contains, not removable.
    EXPECT_EQ(store_.get(id, objstore::Timeout::no_wait()).error().status(), Status::not_found);
    EXPECT_FALSE(store_.contains(id).value());
    EXPECT_EQ(store_.remove(id).error().status(), Status::not_sealed);
    EXPECT_EQ(stats().unsealed_count, 1u);

    auto sealed = unsealed->seal();
    ASSERT_TRUE(sealed.ok()) << sealed.error();
    EXPECT_FALSE(*unsealed);
    EXPECT_TRUE(unsealed->data().empty());

    auto obj = store_.get(id);
    ASSERT_TRUE(obj) << obj.error();
    ASSERT_EQ(obj->size(), 1000u);
    for (std::size_t i = 0; i < 1000; ++i) ASSERT_EQ(obj->data()[i], std::byte(static_cast<unsigned char>(i)));
    EXPECT_EQ(text(obj->meta()), "m");
    EXPECT_EQ(stats().unsealed_count, 0u);
    EXPECT_EQ(stats().object_count, 1u);

    // A finished UnsealedObject refuses a second seal or abort without
    // touching the store (the ID may name another object by then).
    auto twice = unsealed->seal();
    ASSERT_FALSE(twice);
    EXPECT_EQ(twice.error().status(), Status::invalid_argument);
    EXPECT_EQ(unsealed->abort().error().status(), Status::invalid_argument);
    EXPECT_TRUE(store_.contains(id).value());

    // The ID is taken now.
    EXPECT_EQ(store_.create(id, 10).error().status(), Status::already_exists);
}

TEST_F(StoreTest, AbortDropsTheObject) {
    const ObjectId id = fixed_id(0xcd);
    auto unsealed = store_.create(id, 100);
    ASSERT_TRUE(unsealed) << unsealed.error();
    auto aborted = unsealed->abort();
    ASSERT_TRUE(aborted.ok()) << aborted.error();
    EXPECT_FALSE(*unsealed);
    EXPECT_EQ(stats().unsealed_count, 0u);
    EXPECT_EQ(stats().used_bytes, 0u);
    EXPECT_FALSE(store_.contains(id).value());
    auto again = store_.create(id, 100);  // the ID is free again
    EXPECT_TRUE(again) << again.error();
}

TEST_F(StoreTest, UnsealedObjectAbortsWhenDestroyed) {
    const ObjectId id = fixed_id(0xef);
    {
        auto unsealed = store_.create(id, 100);
        ASSERT_TRUE(unsealed) << unsealed.error();
        EXPECT_EQ(stats().unsealed_count, 1u);
    }
    EXPECT_EQ(stats().unsealed_count, 0u);
    EXPECT_EQ(stats().used_bytes, 0u);
    auto again = store_.create(id, 100);
    EXPECT_TRUE(again) << again.error();
}

TEST_F(StoreTest, MovingAnUnsealedObjectMovesTheDutyToSeal) {
    const ObjectId id = fixed_id(0x12);
    UnsealedObject a = store_.create(id, 8).value();
    std::byte* where = a.data().data();
    UnsealedObject b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
    EXPECT_TRUE(a.data().empty());
    EXPECT_EQ(b.data().data(), where);
    a = UnsealedObject();  // destroying the moved-from one aborts nothing
    EXPECT_EQ(stats().unsealed_count, 1u);
    std::memcpy(b.data().data(), "8 bytes!", 8);

    // Move-assigning over a pending one aborts it.
    UnsealedObject c = store_.create(fixed_id(0x13), 8).value();
    EXPECT_EQ(stats().unsealed_count, 2u);
    c = std::move(b);
    EXPECT_EQ(stats().unsealed_count, 1u);
    EXPECT_FALSE(store_.contains(fixed_id(0x13)).value());
    ASSERT_TRUE(c.seal().ok());
    EXPECT_EQ(text(store_.get(id).value().data()), "8 bytes!");
}

TEST_F(StoreTest, ContainsDoesNotPin) {
    ObjectId id = put_text("here");
    auto present = store_.contains(id);
    ASSERT_TRUE(present.ok()) << present.error();
    EXPECT_TRUE(present.value());
    EXPECT_FALSE(store_.contains(fixed_id(0x77)).value());
    EXPECT_EQ(stats().pinned_count, 0u);
}

TEST_F(StoreTest, ErrorStatuses) {
    const ObjectId absent = fixed_id(0x99);

    auto not_found = store_.get(absent, objstore::Timeout::no_wait());
    ASSERT_FALSE(not_found);
    EXPECT_EQ(not_found.error().status(), Status::not_found);
    EXPECT_NE(not_found.error().message().find(absent.to_hex()), std::string::npos) << not_found.error();
    EXPECT_EQ(store_.get(absent, 0ms).error().status(), Status::not_found);
    EXPECT_EQ(store_.remove(absent).error().status(), Status::not_found);

    auto timed_out = store_.get(absent, 20ms);
    ASSERT_FALSE(timed_out);
    EXPECT_EQ(timed_out.error().status(), Status::timeout);
    EXPECT_FALSE(timed_out.error().message().empty());

    ObjectId id = put_text("exists");
    EXPECT_EQ(store_.create(id, 1).error().status(), Status::already_exists);

    auto unsealed = store_.create(fixed_id(0x55), 1);
    ASSERT_TRUE(unsealed) << unsealed.error();
    EXPECT_EQ(store_.remove(fixed_id(0x55)).error().status(), Status::not_sealed);

    std::vector<std::byte> too_big(kCapacity + 1);
    auto too_large = store_.put(too_big);
    ASSERT_FALSE(too_large);
    EXPECT_EQ(too_large.error().status(), Status::too_large);
    EXPECT_EQ(store_.create(fixed_id(0x56), kCapacity + 1).error().status(), Status::too_large);
    EXPECT_EQ(stats().object_count, 1u);  // nothing half-made
}

TEST_F(StoreTest, SmallStoreRunsOutOfMemory) {
    ScopedStoreName small_name(unique_store_name("small"));
    Options options;
    options.capacity_bytes = 2u << 20;
    auto small = Store::create_new(small_name.str(), options);
    ASSERT_TRUE(small) << small.error();

    std::vector<std::byte> chunk(100000, std::byte{0x3c});
    std::vector<ObjectId> stored;
    objstore::Result<ObjectId> put = ObjectId();
    while ((put = small->put(chunk)).ok()) {
        stored.push_back(*put);
        ASSERT_LT(stored.size(), 1000u) << "a 2 MiB store took 100 MB";
    }
    EXPECT_EQ(put.error().status(), Status::out_of_memory);
    EXPECT_NE(put.error().message().find("full"), std::string::npos) << put.error();
    EXPECT_GE(stored.size(), 10u);

    // Nothing stored was dropped to make room, and removing one makes room.
    for (const ObjectId& id : stored) {
        auto obj = small->get(id);
        ASSERT_TRUE(obj) << obj.error();
        ASSERT_EQ(obj->size(), chunk.size());
        EXPECT_EQ(std::memcmp(obj->data().data(), chunk.data(), chunk.size()), 0);
    }
    ASSERT_TRUE(small->remove(stored.front()).ok());
    auto after = small->put(chunk);
    EXPECT_TRUE(after) << after.error();
}

TEST_F(StoreTest, GetManyAllPresent) {
    std::vector<ObjectId> ids{put_text("a"), put_text("bb"), put_text("ccc")};
    auto objs = store_.get_many(ids, 1s);
    ASSERT_TRUE(objs) << objs.error();
    ASSERT_EQ(objs->size(), 3u);
    EXPECT_TRUE(objstore::all_present(*objs));
    EXPECT_EQ(text((*objs)[0].data()), "a");
    EXPECT_EQ(text((*objs)[1].data()), "bb");
    EXPECT_EQ(text((*objs)[2].data()), "ccc");
    EXPECT_EQ((*objs)[2].id(), ids[2]);
    EXPECT_EQ(stats().pinned_count, 3u);
    objs->clear();
    EXPECT_EQ(stats().pinned_count, 0u);

    auto none = store_.get_many({});
    ASSERT_TRUE(none) << none.error();
    EXPECT_TRUE(none->empty());
}

TEST_F(StoreTest, GetManyReturnsPartialResults) {
    const ObjectId missing = fixed_id(0x77);
    std::vector<ObjectId> ids{put_text("a"), missing, put_text("bb")};

    // Timeout 0 (C: OS_NOT_FOUND) and a positive timeout (C: OS_TIMEOUT)
    // both give the present objects, pinned, and empty entries for the rest.
    for (objstore::Timeout timeout : {objstore::Timeout::no_wait(), objstore::Timeout(20ms)}) {
        SCOPED_TRACE(timeout.milliseconds());
        auto objs = store_.get_many(ids, timeout);
        ASSERT_TRUE(objs) << objs.error();
        ASSERT_EQ(objs->size(), 3u);
        EXPECT_FALSE(objstore::all_present(*objs));
        EXPECT_TRUE((*objs)[0]);
        EXPECT_FALSE((*objs)[1]);
        EXPECT_EQ((*objs)[1].id(), missing);
        EXPECT_TRUE((*objs)[1].data().empty());
        EXPECT_TRUE((*objs)[2]);
        EXPECT_EQ(text((*objs)[2].data()), "bb");
        EXPECT_EQ(stats().pinned_count, 2u);
    }
    EXPECT_EQ(stats().pinned_count, 0u);  // released with the vectors
}

TEST_F(StoreTest, GetManyPinsARepeatedIdOncePerEntry) {
    ObjectId id = put_text("twice");
    auto objs = store_.get_many(std::vector<ObjectId>{id, id});
    ASSERT_TRUE(objs) << objs.error();
    ASSERT_EQ(objs->size(), 2u);
    EXPECT_EQ((*objs)[0].data().data(), (*objs)[1].data().data());
    (*objs)[0] = Object();
    ASSERT_TRUE(store_.remove(id).ok());
    EXPECT_EQ(text((*objs)[1].data()), "twice");  // still pinned by the second entry
    EXPECT_EQ(stats().pinned_count, 1u);
    (*objs)[1] = Object();
    EXPECT_EQ(stats().pinned_count, 0u);
    EXPECT_EQ(stats().used_bytes, 0u);
}

TEST_F(StoreTest, GetManyOnAnEmptyHandleIsAnError) {
    Store empty;
    std::vector<ObjectId> ids{put_text("a")};
    auto objs = empty.get_many(ids);
    ASSERT_FALSE(objs);
    EXPECT_EQ(objs.error().status(), Status::invalid_argument);
    EXPECT_EQ(stats().pinned_count, 0u);
}
