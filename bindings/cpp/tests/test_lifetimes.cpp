// Lifetimes: a Store and the Objects and UnsealedObjects made from it share
// the C handle, so an object may outlive its Store (or be kept after
// close()) and still be read, sealed or released. With a raw handle these
// were use-after-free (os_release on a closed os_store*), which
// AddressSanitizer reports; here they must work.
#include "support.hpp"

#include <cstring>
#include <optional>

using objstore::Object;
using objstore::ObjectId;
using objstore::Status;
using objstore::Store;
using objstore::UnsealedObject;
using objstore_test::fixed_id;
using objstore_test::StoreTest;
using objstore_test::text;

namespace {

/// A second handle on the test's store, to watch from outside.
Store watcher(const std::string& name) {
    auto s = Store::attach(name);
    EXPECT_TRUE(s) << s.error();
    return s ? std::move(s).value() : Store();
}

}  // namespace

TEST_F(StoreTest, AnObjectOutlivesItsStore) {
    ObjectId id = put_text("outlives the store");
    Store watch = watcher(name());
    std::optional<Object> kept;
    {
        Store short_lived = watcher(name());
        auto obj = short_lived.get(id);
        ASSERT_TRUE(obj) << obj.error();
        kept.emplace(std::move(obj).value());
    }  // short_lived is destroyed here; the object keeps the handle open
    EXPECT_EQ(text(kept->data()), "outlives the store");
    EXPECT_EQ(watch.stats().value().pinned_count, 1u) << "the pin is still held";
    ASSERT_TRUE(kept->release().ok());
    EXPECT_EQ(watch.stats().value().pinned_count, 0u);
}

TEST_F(StoreTest, AnObjectKeptAfterCloseStaysReadable) {
    ObjectId id = put_text("kept after close");
    Store watch = watcher(name());
    Object obj = store_.get(id).value();
    // close() with an object alive closes nothing yet, and says so by
    // succeeding; the Store is empty at once.
    ASSERT_TRUE(store_.close().ok());
    EXPECT_FALSE(store_);
    EXPECT_EQ(text(obj.data()), "kept after close");
    EXPECT_EQ(watch.pin_holders(id).value().size(), 1u);
    obj = Object();  // the last user: releases the pin, then closes the handle
    EXPECT_EQ(watch.pin_holders(id).value().size(), 0u);
    EXPECT_EQ(watch.stats().value().pinned_count, 0u);
}

TEST_F(StoreTest, AnUnsealedObjectCanBeSealedAfterItsStoreIsGone) {
    const ObjectId id = fixed_id(0x5e);
    Store watch = watcher(name());
    std::optional<UnsealedObject> pending;
    {
        Store short_lived = watcher(name());
        auto u = short_lived.create(id, 5);
        ASSERT_TRUE(u) << u.error();
        pending.emplace(std::move(u).value());
    }
    EXPECT_EQ(watch.stats().value().unsealed_count, 1u) << "not aborted with the Store";
    std::memcpy(pending->data().data(), "later", 5);
    ASSERT_TRUE(pending->seal().ok());
    EXPECT_EQ(text(watch.get(id, objstore::Timeout::no_wait()).value().data()), "later");
}

TEST_F(StoreTest, AnUnsealedObjectDroppedAfterItsStoreIsAborted) {
    const ObjectId id = fixed_id(0x5f);
    Store watch = watcher(name());
    {
        std::optional<UnsealedObject> pending;
        {
            Store short_lived = watcher(name());
            pending.emplace(short_lived.create(id, 5).value());
        }
        EXPECT_EQ(watch.stats().value().unsealed_count, 1u);
    }  // the last user of the handle: abort, then close
    EXPECT_EQ(watch.stats().value().unsealed_count, 0u);
    EXPECT_EQ(watch.get(id, objstore::Timeout::no_wait()).error().status(), Status::not_found);
}

TEST_F(StoreTest, GetManyEntriesOutliveTheStore) {
    std::vector<ObjectId> ids{put_text("one"), put_text("two")};
    std::vector<Object> objs;
    {
        Store short_lived = watcher(name());
        objs = short_lived.get_many(ids).value();
    }
    ASSERT_EQ(objs.size(), 2u);
    EXPECT_EQ(text(objs[0].data()), "one");
    EXPECT_EQ(text(objs[1].data()), "two");
    EXPECT_EQ(stats().pinned_count, 2u);
    objs.clear();
    EXPECT_EQ(stats().pinned_count, 0u);
}

TEST_F(StoreTest, MoveAssigningAStoreKeepsTheOldHandleForItsObjects) {
    ObjectId id = put_text("old handle");
    Store first = watcher(name());
    Object obj = first.get(id).value();
    first = watcher(name());  // the old handle's last user is now obj
    EXPECT_EQ(text(obj.data()), "old handle");
    EXPECT_EQ(stats().pinned_count, 1u);
    ASSERT_TRUE(obj.release().ok());
    EXPECT_EQ(stats().pinned_count, 0u);
}

TEST_F(StoreTest, CloseWithoutObjectsClosesAtOnceAndReportsIt) {
    Store other = watcher(name());
    os_store* raw = other.raw();
    ASSERT_NE(raw, nullptr);
    auto closed = other.close();
    EXPECT_TRUE(closed.ok()) << closed.error();
    EXPECT_EQ(other.raw(), nullptr);
    EXPECT_EQ(other.close().error().status(), Status::invalid_argument) << "closing an empty Store";
}
