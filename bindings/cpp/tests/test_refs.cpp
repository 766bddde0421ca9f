// Ref and Ticket: a reference as an RAII value (os_ref / os_unref), moved
// between handles and processes as a Ticket (os_ref_give / os_ref_take). A
// REFCOUNTED object is freed exactly when its last Ref goes.
#include "support.hpp"

#include <array>
#include <cctype>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

using objstore::ObjectId;
using objstore::Ref;
using objstore::Status;
using objstore::Store;
using objstore::Ticket;
using objstore_test::Child;
using objstore_test::fixed_id;
using objstore_test::StoreTest;
using objstore_test::text;

namespace {

/// A second handle on the test's store.
Store second_handle(const std::string& name) {
    auto s = Store::attach(name);
    EXPECT_TRUE(s) << s.error();
    return s ? std::move(s).value() : Store();
}

}  // namespace

class RefTest : public StoreTest {
protected:
    /// A new REFCOUNTED object holding `text_`, as its first reference.
    Ref put_ref(std::string_view text_) const {
        auto r = store_.put_ref(objstore::as_bytes(text_));
        EXPECT_TRUE(r) << r.error();
        return r ? std::move(r).value() : Ref();
    }

    bool contains(const ObjectId& id) const {
        auto c = store_.contains(id);
        EXPECT_TRUE(c.ok()) << c.error();
        return c.ok() && *c;
    }
};

TEST_F(RefTest, DestroyingTheLastRefFreesARefcountedObject) {
    ObjectId id;
    {
        Ref ref = put_ref("frees itself");
        ASSERT_TRUE(ref);
        id = ref.id();
        EXPECT_TRUE(contains(id));
        EXPECT_EQ(text(store_.get(id, objstore::Timeout::no_wait()).value().data()), "frees itself");
        EXPECT_EQ(stats().references, 1u);
    }
    EXPECT_FALSE(contains(id));
    EXPECT_EQ(stats().object_count, 0u);
    EXPECT_EQ(stats().references, 0u);
}

TEST_F(RefTest, PutRefAddsFlagsAndRefusesUnknownOnes) {
    auto evictable = store_.put_ref(objstore::as_bytes("cache"), objstore::as_bytes("meta"), OS_OBJECT_EVICTABLE);
    ASSERT_TRUE(evictable) << evictable.error();
    EXPECT_EQ(text(store_.get(evictable->id()).value().meta()), "meta");
    auto bad = store_.put_ref(objstore::as_bytes("x"), {}, 1u << 9);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().status(), Status::invalid_argument);
    ObjectId id = evictable->id();
    ASSERT_TRUE(evictable->unref());
    EXPECT_FALSE(*evictable);
    EXPECT_FALSE(contains(id));
    EXPECT_TRUE(evictable->unref()) << "unref() of an empty Ref is a no-op";
}

TEST_F(RefTest, AMoveKeepsExactlyOneReference) {
    Ref a = put_ref("moved");
    const ObjectId id = a.id();
    std::optional<Ref> b;
    b.emplace(std::move(a));
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): a moved-from Ref is empty
    EXPECT_EQ(a.id(), id) << "the id is kept";
    ASSERT_TRUE(*b);
    a = Ref();  // destroying the moved-from one does nothing
    EXPECT_TRUE(contains(id));

    // Move-assigning over a live Ref drops the reference it held first.
    Ref c = put_ref("overwritten");
    const ObjectId c_id = c.id();
    c = std::move(*b);
    EXPECT_FALSE(contains(c_id));
    EXPECT_TRUE(contains(id));
    b.reset();
    EXPECT_TRUE(contains(id));

    Ref& alias = c;
    c = std::move(alias);  // a self-move keeps the reference
    EXPECT_TRUE(c);
    EXPECT_TRUE(contains(id));

    // The last owner frees it: the moves neither added a reference nor
    // dropped one.
    c = Ref();
    EXPECT_FALSE(contains(id));
}

TEST_F(RefTest, CloneTakesAnotherReference) {
    Ref a = put_ref("cloned");
    const ObjectId id = a.id();
    auto b = a.clone();
    ASSERT_TRUE(b) << b.error();
    EXPECT_EQ(b->id(), id);
    a = Ref();
    EXPECT_TRUE(contains(id)) << "the clone still holds it";
    *b = Ref();
    EXPECT_FALSE(contains(id));
}

TEST_F(RefTest, ReleaseLeavesTheObjectReferenced) {
    Ref ref = put_ref("released");
    ObjectId id = ref.release();
    EXPECT_FALSE(ref);
    EXPECT_EQ(id, ref.id());
    ref = Ref();
    EXPECT_TRUE(contains(id)) << "release() dropped the reference";
    ASSERT_TRUE(store_.unref(id));  // by hand, as C code would
    EXPECT_FALSE(contains(id));

    // adopt_ref() takes a handle's reference back into a Ref.
    Ref again = put_ref("adopted");
    id = again.release();
    {
        Ref adopted = store_.adopt_ref(id);
        EXPECT_TRUE(adopted);
        EXPECT_TRUE(contains(id));
    }
    EXPECT_FALSE(contains(id));
    EXPECT_EQ(store_.unref(id).error().status(), Status::not_found) << "unref'd once, by the adopted Ref";

    // ... as the first reference of a created REFCOUNTED object.
    auto made = store_.create(nullptr, 3, {}, OS_OBJECT_REFCOUNTED);
    ASSERT_TRUE(made) << made.error();
    std::memcpy(made->data().data(), "new", 3);
    id = made->id();
    ASSERT_TRUE(made->seal());
    { Ref first = store_.adopt_ref(id); }
    EXPECT_FALSE(contains(id));
}

TEST_F(RefTest, GiveAndTakeInTheSameHandle) {
    Ref ref = put_ref("given to myself");
    const ObjectId id = ref.id();
    auto ticket = ref.give();
    ASSERT_TRUE(ticket) << ticket.error();
    EXPECT_FALSE(ref) << "give() empties the Ref";
    EXPECT_EQ(ticket->id, id);
    EXPECT_EQ(stats().tickets, 1u);
    EXPECT_TRUE(contains(id)) << "the ticket holds the reference";
    auto taken = store_.take_ticket(*ticket);
    ASSERT_TRUE(taken) << taken.error();
    EXPECT_EQ(taken->id(), id);
    EXPECT_EQ(stats().tickets, 0u);
    *taken = Ref();
    EXPECT_FALSE(contains(id));
}

TEST_F(RefTest, GiveAndTakeInAnotherHandleThroughBytes) {
    Store other = second_handle(name());
    Ref ref = put_ref("across handles");
    const ObjectId id = ref.id();
    std::array<std::byte, Ticket::size> wire = ref.give().value().to_bytes();
    ref = Ref();
    EXPECT_TRUE(contains(id));

    auto ticket = Ticket::from_bytes(wire);
    ASSERT_TRUE(ticket) << ticket.error();
    auto taken = other.take_ticket(*ticket);
    ASSERT_TRUE(taken) << taken.error();
    EXPECT_EQ(text(other.get(id).value().data()), "across handles");
    EXPECT_EQ(store_.unref(id).error().status(), Status::not_found) << "the giver's handle holds none now";
    *taken = Ref();
    EXPECT_FALSE(contains(id));
}

TEST_F(RefTest, GiveAndTakeInAnotherProcess) {
    Ref ref = put_ref("across processes");
    const ObjectId id = ref.id();
    const std::string wire = ref.give().value().to_hex();
    Child child([&] {
        auto mine = Store::attach(name());  // a forked child opens the store itself
        if (!mine) return 1;
        auto ticket = Ticket::from_hex(wire);
        if (!ticket) return 2;
        auto taken = mine->take_ticket(*ticket);
        if (!taken) return 3;
        auto obj = mine->get(taken->id());
        if (!obj || text(obj->data()) != "across processes") return 4;
        return 0;  // the Ref drops the reference here, the Store then closes
    });
    ASSERT_TRUE(child.started());
    EXPECT_EQ(child.wait(), 0);
    EXPECT_FALSE(contains(id)) << "the taker's reference was the last";
    EXPECT_EQ(stats().tickets, 0u);
}

TEST_F(RefTest, ATicketIsTakenOnce) {
    Store other = second_handle(name());
    Ref ref = put_ref("once");
    Ticket ticket = ref.give().value();
    Ticket wrong = ticket;
    wrong.value ^= 1;
    auto refused = other.take_ticket(wrong);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().status(), Status::not_found);

    auto first = other.take_ticket(ticket);
    ASSERT_TRUE(first) << first.error();
    auto second = store_.take_ticket(ticket);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().status(), Status::not_found);
    auto third = other.take_ticket(ticket);
    ASSERT_FALSE(third);
    EXPECT_EQ(third.error().status(), Status::not_found);
    EXPECT_TRUE(contains(ticket.id)) << "the failed takes did not drop the taken reference";
}

TEST_F(RefTest, ARefOutlivesItsStore) {
    Store watch = second_handle(name());
    std::optional<Ref> kept;
    {
        Store short_lived = second_handle(name());
        auto r = short_lived.put_ref(objstore::as_bytes("outlives the store"));
        ASSERT_TRUE(r) << r.error();
        kept.emplace(std::move(r).value());
    }  // short_lived is destroyed here; the Ref keeps the handle open
    const ObjectId id = kept->id();
    EXPECT_TRUE(watch.contains(id).value()) << "the handle and its reference are still there";
    auto clone = kept->clone();
    ASSERT_TRUE(clone) << clone.error();
    *clone = Ref();
    EXPECT_TRUE(watch.contains(id).value());
    kept.reset();  // unref, then the handle closes
    EXPECT_FALSE(watch.contains(id).value());

    // The same after close(): the Store is empty at once, the Ref works on.
    Ref ref = store_.put_ref(objstore::as_bytes("kept after close")).value();
    const ObjectId id2 = ref.id();
    ASSERT_TRUE(store_.close());
    EXPECT_FALSE(store_);
    EXPECT_TRUE(watch.contains(id2).value());
    ASSERT_TRUE(ref.unref());
    EXPECT_FALSE(watch.contains(id2).value());
}

TEST_F(RefTest, ARefToAnAbsentOrDeletedObjectFails) {
    auto absent = store_.new_ref(fixed_id(0x77));
    ASSERT_FALSE(absent);
    EXPECT_EQ(absent.error().status(), Status::not_found);

    ObjectId id = put_text("deleted");
    ASSERT_TRUE(store_.remove(id));
    auto deleted = store_.new_ref(id);
    ASSERT_FALSE(deleted);
    EXPECT_EQ(deleted.error().status(), Status::not_found);

    // A ticket for an object that is gone (its last reference dropped).
    auto ticket = store_.take_ticket(Ticket{id, 12345});
    ASSERT_FALSE(ticket);
    EXPECT_EQ(ticket.error().status(), Status::not_found);

    // new_ref() of a plain object: it is not freed when the Ref goes.
    ObjectId plain = put_text("plain");
    {
        auto r = store_.new_ref(plain);
        ASSERT_TRUE(r) << r.error();
        EXPECT_EQ(stats().referenced_count, 1u);
    }
    EXPECT_TRUE(contains(plain));
    EXPECT_EQ(stats().referenced_count, 0u);
}

TEST_F(RefTest, AnEmptyRefOrStoreIsAnInvalidArgument) {
    Ref empty;
    EXPECT_FALSE(empty);
    EXPECT_EQ(empty.give().error().status(), Status::invalid_argument);
    EXPECT_EQ(empty.clone().error().status(), Status::invalid_argument);
    EXPECT_TRUE(empty.unref());

    Ref given = put_ref("given");
    ASSERT_TRUE(given.give());
    auto again = given.give();
    ASSERT_FALSE(again) << "a Ref gives its reference once";
    EXPECT_EQ(again.error().status(), Status::invalid_argument);

    Store none;
    EXPECT_EQ(none.put_ref(objstore::as_bytes("x")).error().status(), Status::invalid_argument);
    EXPECT_EQ(none.new_ref(fixed_id(1)).error().status(), Status::invalid_argument);
    EXPECT_EQ(none.take_ticket(Ticket{}).error().status(), Status::invalid_argument);
    EXPECT_FALSE(none.adopt_ref(fixed_id(1)));
}

TEST(Ticket, BinaryAndHexForms) {
    Ticket t{fixed_id(0xab), 0x0102030405060708u};
    std::array<std::byte, Ticket::size> bytes = t.to_bytes();
    static_assert(Ticket::size == 28);
    EXPECT_EQ(bytes[0], std::byte{0xab});
    EXPECT_EQ(bytes[20], std::byte{0x08}) << "the number is little-endian";
    EXPECT_EQ(bytes[27], std::byte{0x01});
    EXPECT_EQ(Ticket::from_bytes(bytes).value(), t);

    std::string hex = t.to_hex();
    std::string expected;
    for (int i = 0; i < 20; ++i) expected += "ab";
    expected += "0807060504030201";
    EXPECT_EQ(hex, expected) << "the hex of the binary form";
    EXPECT_EQ(Ticket::from_hex(hex).value(), t);
    for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(Ticket::from_hex(hex).value(), t);

    EXPECT_EQ(Ticket::from_bytes(objstore::Span<const std::byte>(bytes.data(), 27)).error().status(),
              Status::invalid_argument);
    EXPECT_EQ(Ticket::from_hex(hex.substr(1)).error().status(), Status::invalid_argument);
    hex[5] = 'g';
    EXPECT_EQ(Ticket::from_hex(hex).error().status(), Status::invalid_argument);
    EXPECT_NE(t, Ticket{});
}
