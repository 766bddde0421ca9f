// Ref and Ticket: a reference as an RAII value (os_ref / os_unref), moved
// between handles and processes as a Ticket (os_ref_give / os_ref_take). A
// REFCOUNTED object is freed exactly when its last Ref goes. The giver's
// side of tickets: counting them, waiting for their takes
// (os_tickets_outstanding, os_tickets_wait) and the linger at detach
// (os_options.ticket_linger_ms).
#include "support.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstring>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <utility>

using namespace std::chrono_literals;
using objstore::ObjectId;
using objstore::Ref;
using objstore::Status;
using objstore::Store;
using objstore::Ticket;
using objstore::Timeout;
using objstore_test::Child;
using objstore_test::fixed_id;
using objstore_test::Pipe;
using objstore_test::StoreTest;
using objstore_test::text;

namespace {

/// A bound for waits that a failed assertion could leave hanging.
constexpr auto kLongWait = 60s;

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

TEST_F(RefTest, AListingSaysReferencesAndFlags) {
    Ref counted = put_ref("counted");
    auto cached = store_.put(objstore::as_bytes("cached"), {}, OS_OBJECT_EVICTABLE);
    ASSERT_TRUE(cached) << cached.error();
    auto plain = store_.put(objstore::as_bytes("plain"));
    ASSERT_TRUE(plain) << plain.error();
    auto all = store_.list();
    ASSERT_TRUE(all) << all.error();
    auto find = [&](const ObjectId& id) {
        return *std::find_if(all->begin(), all->end(), [&](const objstore::ObjectInfo& i) { return i.id == id; });
    };
    EXPECT_EQ(find(counted.id()).flags, OS_OBJECT_REFCOUNTED);
    EXPECT_EQ(find(counted.id()).referencing_processes, 1u);
    EXPECT_EQ(find(*cached).flags, OS_OBJECT_EVICTABLE);
    EXPECT_EQ(find(*cached).referencing_processes, 0u);
    EXPECT_EQ(find(*plain).flags, 0u);
    EXPECT_EQ(find(*plain).referencing_processes, 0u);
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

TEST_F(RefTest, TicketsOutstandingCountsTheProcesssTicketsUntilTaken) {
    Store other = second_handle(name());
    EXPECT_EQ(store_.tickets_outstanding().value(), 0u);
    EXPECT_TRUE(store_.wait_tickets_taken(Timeout::no_wait())) << "none outstanding";
    Ref ref = put_ref("on its way");
    const Ticket ticket = ref.give().value();
    EXPECT_EQ(store_.tickets_outstanding().value(), 1u);
    EXPECT_EQ(other.tickets_outstanding().value(), 1u) << "the process's tickets, whichever handle gave them";
    for (Timeout timeout : {Timeout::no_wait(), Timeout(0ms), Timeout(1us), Timeout(20ms), Timeout(-1s)}) {
        auto waited = store_.wait_tickets_taken(timeout);
        ASSERT_FALSE(waited) << timeout.milliseconds() << " ms";
        EXPECT_EQ(waited.error().status(), Status::timeout) << waited.error();
        EXPECT_NE(waited.error().message().find("1 tickets"), std::string::npos) << waited.error();
    }
    auto taken = other.take_ticket(ticket);
    ASSERT_TRUE(taken) << taken.error();
    EXPECT_EQ(store_.tickets_outstanding().value(), 0u);
    EXPECT_TRUE(store_.wait_tickets_taken(Timeout::no_wait()));
    EXPECT_TRUE(store_.wait_tickets_taken()) << "no timeout given: none outstanding, returns at once";
}

TEST_F(RefTest, TakesFromAnotherThreadEndTheWaitForTickets) {
    Store other = second_handle(name());
    Ref a = put_ref("a");
    Ref b = put_ref("b");
    const Ticket ta = a.give().value();
    const Ticket tb = b.give().value();
    EXPECT_EQ(store_.tickets_outstanding().value(), 2u);
    std::optional<Ref> took_a, took_b;
    std::thread taker([&] {
        std::this_thread::sleep_for(30ms);
        if (auto r = other.take_ticket(ta)) took_a.emplace(std::move(r).value());
        std::this_thread::sleep_for(30ms);
        if (auto r = other.take_ticket(tb)) took_b.emplace(std::move(r).value());
    });
    auto waited = store_.wait_tickets_taken(kLongWait);
    auto left = store_.tickets_outstanding();
    taker.join();
    ASSERT_TRUE(waited) << waited.error();
    EXPECT_EQ(left.value(), 0u) << "returned after the last take";
    ASSERT_TRUE(took_a && took_b);
    took_a.reset();
    took_b.reset();
    EXPECT_FALSE(contains(ta.id));
    EXPECT_FALSE(contains(tb.id));
}

TEST_F(RefTest, ACancellerEndsTheWaitForTickets) {
    objstore::Canceller stop;
    ASSERT_TRUE(stop.cancel());
    EXPECT_TRUE(store_.wait_tickets_taken(Timeout::forever(), stop)) << "none outstanding: only a wait is cancelled";
    Ref ref = put_ref("kept waiting");
    const Ticket ticket = ref.give().value();
    auto at_once = store_.wait_tickets_taken(Timeout::forever(), stop);
    ASSERT_FALSE(at_once);
    EXPECT_EQ(at_once.error().status(), Status::cancelled) << "cancelled before the call";

    ASSERT_TRUE(stop.reset());
    std::promise<void> started;
    auto waiter = std::async(std::launch::async, [&] {
        started.set_value();
        return store_.wait_tickets_taken(kLongWait, stop);
    });
    started.get_future().wait();
    std::this_thread::sleep_for(20ms);  // waiting by now, most likely; either order must work
    ASSERT_TRUE(stop.cancel());
    auto cancelled = waiter.get();
    ASSERT_FALSE(cancelled);
    EXPECT_EQ(cancelled.error().status(), Status::cancelled) << cancelled.error();
    EXPECT_EQ(store_.tickets_outstanding().value(), 1u);

    objstore::Canceller moved = std::move(stop);
    EXPECT_EQ(store_.wait_tickets_taken(Timeout::no_wait(), stop).error().status(),  // NOLINT(bugprone-use-after-move)
              Status::invalid_argument)
        << "a moved-from canceller";
    Store none;
    EXPECT_EQ(none.tickets_outstanding().error().status(), Status::invalid_argument);
    EXPECT_EQ(none.wait_tickets_taken(Timeout::no_wait()).error().status(), Status::invalid_argument);
    EXPECT_EQ(none.wait_tickets_taken(Timeout::no_wait(), moved).error().status(), Status::invalid_argument);

    auto taken = store_.take_ticket(ticket);
    ASSERT_TRUE(taken) << taken.error();
    EXPECT_TRUE(store_.wait_tickets_taken(Timeout::forever(), moved));
}

TEST_F(RefTest, ATicketLingerOutOfRangeIsAnInvalidArgument) {
    objstore::Options options;
    options.ticket_linger = -1ms;
    EXPECT_EQ(Store::attach(name(), options).error().status(), Status::invalid_argument);
    options.ticket_linger = std::chrono::milliseconds(0x100000000LL);
    EXPECT_EQ(Store::attach(name(), options).error().status(), Status::invalid_argument);
    options.ticket_linger = std::chrono::hours(24 * 49);  // just below 2^32 ms
    auto lingering = Store::attach(name(), options);
    ASSERT_TRUE(lingering) << lingering.error();  // no ticket out: its close does not wait
    EXPECT_TRUE(lingering->close());
}

namespace {

/// A forked child that attaches with `options`, puts a REFCOUNTED object
/// holding `payload` and gives its reference; it sends the ticket's hex
/// form through `pipe`, then 'c', closes its Store (its only handle: the
/// detach, which waits for the take up to the linger), then 'd'.
int give_then_close(const std::string& name, const objstore::Options& options, Pipe& pipe,
                    std::string_view payload) {
    auto mine = Store::attach(name, options);
    if (!mine) return 1;
    auto ref = mine->put_ref(objstore::as_bytes(payload));
    if (!ref) return 2;
    auto ticket = ref->give();
    if (!ticket) return 3;
    for (char c : ticket->to_hex()) {
        if (!pipe.send(c)) return 4;
    }
    if (!pipe.send('c')) return 5;
    if (!mine->close()) return 6;
    return pipe.send('d') ? 0 : 7;
}

/// The ticket a give_then_close child sends (an empty optional if it does
/// not).
std::optional<Ticket> receive_ticket(Pipe& pipe) {
    std::string hex;
    char c;
    while (hex.size() < 2 * Ticket::size && pipe.receive(c)) hex += c;
    auto ticket = Ticket::from_hex(hex);
    return ticket ? std::optional<Ticket>(*ticket) : std::nullopt;
}

}  // namespace

TEST_F(RefTest, ADetachWaitsForItsTicketsUpToTheLinger) {
    Pipe pipe;
    ASSERT_TRUE(pipe.ok());
    objstore::Options options;
    options.ticket_linger = 30s;
    Child giver([&] { return give_then_close(name(), options, pipe, "kept by the linger"); });
    ASSERT_TRUE(giver.started());
    pipe.close_write();
    std::optional<Ticket> ticket = receive_ticket(pipe);
    ASSERT_TRUE(ticket);
    char c = 0;
    ASSERT_TRUE(pipe.receive(c));
    ASSERT_EQ(c, 'c');
    std::this_thread::sleep_for(200ms);  // without the linger the ticket would be gone by now
    EXPECT_EQ(stats().tickets, 1u) << "the closing giver keeps its ticket";
    const auto take_time = std::chrono::steady_clock::now();
    auto taken = store_.take_ticket(*ticket);
    ASSERT_TRUE(taken) << taken.error();
    EXPECT_EQ(text(store_.get(ticket->id, Timeout::no_wait()).value().data()), "kept by the linger");
    ASSERT_TRUE(pipe.receive(c));
    EXPECT_EQ(c, 'd');
    EXPECT_LT(std::chrono::steady_clock::now() - take_time, 20s) << "the take, not the 30 s linger, ended the detach";
    EXPECT_EQ(giver.wait(), 0);
    *taken = Ref();
    EXPECT_FALSE(contains(ticket->id)) << "the taker's reference was the last";
}

TEST_F(RefTest, WithoutALingerADetachDropsItsTickets) {
    Pipe pipe;
    ASSERT_TRUE(pipe.ok());
    Child giver([&] { return give_then_close(name(), objstore::Options{}, pipe, "goes with its giver"); });
    ASSERT_TRUE(giver.started());
    pipe.close_write();
    std::optional<Ticket> ticket = receive_ticket(pipe);
    ASSERT_TRUE(ticket);
    char c = 0;
    ASSERT_TRUE(pipe.receive(c));
    ASSERT_EQ(c, 'c');
    ASSERT_TRUE(pipe.receive(c));
    ASSERT_EQ(c, 'd');  // the giver's close is back
    EXPECT_EQ(giver.wait(), 0);
    auto taken = store_.take_ticket(*ticket);
    ASSERT_FALSE(taken);
    EXPECT_EQ(taken.error().status(), Status::not_found);
    EXPECT_FALSE(contains(ticket->id));
    EXPECT_EQ(stats().tickets, 0u);
}
