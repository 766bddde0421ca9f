// The value types, which need no store: ObjectId, Span and as_bytes,
// Timeout, Status, Error and Result.
#include "support.hpp"

#include <array>
#include <map>
#include <set>
#include <sstream>
#include <unordered_set>

using namespace std::chrono_literals;
using objstore::ObjectId;
using objstore::Result;
using objstore::Span;
using objstore::Status;
using objstore::Timeout;
using objstore_test::fixed_id;

namespace {

ObjectId counting_id() {
    std::array<std::byte, ObjectId::size> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(static_cast<unsigned char>(i * 17));
    return ObjectId(bytes);
}

}  // namespace

TEST(ObjectId, DefaultIsAllZero) {
    ObjectId id;
    EXPECT_EQ(id.to_hex(), std::string(40, '0'));
    EXPECT_EQ(id, fixed_id(0));
}

TEST(ObjectId, HexRoundTrip) {
    ObjectId id = counting_id();
    EXPECT_EQ(id.to_hex(), "00112233445566778899aabbccddeeff10213243");

    auto back = ObjectId::from_hex(id.to_hex());
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, id);

    auto upper = ObjectId::from_hex("00112233445566778899AABBCCDDEEFF10213243");
    ASSERT_TRUE(upper) << upper.error();
    EXPECT_EQ(*upper, id);
}

TEST(ObjectId, FromHexTakesAViewThatIsNotNulTerminated) {
    // The first 40 characters of a longer string: the wrapper must not read
    // past the view's end.
    std::string longer = "00112233445566778899aabbccddeeff10213243ffffffff";
    auto id = ObjectId::from_hex(std::string_view(longer).substr(0, 40));
    ASSERT_TRUE(id) << id.error();
    EXPECT_EQ(*id, counting_id());
}

TEST(ObjectId, FromHexRejectsBadInput) {
    for (std::string_view bad : {std::string_view("abc"), std::string_view(), std::string_view(""),
                                 std::string_view("00112233445566778899aabbccddeeff102132430"),
                                 std::string_view("zz112233445566778899aabbccddeeff00112233"),
                                 std::string_view("00112233445566778899aabbccddeeff0011223\0", 40)}) {
        auto id = ObjectId::from_hex(bad);
        ASSERT_FALSE(id) << "accepted '" << bad << "'";
        EXPECT_EQ(id.error().status(), Status::invalid_argument);
        EXPECT_FALSE(id.error().message().empty());
    }
    auto short_hex = ObjectId::from_hex("abc");
    ASSERT_FALSE(short_hex);
    EXPECT_NE(short_hex.error().message().find("40 hex"), std::string::npos) << short_hex.error();
}

TEST(ObjectId, RawBytesAccess) {
    ObjectId id = counting_id();
    auto bytes = id.bytes();
    ASSERT_EQ(bytes.size(), 20u);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        EXPECT_EQ(bytes[i], std::byte(static_cast<unsigned char>(i * 17)));
        EXPECT_EQ(id.raw().bytes[i], static_cast<std::uint8_t>(i * 17));
    }
    EXPECT_EQ(ObjectId(id.raw()), id);
}

TEST(ObjectId, ComparisonIsByteWise) {
    ObjectId a = fixed_id(1), b = fixed_id(2);
    os_object_id raw = a.raw();
    raw.bytes[19] = 0xff;  // differs from a only in the last byte
    ObjectId a_last(raw);

    EXPECT_TRUE(a == fixed_id(1));
    EXPECT_FALSE(a != fixed_id(1));
    EXPECT_TRUE(a != b);
    EXPECT_TRUE(a < b && a <= b && b > a && b >= a);
    EXPECT_FALSE(b < a || b <= a || a > b || a >= b);
    EXPECT_TRUE(a < a_last && a_last < b);  // the first differing byte decides
    EXPECT_TRUE(a <= a && a >= a && !(a < a));

    std::set<ObjectId> ordered{b, a_last, a};
    EXPECT_EQ(std::vector<ObjectId>(ordered.begin(), ordered.end()), (std::vector<ObjectId>{a, a_last, b}));
    std::map<ObjectId, int> by_id{{a, 1}, {b, 2}};
    EXPECT_EQ(by_id.at(fixed_id(2)), 2);
}

TEST(ObjectId, StdHashKeysUnorderedContainers) {
    // IDs differing in a single byte, at every position: a hash over only
    // some of the bytes would collide here.
    std::unordered_set<ObjectId> ids;
    std::set<std::size_t> hashes;
    for (std::size_t pos = 0; pos < ObjectId::size; ++pos) {
        for (unsigned v = 1; v <= 50; ++v) {
            os_object_id raw{};
            raw.bytes[pos] = static_cast<std::uint8_t>(v);
            ObjectId id(raw);
            ids.insert(id);
            hashes.insert(std::hash<ObjectId>{}(id));
        }
    }
    EXPECT_EQ(ids.size(), 1000u);
    EXPECT_GE(hashes.size(), 990u);
    EXPECT_EQ(std::hash<ObjectId>{}(fixed_id(7)), std::hash<ObjectId>{}(fixed_id(7)));
    EXPECT_EQ(ids.count(fixed_id(0)), 0u);
}

TEST(ObjectId, PrintsAsHex) {
    std::ostringstream os;
    os << counting_id();
    EXPECT_EQ(os.str(), counting_id().to_hex());
}

TEST(Span, ViewsContainersWithoutCopying) {
    std::vector<int> v{1, 2, 3, 4};
    Span<int> s = v;
    EXPECT_EQ(s.data(), v.data());
    EXPECT_EQ(s.size(), 4u);
    EXPECT_EQ(s.size_bytes(), 4 * sizeof(int));
    s[1] = 20;
    EXPECT_EQ(v[1], 20);

    Span<const int> c = s;  // adding const is implicit
    EXPECT_EQ(c.data(), v.data());
    int sum = 0;
    for (int x : c) sum += x;
    EXPECT_EQ(sum, 1 + 20 + 3 + 4);

    const std::array<int, 3> a{7, 8, 9};
    Span<const int> from_array = a;
    EXPECT_EQ(from_array.size(), 3u);
    EXPECT_FALSE((std::is_constructible_v<Span<int>, const std::vector<int>&>));  // no dropping const
    EXPECT_FALSE((std::is_constructible_v<Span<int>, std::vector<long>&>));       // no reinterpreting
}

TEST(Span, SubspanClampsToTheView) {
    std::vector<int> v{0, 1, 2, 3, 4, 5};
    Span<const int> s = v;
    EXPECT_EQ(s.subspan(2).size(), 4u);
    EXPECT_EQ(s.subspan(2)[0], 2);
    EXPECT_EQ(s.subspan(1, 2).size(), 2u);
    EXPECT_EQ(s.subspan(4, 100).size(), 2u);
    EXPECT_TRUE(s.subspan(7).empty());
    EXPECT_TRUE(Span<const int>().empty());
}

TEST(Span, AsBytes) {
    std::vector<float> floats{1.0f, 2.0f, 3.0f};
    auto fb = objstore::as_bytes(floats);
    EXPECT_EQ(fb.size(), 3 * sizeof(float));
    EXPECT_EQ(static_cast<const void*>(fb.data()), static_cast<const void*>(floats.data()));

    EXPECT_EQ(objstore::as_bytes("abc").size(), 3u);  // a literal, without its NUL
    EXPECT_EQ(objstore::as_bytes(std::string("abcd")).size(), 4u);
    EXPECT_EQ(objstore::as_bytes(std::string_view("ab\0cd", 5)).size(), 5u);
    EXPECT_TRUE(objstore::as_bytes(std::string_view()).empty());
}

TEST(Timeout, ConvertsDurationsToTheCMilliseconds) {
    EXPECT_EQ(Timeout().milliseconds(), -1) << "no timeout given waits forever, as in every binding";
    EXPECT_TRUE(Timeout().is_forever());
    EXPECT_EQ(Timeout::no_wait().milliseconds(), 0);
    EXPECT_EQ(Timeout::forever().milliseconds(), -1);
    EXPECT_TRUE(Timeout::forever().is_forever());
    EXPECT_EQ(Timeout(500ms).milliseconds(), 500);
    EXPECT_EQ(Timeout(2s).milliseconds(), 2000);
    EXPECT_EQ(Timeout(0ms).milliseconds(), 0);
    EXPECT_EQ(Timeout(-5s).milliseconds(), 0);
    // Rounded up: a positive wait never becomes "do not wait".
    EXPECT_EQ(Timeout(1us).milliseconds(), 1);
    EXPECT_EQ(Timeout(1500us).milliseconds(), 2);
    EXPECT_EQ(Timeout(std::chrono::duration<double>(0.0015)).milliseconds(), 2);
    // Too long for int64 milliseconds: forever, not an overflow.
    EXPECT_TRUE(Timeout(std::chrono::hours::max()).is_forever());
    EXPECT_FALSE(Timeout(std::chrono::hours(24 * 365)).is_forever());
    static_assert(Timeout(3s).milliseconds() == 3000, "usable in constant expressions");
}

TEST(Status, TextComesFromTheLibrary) {
    EXPECT_EQ(objstore::to_string(Status::timeout), "timed out");
    EXPECT_EQ(objstore::to_string(Status::not_found), os_status_str(OS_NOT_FOUND));
    EXPECT_EQ(static_cast<os_status>(Status::panic), static_cast<os_status>(OS_PANIC));
    EXPECT_EQ(objstore::to_string(static_cast<Status>(12345)), "unknown status");
}

TEST(Result, HoldsAValueOrAnError) {
    Result<int> good = 42;
    EXPECT_TRUE(good.ok());
    EXPECT_TRUE(good.has_value());
    EXPECT_TRUE(static_cast<bool>(good));
    EXPECT_EQ(good.value(), 42);
    EXPECT_EQ(*good, 42);

    Result<int> bad = objstore::Error(Status::not_found, "no such thing");
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().status(), Status::not_found);
    EXPECT_EQ(bad.error().message(), "no such thing");
    EXPECT_EQ(bad.error().to_string(), "not found: no such thing");

    // The error of a temporary is a copy, not a dangling reference.
    objstore::Error copied = Result<int>(objstore::Error(Status::corrupt, "bad")).error();
    EXPECT_EQ(copied.status(), Status::corrupt);
    EXPECT_EQ(copied.message(), "bad");

    Result<void> done;
    EXPECT_TRUE(done.ok());
    Result<void> failed = objstore::Error(Status::timeout, "");
    EXPECT_FALSE(failed);
    EXPECT_EQ(failed.error().to_string(), "timed out");

    // Result<bool> (contains) has no operator bool: `if (store.contains(id))`
    // would test success, not presence, so it must not compile.
    static_assert(!std::is_constructible_v<bool, Result<bool>>);
    static_assert(std::is_constructible_v<bool, Result<int>>);
}

TEST(Result, ErrorCapturesTheThreadsLastErrorMessage) {
    os_object_id raw;
    os_status st = os_id_from_hex("xyz", &raw);
    ASSERT_EQ(st, static_cast<os_status>(OS_INVALID_ARGUMENT));
    objstore::Error e = objstore::Error::last(st);
    EXPECT_EQ(e.status(), Status::invalid_argument);
    EXPECT_EQ(e.message(), os_last_error());
}

TEST(ResultDeathTest, ValueOfAnErrorAbortsWithTheMessage) {
    Result<int> bad = objstore::Error(Status::not_found, "object 00ff not found");
    EXPECT_DEATH((void)bad.value(), "Result::value\\(\\) called on an error: not found: object 00ff not found");
    Result<int> good = 1;
    EXPECT_DEATH((void)good.error(), "Result::error\\(\\) called on a value");
    Result<void> failed = objstore::Error(Status::timeout, "late");
    EXPECT_DEATH(failed.value(), "timed out: late");
}

TEST(Version, IsTheLibrarys) {
    EXPECT_EQ(objstore::version(), std::string_view(os_version()));
    EXPECT_FALSE(objstore::version().empty());
}
