// objstore.hpp: a header-only C++17 wrapper over the objstore C API.
//
// objstore is an immutable-object store in shared memory: processes on one
// machine map one store file, one puts a blob and gets a 20-byte ID, any other
// gets a zero-copy, read-only view of it by that ID. This header adds C++
// types over the C API of <objstore.h> and no behaviour of its own: every
// operation is one C call (a few are a loop of them), so the C header's
// documentation of each os_* function is the reference for what happens.
//
//   objstore::Store           a handle to an attached store (move-only)
//   objstore::ObjectId        a 20-byte ID: hex, comparison, std::hash
//   objstore::Object          a pinned, read-only object; unpins when destroyed
//   objstore::UnsealedObject  a created object being written; aborted when
//                             destroyed unless sealed
//   objstore::Ref             a reference to an object (os_ref); unref'd when
//                             destroyed, so a REFCOUNTED object frees itself
//   objstore::Ticket          a reference on its way to another process
//   objstore::Result<T>       the value, or an objstore::Error (status + message)
//   objstore::Span<T>         a pointer and a length (see "Spans" below)
//   objstore::Timeout         how long a get waits (forever unless given)
//   objstore::Canceller       ends a blocked get, get_many, wait, WaitSet::next
//                             or wait_tickets_taken from another thread
//   objstore::WaitSet         objects handed out as they are sealed, each once
//                             (Store::wait_set); freed when destroyed
//   objstore::version_*       the header's version; check_version() the library's
//
// Error policy: [[nodiscard]] Result<T>, no exceptions.
//   Every operation that can fail returns a Result<T>: the value, or an Error
//   carrying the os_status and the os_last_error() detail captured at the
//   failure. Result is [[nodiscard]], so a forgotten check is a compiler
//   warning. We chose this over exceptions (as wasmtime's C++ API does) for
//   three reasons:
//   - "Not there yet" is ordinary control flow in a store that consumers poll
//     and wait on: get() with a timeout gives Status::timeout or not_found
//     routinely. Throwing for that would make the common path an exception
//     and would cost more than the ~100 ns get itself.
//   - It maps one to one onto the C API's status codes, so nothing is lost
//     or invented in translation.
//   - The header works in code built with -fno-exceptions (common in HPC,
//     games, embedded and latency-critical code), which is tested.
//   The wrapper itself throws nothing; only the standard library's allocation
//   failure (std::bad_alloc) can escape, from the few calls that build a
//   std::string or std::vector. Result::value() and error() on the wrong
//   alternative are programming errors: they print the error to stderr and
//   std::abort(), deterministically, instead of throwing or being undefined.
//   The one deliberate nuance: get_many() returns partial results rather than
//   an error when some objects are still missing at the timeout (as the C
//   API does); see its comment.
//
// Spans: objstore::Span<T>, not std::span.
//   std::span is C++20, and this header must work from C++17. We do not
//   switch to std::span under C++20 either: the signatures of these inline
//   functions would then differ between a C++17 and a C++20 translation unit
//   of one program, an ODR violation. So Span is the same type in every
//   standard; under C++20 it converts implicitly to std::span (it is a
//   contiguous, sized, borrowed range), and a std::span converts to it.
//
// Lifetimes (the C API's rules, in C++ terms):
//   - A Store and every Object, UnsealedObject and Ref made from it share
//     the C handle: it is closed (os_close) when the last of them is
//     destroyed. So an Object may outlive its Store, or be kept after
//     Store::close(): its bytes stay mapped and pinned, a pending
//     UnsealedObject can still be sealed, and a Ref still holds its
//     reference. Nothing dangles; the handle lives as long as it is needed.
//   - A WaitSet does not share the handle: the C set keeps the mapping
//     alive by itself, so it may outlive its Store too.
//   - The bytes of an Object stay valid and unchanged while it is alive, even
//     if someone removes the object meanwhile (the removal waits for the pin).
//   - A Store, like the C handle, belongs to the process that opened it: a
//     child made by fork() must open the store again (its copy of the
//     parent's handle gives Status::invalid_argument).
//
// Threads: const member functions of Store are safe to call from many
// threads at once (the C handle is thread-safe; this follows the standard
// library's convention that const means safe for concurrent use). Object and
// UnsealedObject are ordinary values: share them across threads as you would
// a std::vector. Moving, closing or destroying a Store must not race with
// other uses of it.
//
// Minimal example:
//
//   auto store = objstore::Store::open("demo").value();
//   objstore::ObjectId id = store.put(objstore::as_bytes("hello")).value();
//   if (auto obj = store.get(id, std::chrono::seconds(1))) {
//       std::string_view text(reinterpret_cast<const char*>(obj->data().data()),
//                             obj->data().size());
//   }

#ifndef OBJSTORE_HPP
#define OBJSTORE_HPP

#if __cplusplus < 201703L
#error "objstore.hpp needs C++17 or later (-std=c++17)"
#endif

#include <objstore.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#if __cplusplus >= 202002L && __has_include(<span>)
#include <ranges>
#include <span>
#endif

namespace objstore {

// ---------------------------------------------------------------------------
// Span

/// A non-owning view of `size()` contiguous `T`s: what std::span<T> is in
/// C++20, reduced to what this API needs. See "Spans" at the top of the file.
template <class T>
class Span {
    // A container whose elements can be viewed as T (same type, or T is more
    // const): the rule std::span uses, via array-pointer convertibility.
    template <class C>
    using element_of = std::remove_pointer_t<decltype(std::data(std::declval<C&>()))>;
    template <class C, class = void>
    struct compatible : std::false_type {};
    template <class C>
    struct compatible<C, std::void_t<decltype(std::data(std::declval<C&>())),
                                     decltype(std::size(std::declval<C&>()))>>
        : std::is_convertible<element_of<C> (*)[], T (*)[]> {};

public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;
    using size_type = std::size_t;
    using pointer = T*;
    using reference = T&;
    using iterator = T*;

    constexpr Span() noexcept = default;
    constexpr Span(T* data, std::size_t size) noexcept : data_(data), size_(size) {}

    /// From any contiguous container with data() and size() (std::vector,
    /// std::array, std::string, a C array, std::span, another Span).
    template <class C, std::enable_if_t<compatible<C>::value, int> = 0>
    constexpr Span(C& c) noexcept : data_(std::data(c)), size_(std::size(c)) {}
    /// From a const container, when T is const. Like std::span<const T>, this
    /// also accepts a temporary: the view must not outlive it.
    template <class C, std::enable_if_t<compatible<const C>::value, int> = 0>
    constexpr Span(const C& c) noexcept : data_(std::data(c)), size_(std::size(c)) {}

    constexpr T* data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }
    [[nodiscard]] constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T* begin() const noexcept { return data_; }
    constexpr T* end() const noexcept { return data_ + size_; }
    /// Unchecked, as std::span's.
    constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }

    /// The `count` elements from `offset` on; clamped to the view, so an
    /// out-of-range request gives a shorter (possibly empty) view.
    constexpr Span subspan(std::size_t offset, std::size_t count = SIZE_MAX) const noexcept {
        if (offset > size_) offset = size_;
        if (count > size_ - offset) count = size_ - offset;
        return Span(data_ + offset, count);
    }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

namespace detail {
template <class C>
using range_element_t = std::remove_pointer_t<decltype(std::data(std::declval<const C&>()))>;
template <class C, class = void>
struct is_byte_viewable : std::false_type {};
// Contiguous and sized, of trivially copyable elements; char arrays are left
// to the std::string_view overload, so that a string literal is viewed
// without its terminating NUL.
template <class C>
struct is_byte_viewable<C, std::void_t<range_element_t<C>, decltype(std::size(std::declval<const C&>()))>>
    : std::bool_constant<std::is_trivially_copyable_v<range_element_t<C>> &&
                         !(std::is_array_v<C> && std::is_same_v<std::remove_cv_t<range_element_t<C>>, char>)> {};
}  // namespace detail

/// The bytes of a contiguous container of trivially copyable elements (e.g.
/// a std::vector<float>), for put() and create()'s metadata.
template <class C, std::enable_if_t<detail::is_byte_viewable<C>::value, int> = 0>
Span<const std::byte> as_bytes(const C& c) noexcept {
    return {reinterpret_cast<const std::byte*>(std::data(c)), std::size(c) * sizeof(*std::data(c))};
}

/// The bytes of a string, without a terminating NUL: as_bytes("abc") has 3.
inline Span<const std::byte> as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// ---------------------------------------------------------------------------
// Status, Error, Result

/// An os_status as a scoped enum. Values the header does not name yet (from a
/// newer library) are still carried: compare Error::status() numerically.
enum class Status : os_status {
    ok = OS_OK,
    invalid_argument = OS_INVALID_ARGUMENT,
    not_found = OS_NOT_FOUND,
    already_exists = OS_ALREADY_EXISTS,
    out_of_memory = OS_OUT_OF_MEMORY,
    too_large = OS_TOO_LARGE,
    timeout = OS_TIMEOUT,
    not_sealed = OS_NOT_SEALED,
    incompatible = OS_INCOMPATIBLE,
    corrupt = OS_CORRUPT,
    io_error = OS_IO_ERROR,
    permission_denied = OS_PERMISSION_DENIED,
    too_many_processes = OS_TOO_MANY_PROCESSES,
    panic = OS_PANIC,
    cancelled = OS_CANCELLED,
};

/// The library's static description of a status ("timed out", ...).
inline std::string_view to_string(Status s) noexcept { return os_status_str(static_cast<os_status>(s)); }

inline std::ostream& operator<<(std::ostream& os, Status s) { return os << to_string(s); }

/// Why a call failed: the C status and the detail message that
/// os_last_error() gave on the failing thread right after the call.
class Error {
public:
    Error(Status status, std::string message) : status_(status), message_(std::move(message)) {}

    /// The error of the C call that just returned `status` on this thread.
    static Error last(os_status status) { return Error(static_cast<Status>(status), os_last_error()); }

    Status status() const noexcept { return status_; }
    /// The detail, e.g. "object 00ab... not found" (may be empty).
    const std::string& message() const noexcept { return message_; }
    /// "<status text>: <detail>", or the status text alone.
    std::string to_string() const {
        std::string s(objstore::to_string(status_));
        if (!message_.empty()) s.append(": ").append(message_);
        return s;
    }

private:
    Status status_;
    std::string message_;
};

inline std::ostream& operator<<(std::ostream& os, const Error& e) { return os << e.to_string(); }

namespace detail {
/// A misuse of Result (value() of an error, error() of a value): a bug in
/// the caller, reported loudly and deterministically.
[[noreturn]] inline void misuse(const char* what, const Error* e) noexcept {
    if (e != nullptr) {
        std::fprintf(stderr, "objstore: %s: %s\n", what, e->to_string().c_str());
    } else {
        std::fprintf(stderr, "objstore: %s\n", what);
    }
    std::abort();
}
}  // namespace detail

/// A value of type T, or the Error that prevented it. Check it (ok(), or
/// `if (result)`) before using value(), `*` or `->`; value() of an error
/// aborts the program with the error's text. The names follow C++23's
/// std::expected.
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) noexcept(std::is_nothrow_move_constructible_v<T>)
        : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) noexcept : v_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const noexcept { return v_.index() == 0; }
    bool has_value() const noexcept { return ok(); }
    /// Whether it holds a value. Not offered for Result<bool> (contains()),
    /// where `if (store.contains(id))` would test success, not presence:
    /// write `.value()` there.
    template <class U = T, std::enable_if_t<!std::is_same_v<U, bool>, int> = 0>
    explicit operator bool() const noexcept {
        return ok();
    }

    T& value() & { return checked(v_); }
    const T& value() const& { return checked(v_); }
    /// On a temporary Result, the value by value (moved out), so that e.g.
    /// `for (auto& x : store.list().value())` does not dangle.
    T value() && { return std::move(checked(v_)); }
    T& operator*() & { return checked(v_); }
    const T& operator*() const& { return checked(v_); }
    T operator*() && { return std::move(checked(v_)); }
    T* operator->() { return &checked(v_); }
    const T* operator->() const { return &checked(v_); }

    /// The error; aborts if there is none.
    const Error& error() const& {
        if (const Error* e = std::get_if<1>(&v_)) return *e;
        detail::misuse("Result::error() called on a value", nullptr);
    }
    /// On a temporary Result, the error by value, so that it cannot dangle.
    Error error() && { return static_cast<const Result&>(*this).error(); }

private:
    // Shared by the const and non-const accessors.
    template <class V>
    static auto& checked(V& v) {
        if (auto* value = std::get_if<0>(&v)) return *value;
        detail::misuse("Result::value() called on an error", std::get_if<1>(&v));
    }

    std::variant<T, Error> v_;
};

/// Success, or the Error of an operation that has no value.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() noexcept = default;
    Result(Error error) noexcept : error_(std::move(error)) {}

    bool ok() const noexcept { return !error_.has_value(); }
    bool has_value() const noexcept { return ok(); }
    explicit operator bool() const noexcept { return ok(); }
    /// Aborts with the error's text if it failed (to mirror Result<T>).
    void value() const {
        if (error_) detail::misuse("Result::value() called on an error", &*error_);
    }
    const Error& error() const& {
        if (error_) return *error_;
        detail::misuse("Result::error() called on a value", nullptr);
    }
    /// On a temporary Result, the error by value, so that it cannot dangle.
    Error error() && { return static_cast<const Result&>(*this).error(); }

private:
    std::optional<Error> error_;
};

namespace detail {
/// OS_OK as success, any other status as the thread's last error.
inline Result<void> check(os_status st) {
    if (st == OS_OK) return {};
    return Error::last(st);
}
}  // namespace detail

// ---------------------------------------------------------------------------
// ObjectId

/// A 20-byte object ID. os_put makes fresh ones; callers may also choose
/// their own (e.g. derived from a task's identity) for create(). Between
/// processes an ID travels as its bytes or as 40 lower-case hex characters.
/// Default-constructed: all zero bytes (a valid ID like any other).
class ObjectId {
public:
    static constexpr std::size_t size = OS_ID_SIZE;

    constexpr ObjectId() noexcept = default;
    constexpr explicit ObjectId(const os_object_id& raw) noexcept : raw_(raw) {}
    explicit ObjectId(const std::array<std::byte, size>& bytes) noexcept {
        std::memcpy(raw_.bytes, bytes.data(), size);
    }

    /// Parses 40 hex characters (either case); Status::invalid_argument
    /// otherwise (wrong length, a non-hex character), as os_id_from_hex.
    static Result<ObjectId> from_hex(std::string_view hex) {
        // os_id_from_hex wants a NUL-terminated string; anything longer than
        // 40 characters is passed as 41, which it rejects as too long.
        char buf[2 * size + 2] = {};
        if (!hex.empty()) std::memcpy(buf, hex.data(), hex.size() < sizeof buf - 1 ? hex.size() : sizeof buf - 1);
        ObjectId id;
        if (os_status st = os_id_from_hex(buf, &id.raw_); st != OS_OK) return Error::last(st);
        return id;
    }

    /// 40 lower-case hex characters.
    std::string to_hex() const {
        char buf[2 * size + 1];
        os_id_to_hex(&raw_, buf);
        return std::string(buf, 2 * size);
    }

    /// The 20 bytes.
    Span<const std::byte> bytes() const noexcept { return {reinterpret_cast<const std::byte*>(raw_.bytes), size}; }
    /// The C struct, for calling the C API directly.
    const os_object_id& raw() const noexcept { return raw_; }

    /// Byte-wise (lexicographic) order, so IDs can key a std::map.
    friend bool operator==(const ObjectId& a, const ObjectId& b) noexcept { return compare(a, b) == 0; }
    friend bool operator!=(const ObjectId& a, const ObjectId& b) noexcept { return compare(a, b) != 0; }
    friend bool operator<(const ObjectId& a, const ObjectId& b) noexcept { return compare(a, b) < 0; }
    friend bool operator<=(const ObjectId& a, const ObjectId& b) noexcept { return compare(a, b) <= 0; }
    friend bool operator>(const ObjectId& a, const ObjectId& b) noexcept { return compare(a, b) > 0; }
    friend bool operator>=(const ObjectId& a, const ObjectId& b) noexcept { return compare(a, b) >= 0; }

    friend std::ostream& operator<<(std::ostream& os, const ObjectId& id) { return os << id.to_hex(); }

private:
    static int compare(const ObjectId& a, const ObjectId& b) noexcept {
        return std::memcmp(a.raw_.bytes, b.raw_.bytes, size);
    }

    os_object_id raw_{};
};

// ---------------------------------------------------------------------------
// Timeout

/// How long a get waits for an object that is not sealed yet: forever (the
/// default, as in every binding: see the README's table of defaults), a
/// std::chrono duration (then Status::timeout when it runs out), or not at
/// all (Timeout::no_wait() or a zero duration: an absent object gives
/// Status::not_found). Converts implicitly from any duration, so
/// `store.get(id, 500ms)` works.
class Timeout {
public:
    /// Wait forever: until some process seals the object.
    constexpr Timeout() noexcept = default;

    /// Wait up to `d`, rounded up to whole milliseconds, so that a positive
    /// wait never turns into "do not wait". Zero or negative: do not wait. A
    /// wait too long to count in int64 milliseconds (292 million years, or
    /// e.g. hours::max()) is forever.
    template <class Rep, class Period>
    constexpr Timeout(std::chrono::duration<Rep, Period> d) noexcept : ms_(to_ms(d)) {}

    static constexpr Timeout no_wait() noexcept {
        Timeout t;
        t.ms_ = 0;
        return t;
    }
    static constexpr Timeout forever() noexcept { return Timeout(); }

    constexpr bool is_forever() const noexcept { return ms_ < 0; }
    /// The value for the C API's timeout_ms: 0 no wait, > 0 wait, < 0 forever.
    constexpr std::int64_t milliseconds() const noexcept { return ms_; }

private:
    template <class Rep, class Period>
    static constexpr std::int64_t to_ms(std::chrono::duration<Rep, Period> d) noexcept {
        if (!(d > d.zero())) return 0;
        // Checked in floating point, which cannot overflow, before the exact
        // integer conversion, which could.
        if (std::chrono::duration<double, std::milli>(d).count() >= 9.0e18) return -1;
        return std::chrono::ceil<std::chrono::duration<std::int64_t, std::milli>>(d).count();
    }

    std::int64_t ms_ = -1;
};

// ---------------------------------------------------------------------------
// Canceller

/// Cancels blocked waits from another thread (os_canceller): give it to
/// Store::get, get_many, wait, wait_tickets_taken or WaitSet::next, and
/// cancel() from any
/// thread ends the wait at once with Status::cancelled, with no polling
/// (a call that finds what it asks for without waiting still succeeds,
/// as in the C API). It stays cancelled, so every later wait with it ends
/// at once too, until reset(). Move-only; it must outlive every call that
/// waits with it. A canceller may serve many waits, on many threads and
/// stores, at once.
///
///     objstore::Canceller stop;
///     std::thread waiter([&] { auto obj = store.get(id, objstore::Timeout::forever(), stop); });
///     stop.cancel();   // the get returns Status::cancelled
///     waiter.join();
class Canceller {
public:
    /// A canceller, not cancelled. (os_canceller_new fails only for a NULL
    /// output, so a default-constructed Canceller always holds one.)
    Canceller() noexcept { (void)os_canceller_new(&raw_); }
    Canceller(const Canceller&) = delete;
    Canceller& operator=(const Canceller&) = delete;
    Canceller(Canceller&& o) noexcept : raw_(std::exchange(o.raw_, nullptr)) {}
    Canceller& operator=(Canceller&& o) noexcept {
        if (this != &o) {
            os_canceller_free(raw_);
            raw_ = std::exchange(o.raw_, nullptr);
        }
        return *this;
    }
    ~Canceller() { os_canceller_free(raw_); }

    /// Ends every wait under way with this canceller, and every later one
    /// until reset(). Thread-safe and idempotent; not async-signal-safe.
    Result<void> cancel() const { return detail::check(os_canceller_cancel(raw_)); }

    /// Re-arms it for later waits. Only between uses, once no call waits
    /// with it (a wait woken by cancel() but not yet back would wait on).
    Result<void> reset() const { return detail::check(os_canceller_reset(raw_)); }

    /// False only for a moved-from Canceller, which waits refuse
    /// (Status::invalid_argument).
    explicit operator bool() const noexcept { return raw_ != nullptr; }

    /// The C handle, for the C API's *_cancellable calls.
    const os_canceller* raw() const noexcept { return raw_; }

private:
    os_canceller* raw_ = nullptr;
};

// ---------------------------------------------------------------------------
// WaitSet

/// Objects waited on together, each handed out once when it is sealed
/// (os_wait_set): for a consumer that takes results in the order they
/// finish, as a ray.wait loop or Python's as_completed does. Store::
/// wait_set(ids) makes it, looking at every ID once; each next() then
/// looks only at what was sealed since its last look (where Store::wait
/// looks up every ID on every call) and hands out indices into `ids`.
///
///     objstore::WaitSet set = store.wait_set(ids).value();
///     while (set.remaining() > 0) {
///         auto done = set.next(16, 5s);          // Status::timeout: none in 5 s
///         if (!done) break;
///         for (std::size_t i : *done) use(store.get(ids[i], objstore::Timeout::no_wait()));
///     }
///
/// It takes no pins: an object handed out was sealed when the set looked,
/// and a get may still find it deleted since. It does not share the Store's
/// handle either: the C set keeps the mapping alive by itself, so a WaitSet
/// may outlive its Store and its close(), and still hands out objects that
/// other handles or processes seal.
///
/// Move-only; the destructor frees the set (os_wait_set_free). An empty
/// WaitSet (default, moved from) answers next() with Status::
/// invalid_argument, as the C API does for a NULL set. next() is not const
/// (it counts what it hands out): call it from one thread at a time, and
/// end a next() that waits from another thread with its Canceller. Like
/// the C handle, a set belongs to the process that made it: in a child
/// made by fork(), next() gives Status::invalid_argument.
class WaitSet {
public:
    WaitSet() noexcept = default;
    WaitSet(const WaitSet&) = delete;
    WaitSet& operator=(const WaitSet&) = delete;
    WaitSet(WaitSet&& o) noexcept
        : raw_(std::exchange(o.raw_, nullptr)), size_(std::exchange(o.size_, 0)),
          remaining_(std::exchange(o.remaining_, 0)) {}
    WaitSet& operator=(WaitSet&& o) noexcept {
        if (this != &o) {
            os_wait_set_free(raw_);
            raw_ = std::exchange(o.raw_, nullptr);
            size_ = std::exchange(o.size_, 0);
            remaining_ = std::exchange(o.remaining_, 0);
        }
        return *this;
    }
    ~WaitSet() { os_wait_set_free(raw_); }

    /// Hands out up to `max` objects of the set sealed and not handed out
    /// before, as indices into the IDs it was made with then those added,
    /// in the order they were found; waits up to `timeout` (by default
    /// forever) for at least one (os_wait_set_next). Status::timeout when
    /// none was sealed in time (Timeout::no_wait() looks once, and gives
    /// timeout too, not not_found); an empty vector when every object was
    /// handed out already (remaining() is 0). Status::invalid_argument for
    /// `max` 0 or an empty WaitSet.
    Result<std::vector<std::size_t>> next(std::size_t max, Timeout timeout = {}) {
        return next_with(max, timeout, nullptr);
    }

    /// next(), ending early with Status::cancelled when `cancel` is
    /// cancelled from another thread (or was already, unless objects sealed
    /// already are there to hand out). Nothing is handed out then, and the
    /// set stays usable.
    Result<std::vector<std::size_t>> next(std::size_t max, Timeout timeout, const Canceller& cancel) {
        if (!cancel) return Error(Status::invalid_argument, "the canceller is empty (moved from)");
        return next_with(max, timeout, cancel.raw());
    }

    /// Adds `ids` to the set (os_wait_set_add): their indices follow those
    /// it holds (from size() on), and next() hands them out as its own, an
    /// ID given twice, or one it holds already, once for each time. Those
    /// sealed already are found now. Each new ID is looked at once, here:
    /// a set that grows stays as cheap to wait on as one made whole.
    /// Status::invalid_argument for an empty WaitSet, or a set made before
    /// a fork (unchanged then).
    Result<void> add(Span<const ObjectId> ids) {
        std::vector<os_object_id> raw_ids;
        raw_ids.reserve(ids.size());
        for (const ObjectId& id : ids) raw_ids.push_back(id.raw());
        os_status st = os_wait_set_add(raw_, raw_ids.data(), raw_ids.size());
        if (st != OS_OK) return Error::last(st);
        size_ += ids.size();
        remaining_ += ids.size();
        return {};
    }

    /// How many IDs it holds: made with, then added (next() hands out
    /// indices below this).
    std::size_t size() const noexcept { return size_; }
    /// How many of its objects next() has not handed out yet.
    std::size_t remaining() const noexcept { return remaining_; }

    /// Whether it holds a set.
    explicit operator bool() const noexcept { return raw_ != nullptr; }
    /// The C set, for calling the C API directly (still owned by this
    /// WaitSet: do not free it; a next() through it is not counted by
    /// remaining()).
    os_wait_set* raw() const noexcept { return raw_; }

private:
    friend class Store;
    WaitSet(os_wait_set* raw, std::size_t size) noexcept : raw_(raw), size_(size), remaining_(size) {}

    Result<std::vector<std::size_t>> next_with(std::size_t max, Timeout timeout, const os_canceller* cancel) {
        // No more can come than remain, so the buffer need hold no more
        // (`max` may be huge). It holds at least one entry, so that the
        // library answers every case (none left, `max` 0, an empty set).
        std::size_t room = max < remaining_ ? max : remaining_;
        std::vector<std::size_t> out(room > 0 ? room : 1);
        std::size_t n = 0;
        os_status st = os_wait_set_next(raw_, max < out.size() ? max : out.size(), timeout.milliseconds(), cancel,
                                        out.data(), &n);
        if (st != OS_OK) return Error::last(st);
        out.resize(n);
        remaining_ -= n;
        return out;
    }

    os_wait_set* raw_ = nullptr;
    std::size_t size_ = 0;
    std::size_t remaining_ = 0;
};

// ---------------------------------------------------------------------------
// The shared handle

namespace detail {
/// The C handle, owned together by a Store and every Object,
/// UnsealedObject and Ref made from it, and closed when the last of them
/// goes: an Object can never hold a pointer to a closed handle.
class Handle {
public:
    Handle() noexcept = default;
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle() {
        if (raw_ != nullptr) (void)os_close(raw_);
    }

    os_store* get() const noexcept { return raw_; }
    /// Takes the handle over (to close it with a status, see Store::close).
    os_store* release() noexcept { return std::exchange(raw_, nullptr); }
    void reset(os_store* raw) noexcept { raw_ = raw; }

private:
    os_store* raw_ = nullptr;
};
using SharedHandle = std::shared_ptr<Handle>;

inline os_store* raw_of(const SharedHandle& h) noexcept { return h ? h->get() : nullptr; }
}  // namespace detail

// ---------------------------------------------------------------------------
// Object

class Store;

/// A pinned object: a read-only, zero-copy view of an object's data and
/// metadata inside the shared mapping. While it is alive the bytes stay
/// valid and unchanged, whatever happens to the Store it came from (it
/// shares the handle); destroying it (or release()) drops the pin.
/// Move-only: each Object is exactly one pin (getting an object twice gives
/// two). An empty Object (default-constructed, moved from, released, or a
/// missing entry of get_many) holds no pin and has empty data() and meta().
class Object {
public:
    Object() noexcept = default;
    Object(const Object&) = delete;
    Object& operator=(const Object&) = delete;
    Object(Object&& o) noexcept
        : handle_(std::move(o.handle_)), id_(o.id_), buf_(std::exchange(o.buf_, os_buffer{})) {}
    Object& operator=(Object&& o) noexcept {
        if (this != &o) {
            unpin();
            handle_ = std::move(o.handle_);
            id_ = o.id_;
            buf_ = std::exchange(o.buf_, os_buffer{});
        }
        return *this;
    }
    ~Object() { unpin(); }

    /// Whether it holds a pin (and so data).
    explicit operator bool() const noexcept { return handle_ != nullptr; }
    /// The ID it was got by (kept for a missing get_many entry too).
    const ObjectId& id() const noexcept { return id_; }
    /// The object's bytes, 64-byte aligned, in the shared mapping (no copy).
    Span<const std::byte> data() const noexcept {
        return {reinterpret_cast<const std::byte*>(buf_.data), buf_.data_len};
    }
    /// Its metadata (empty if it has none).
    Span<const std::byte> meta() const noexcept {
        return {reinterpret_cast<const std::byte*>(buf_.meta), buf_.meta_len};
    }
    std::size_t size() const noexcept { return buf_.data_len; }

    /// Drops the pin now and reports how that went (the destructor does the
    /// same silently). The Object is empty afterwards, whatever the result;
    /// releasing an empty Object is a no-op.
    Result<void> release() {
        if (handle_ == nullptr) return {};
        detail::SharedHandle h = std::move(handle_);
        buf_ = os_buffer{};
        // The status is read before h goes: if this was the handle's last
        // user, os_close follows the os_release.
        return detail::check(os_release(h->get(), &id_.raw()));
    }

private:
    friend class Store;
    Object(detail::SharedHandle handle, const ObjectId& id, const os_buffer& buf) noexcept
        : handle_(std::move(handle)), id_(id), buf_(buf) {}

    void unpin() noexcept {
        // A release of a pin we hold cannot fail short of a bug, and a
        // destructor cannot report it.
        if (handle_ != nullptr) (void)os_release(handle_->get(), &id_.raw());
        handle_.reset();
        buf_ = os_buffer{};
    }

    detail::SharedHandle handle_;  // non-null iff this holds a pin
    ObjectId id_;
    os_buffer buf_{};
};

/// Whether every entry of a get_many() result holds its object.
inline bool all_present(const std::vector<Object>& objects) noexcept {
    for (const Object& o : objects) {
        if (!o) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------
// UnsealedObject

/// An object created under a chosen ID and not sealed yet: write its bytes
/// through data(), then seal() to publish it (it becomes immutable and
/// visible to gets, and waiters wake) or abort() to drop it. Destroying it
/// while unsealed aborts it, so an early return or an exception cannot
/// leave a half-written object behind. Move-only. It shares the Store's
/// handle, so it can be sealed even after the Store is gone.
class UnsealedObject {
public:
    UnsealedObject() noexcept = default;
    UnsealedObject(const UnsealedObject&) = delete;
    UnsealedObject& operator=(const UnsealedObject&) = delete;
    UnsealedObject(UnsealedObject&& o) noexcept
        : handle_(std::move(o.handle_)), id_(o.id_), data_(std::exchange(o.data_, nullptr)),
          size_(std::exchange(o.size_, 0)) {}
    UnsealedObject& operator=(UnsealedObject&& o) noexcept {
        if (this != &o) {
            discard();
            handle_ = std::move(o.handle_);
            id_ = o.id_;
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    ~UnsealedObject() { discard(); }

    /// Whether it is still pending (neither sealed, aborted nor moved from).
    explicit operator bool() const noexcept { return handle_ != nullptr; }
    const ObjectId& id() const noexcept { return id_; }
    /// The bytes to fill, 64-byte aligned, in the shared mapping: what you
    /// write here is what readers get, with no copy. Empty once sealed.
    Span<std::byte> data() noexcept { return {reinterpret_cast<std::byte*>(data_), size_}; }
    Span<const std::byte> data() const noexcept { return {reinterpret_cast<const std::byte*>(data_), size_}; }
    std::size_t size() const noexcept { return size_; }

    /// Publishes the object. Afterwards this is empty, and the bytes must not
    /// be written again (get the object to read them).
    Result<void> seal() { return finish(os_seal, "seal"); }
    /// Drops the object: its memory is freed and its ID free again.
    Result<void> abort() { return finish(os_abort, "abort"); }

private:
    friend class Store;
    UnsealedObject(detail::SharedHandle handle, const ObjectId& id, std::uint8_t* data, std::size_t size) noexcept
        : handle_(std::move(handle)), id_(id), data_(data), size_(size) {}

    Result<void> finish(os_status (*op)(os_store*, const os_object_id*), const char* what) {
        // Once sealed or aborted, never call the C API again with this ID: by
        // then it may name another object this handle created.
        if (handle_ == nullptr) {
            return Error(Status::invalid_argument,
                         std::string(what) + ": this UnsealedObject was already sealed, aborted or moved from");
        }
        detail::SharedHandle h = std::move(handle_);
        data_ = nullptr;
        size_ = 0;
        return detail::check(op(h->get(), &id_.raw()));
    }

    void discard() noexcept {
        if (handle_ != nullptr) (void)os_abort(handle_->get(), &id_.raw());
        handle_.reset();
        data_ = nullptr;
        size_ = 0;
    }

    detail::SharedHandle handle_;  // non-null iff pending
    ObjectId id_;
    std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

// ---------------------------------------------------------------------------
// Ticket

/// A reference on its way to another process (or another Store handle):
/// what Ref::give() makes (os_ref_give) and Store::take_ticket() takes
/// (os_ref_take), once. A plain value: copy it, send it through a pipe, a
/// queue or a file as its 28 bytes (to_bytes) or as 56 hex characters
/// (to_hex). The bytes are the ID's 20, then the ticket number in 8
/// little-endian bytes: the same as the Go binding's Ticket.MarshalBinary,
/// so a ticket given in C++ can be taken in Go and back.
struct Ticket {
    /// Bytes in the binary form (to_bytes, from_bytes).
    static constexpr std::size_t size = ObjectId::size + 8;

    ObjectId id;              ///< the object the reference is to
    std::uint64_t value = 0;  ///< the ticket number of os_ref_give

    /// The binary form: the ID's bytes, then `value` little-endian.
    std::array<std::byte, size> to_bytes() const noexcept {
        std::array<std::byte, size> out{};
        std::memcpy(out.data(), id.raw().bytes, ObjectId::size);
        for (std::size_t i = 0; i < 8; ++i) {
            out[ObjectId::size + i] = static_cast<std::byte>((value >> (8 * i)) & 0xffu);
        }
        return out;
    }

    /// Parses the binary form: Status::invalid_argument unless it is
    /// exactly `size` bytes.
    static Result<Ticket> from_bytes(Span<const std::byte> bytes) {
        if (bytes.size() != size) {
            return Error(Status::invalid_argument,
                         "a ticket is " + std::to_string(size) + " bytes, not " + std::to_string(bytes.size()));
        }
        os_object_id raw;
        std::memcpy(raw.bytes, bytes.data(), ObjectId::size);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(bytes[ObjectId::size + i]) << (8 * i);
        return Ticket{ObjectId(raw), v};
    }

    /// The binary form as 56 lower-case hex characters (the Go binding's
    /// Ticket.String).
    std::string to_hex() const {
        static constexpr char digits[] = "0123456789abcdef";
        std::array<std::byte, size> bytes = to_bytes();
        std::string out;
        out.reserve(2 * size);
        for (std::byte b : bytes) {
            out.push_back(digits[std::to_integer<unsigned>(b) >> 4]);
            out.push_back(digits[std::to_integer<unsigned>(b) & 0xfu]);
        }
        return out;
    }

    /// Parses 56 hex characters (either case): Status::invalid_argument
    /// otherwise.
    static Result<Ticket> from_hex(std::string_view hex) {
        if (hex.size() != 2 * size) {
            return Error(Status::invalid_argument, "a ticket is " + std::to_string(2 * size) +
                                                       " hex characters, not " + std::to_string(hex.size()));
        }
        std::array<std::byte, size> bytes{};
        for (std::size_t i = 0; i < hex.size(); ++i) {
            char c = hex[i];
            unsigned d = 0;
            if (c >= '0' && c <= '9') {
                d = static_cast<unsigned>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                d = static_cast<unsigned>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                d = static_cast<unsigned>(c - 'A' + 10);
            } else {
                return Error(Status::invalid_argument,
                             "character " + std::to_string(i) + " of a ticket is not a hex digit");
            }
            bytes[i / 2] |= static_cast<std::byte>(i % 2 == 0 ? d << 4 : d);
        }
        return from_bytes(bytes);
    }

    friend bool operator==(const Ticket& a, const Ticket& b) noexcept { return a.id == b.id && a.value == b.value; }
    friend bool operator!=(const Ticket& a, const Ticket& b) noexcept { return !(a == b); }
};

// ---------------------------------------------------------------------------
// Ref

/// One reference to an object (os_ref), dropped (os_unref) when the Ref is
/// destroyed: while any process holds a reference the object is not freed,
/// and an object put with OS_OBJECT_REFCOUNTED is freed with its last
/// reference (and pin). A reference is not a pin: to read the bytes, get()
/// the object.
///
/// A reference belongs to a store handle (the C API counts them per
/// handle), so a Ref shares its Store's handle as Object does: it may
/// outlive its Store, or be kept after Store::close(), and stays valid; the
/// handle closes with the last of them. Get Refs from Store::put_ref (a new
/// refcounted object), Store::new_ref (one more reference to any sealed
/// object), Store::take_ticket (a reference another process gave) and
/// Store::adopt_ref (a reference the handle already holds).
///
/// Move-only: each Ref is exactly one reference (clone() takes another). A
/// moved-from Ref is empty and its destruction does nothing; move-assigning
/// drops the reference the target held first. An empty Ref (default,
/// moved from, released, given, unref'd) keeps its id() and answers
/// clone() and give() with Status::invalid_argument. Like Object, a Ref is
/// an ordinary value for threads.
class Ref {
public:
    Ref() noexcept = default;
    Ref(const Ref&) = delete;
    Ref& operator=(const Ref&) = delete;
    Ref(Ref&& o) noexcept : handle_(std::move(o.handle_)), id_(o.id_) {}
    Ref& operator=(Ref&& o) noexcept {
        if (this != &o) {
            drop();
            handle_ = std::move(o.handle_);
            id_ = o.id_;
        }
        return *this;
    }
    ~Ref() { drop(); }

    /// Whether it holds a reference.
    explicit operator bool() const noexcept { return handle_ != nullptr; }
    /// The object it refers to (kept when the Ref is emptied).
    const ObjectId& id() const noexcept { return id_; }

    /// Another reference to the same object, through the same handle
    /// (os_ref): Status::not_found if the object is deleted meanwhile
    /// (possible only for one that is not REFCOUNTED, removed by hand).
    Result<Ref> clone() const {
        if (handle_ == nullptr) return empty("clone");
        os_status st = os_ref(handle_->get(), &id_.raw());
        if (st != OS_OK) return Error::last(st);
        return Ref(handle_, id_);
    }

    /// Drops the reference now and reports how that went (the destructor
    /// does the same silently). The Ref is empty afterwards, whatever the
    /// result; unref() of an empty Ref is a no-op.
    Result<void> unref() {
        if (handle_ == nullptr) return {};
        detail::SharedHandle h = std::move(handle_);
        // The status is read before h goes: if this was the handle's last
        // user, os_close follows the os_unref.
        return detail::check(os_unref(h->get(), &id_.raw()));
    }

    /// Gives up ownership without dropping the reference, for code that
    /// manages it by hand (Store::unref(id) or os_unref on Store::raw()):
    /// the Ref is empty afterwards. The reference stays with the store
    /// handle, so that handle must stay open (a Store or an object made from
    /// it alive): closing it drops its references. Store::adopt_ref() makes
    /// a Ref of it again.
    ObjectId release() noexcept {
        handle_.reset();
        return id_;
    }

    /// Moves the reference into a Ticket (os_ref_give) for another process
    /// (or handle) to take with Store::take_ticket(), once; the Ref is empty
    /// afterwards. Until the ticket is taken, the reference is charged to
    /// this process and dropped if the process detaches from the store (it
    /// closes its last handle on it) or dies: keep a Store of the store open
    /// until the taker has it (Store::wait_tickets_taken() waits for that;
    /// Options::ticket_linger makes the detach wait for it). On failure the
    /// Ref keeps its reference.
    Result<Ticket> give() {
        if (handle_ == nullptr) return empty("give");
        std::uint64_t value = 0;
        os_status st = os_ref_give(handle_->get(), &id_.raw(), &value);
        if (st != OS_OK) return Error::last(st);
        handle_.reset();
        return Ticket{id_, value};
    }

private:
    friend class Store;
    Ref(detail::SharedHandle handle, const ObjectId& id) noexcept : handle_(std::move(handle)), id_(id) {}

    void drop() noexcept {
        // An unref of a reference we hold cannot fail short of a bug, and a
        // destructor cannot report it.
        if (handle_ != nullptr) (void)os_unref(handle_->get(), &id_.raw());
        handle_.reset();
    }

    static Error empty(const char* what) {
        return Error(Status::invalid_argument,
                     std::string(what) + ": this Ref is empty (moved from, released, given or unref'd)");
    }

    detail::SharedHandle handle_;  // non-null iff this holds a reference
    ObjectId id_;
};

// ---------------------------------------------------------------------------
// Listing

/// The state of an object in a listing.
enum class ObjectState : std::uint32_t {
    unsealed = OS_OBJECT_UNSEALED,
    sealed = OS_OBJECT_SEALED,
    deleted = OS_OBJECT_DELETED,  ///< removed while pinned; freed at the last release
    spilled = OS_OBJECT_SPILLED,
};

/// One object of a listing (os_object_info).
struct ObjectInfo {
    ObjectId id;
    std::uint64_t data_len = 0;
    std::uint64_t meta_len = 0;
    ObjectState state = ObjectState::sealed;
    std::uint32_t pinning_processes = 0;  ///< processes holding a pin on it
    std::uint64_t created_unix = 0;       ///< Unix time (seconds) of its creation
    /// Processes holding at least one reference (a ticket not taken yet
    /// counts for its giver).
    std::uint32_t referencing_processes = 0;
    std::uint32_t flags = 0;  ///< those it was put with: OS_OBJECT_REFCOUNTED, OS_OBJECT_EVICTABLE
};

/// Where a listing in batches has got to. Start with a default one; done()
/// once the whole store has been listed.
class ListCursor {
public:
    bool done() const noexcept { return pos_ == OS_LIST_END; }

private:
    friend class Store;
    std::uint64_t pos_ = 0;
};

/// Counters of a store (os_store_stats; see the C header for each field).
/// Store::stats() sets its struct_size.
using Stats = os_store_stats;

/// A process attached to a store (os_process_info).
struct ProcessInfo {
    std::uint32_t slot = 0;  ///< its slot in the store's process table
    std::uint32_t pid = 0;
};

// ---------------------------------------------------------------------------
// Store

/// Options for opening a store, as os_options. A zero (or empty) field means
/// the library's default, so fields added later keep their defaults.
/// Opening an existing store takes its capacity and limits from the file;
/// only the flags, spill_dir and remote_url matter then.
struct Options {
    std::uint64_t capacity_bytes = 0;  ///< bytes for objects; 0: 25% of RAM, capped by free space
    std::uint64_t max_objects = 0;     ///< object slots; 0: one per 16 KiB of capacity, >= 65536
    std::uint32_t max_processes = 0;   ///< attached at once (1..4096); 0: 256
    std::string spill_dir;             ///< spill directory; empty: none (a full store gives out_of_memory)
    std::uint32_t mode = 0;            ///< file mode of a new store file; 0: 0600
    bool prefault = false;             ///< OS_OPEN_PREFAULT: reserve and map everything at open
    bool hugepages = false;            ///< OS_OPEN_HUGEPAGES: 2 MiB-aligned arena, transparent huge pages
    bool any_owner = false;            ///< OS_OPEN_ANY_OWNER: accept a store file of another user (a group's)
    /// The remote tier, fixed at creation: "s3://bucket/prefix" (also
    /// "file:///dir"); empty: none. Credentials from the AWS_* environment.
    std::string remote_url;
    /// How long this process's detach from the store (its last handle
    /// closed) waits for the tickets it gave (give_ref(), Ref::give()) to be
    /// taken before they go with it (see Store::wait_tickets_taken()): for a
    /// process that sends references and exits at once. The handles of one
    /// store in a process share their attachment: the longest linger of
    /// their opens holds. 0: none, the tickets go at once. Negative, or
    /// more than UINT32_MAX ms (os_options.ticket_linger_ms), gives Status::
    /// invalid_argument.
    std::chrono::milliseconds ticket_linger{0};
};

/// A handle to an attached store: the C os_store*, shared with the Objects,
/// UnsealedObjects and Refs made from it and closed when the last of them is
/// destroyed. Move-only. An empty Store (default-constructed, moved from,
/// closed) answers every operation with Status::invalid_argument, as the C
/// API does for a NULL handle.
class Store {
public:
    Store() noexcept = default;
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;
    Store(Store&& o) noexcept = default;
    Store& operator=(Store&& o) noexcept = default;
    ~Store() = default;

    /// Opens the store `name`, creating it if it does not exist. A name
    /// without '/' is a store under /dev/shm; with one, a file path.
    static Result<Store> open(const std::string& name, const Options& options = {}) {
        return open_with(name, options, 0);
    }
    /// Attaches to an existing store (OS_OPEN_ATTACH_ONLY): Status::not_found
    /// if there is none. What a worker does.
    static Result<Store> attach(const std::string& name, const Options& options = {}) {
        return open_with(name, options, OS_OPEN_ATTACH_ONLY);
    }
    /// Creates a new store (OS_OPEN_CREATE_ONLY): Status::already_exists if
    /// there is one.
    static Result<Store> create_new(const std::string& name, const Options& options = {}) {
        return open_with(name, options, OS_OPEN_CREATE_ONLY);
    }
    /// Removes the store's files (os_destroy). Processes still attached keep
    /// working on their mapping until they close it.
    static Result<void> destroy(const std::string& name) { return detail::check(os_destroy(name.c_str())); }

    /// Gives up this Store's share of the handle; the Store is empty
    /// afterwards. If no Object, UnsealedObject or Ref made from it is
    /// alive, the handle is closed now (os_close: this process detaches if it
    /// was its last handle) and the result reported; otherwise it is closed,
    /// silently, when the last of them is destroyed, and they stay usable
    /// until then.
    Result<void> close() {
        detail::SharedHandle h = std::move(handle_);
        if (h == nullptr) return detail::check(os_close(nullptr));
        // No other owner can appear meanwhile: only this Store makes them,
        // and it may not be used concurrently with close().
        if (h.use_count() == 1) return detail::check(os_close(h->release()));
        return {};
    }

    /// Whether it holds a handle.
    explicit operator bool() const noexcept { return handle_ != nullptr; }
    /// The C handle, for calling the C API directly (still owned by this
    /// Store and its objects: do not close it).
    os_store* raw() const noexcept { return detail::raw_of(handle_); }

    /// Stores `data` (and `meta`, e.g. a tensor's dtype and shape) as a new
    /// sealed object with a fresh ID. One copy, of the bytes into the store.
    Result<ObjectId> put(Span<const std::byte> data, Span<const std::byte> meta = {}) const {
        os_object_id id;
        os_status st = os_put_with_meta(raw(), data.data(), data.size(), meta.data(), meta.size(), &id);
        if (st != OS_OK) return Error::last(st);
        return ObjectId(id);
    }

    /// put() with object flags (os_put_ex): OS_OBJECT_REFCOUNTED (freed when
    /// no process holds a reference or a pin; this store holds the first
    /// reference) and OS_OBJECT_EVICTABLE (may be deleted when memory runs
    /// short), or-ed.
    Result<ObjectId> put(Span<const std::byte> data, Span<const std::byte> meta, std::uint32_t flags) const {
        os_object_id id;
        os_status st = os_put_ex(raw(), data.data(), data.size(), meta.data(), meta.size(), flags, &id);
        if (st != OS_OK) return Error::last(st);
        return ObjectId(id);
    }

    /// Creates an object of `size` bytes under `id` (with `meta`, copied now)
    /// to be filled in place and sealed: nothing is copied. Status::
    /// already_exists if the ID names a live object (or one removed but
    /// still pinned).
    Result<UnsealedObject> create(const ObjectId& id, std::size_t size, Span<const std::byte> meta = {}) const {
        std::uint8_t* data = nullptr;
        os_status st = os_create(raw(), &id.raw(), size, meta.data(), meta.size(), &data);
        if (st != OS_OK) return Error::last(st);
        return UnsealedObject(handle_, id, data, size);
    }

    /// Creates an object of `size` bytes under a fresh ID that the library
    /// chooses (os_create_new), to be filled in place and sealed: as
    /// create(id, ...) when no ID of your own is needed. Its id() is the new
    /// ID.
    Result<UnsealedObject> create(std::size_t size, Span<const std::byte> meta = {}) const {
        std::uint8_t* data = nullptr;
        os_object_id id;
        os_status st = os_create_new(raw(), size, meta.data(), meta.size(), &id, &data);
        if (st != OS_OK) return Error::last(st);
        return UnsealedObject(handle_, ObjectId(id), data, size);
    }

    /// create() with object flags (os_create_ex), under `id` or, if it is
    /// null, a fresh ID. With OS_OBJECT_REFCOUNTED this store holds the
    /// object's first reference from now on (an abort drops it).
    Result<UnsealedObject> create(const ObjectId* id, std::size_t size, Span<const std::byte> meta,
                                  std::uint32_t flags) const {
        std::uint8_t* data = nullptr;
        os_object_id out;
        os_status st = os_create_ex(raw(), id != nullptr ? &id->raw() : nullptr, size, meta.data(), meta.size(),
                                    flags, &out, &data);
        if (st != OS_OK) return Error::last(st);
        return UnsealedObject(handle_, ObjectId(out), data, size);
    }

    /// Takes one more reference to a sealed object (os_ref): while any
    /// process holds one it is not freed (nor deleted, if REFCOUNTED). Not
    /// a pin: it may be spilled. Status::not_found if absent or deleted.
    /// new_ref() gives it as a Ref, which drops it when destroyed.
    Result<void> ref(const ObjectId& id) const { return detail::check(os_ref(raw(), &id.raw())); }

    /// Drops one of this store's references (os_unref); a REFCOUNTED object
    /// that nothing references or pins any more is deleted. Status::
    /// not_found if this store holds none.
    Result<void> unref(const ObjectId& id) const { return detail::check(os_unref(raw(), &id.raw())); }

    /// Moves one of this store's references into a ticket (os_ref_give), a
    /// number to send to another process, which takes it with take_ref().
    /// Until then it is charged to this process. Ref::give() gives a Ref's
    /// reference as a Ticket.
    Result<std::uint64_t> give_ref(const ObjectId& id) const {
        std::uint64_t ticket = 0;
        os_status st = os_ref_give(raw(), &id.raw(), &ticket);
        if (st != OS_OK) return Error::last(st);
        return ticket;
    }

    /// Takes the reference a ticket holds (os_ref_take): once per ticket.
    /// take_ticket() takes a Ticket as a Ref.
    Result<void> take_ref(const ObjectId& id, std::uint64_t ticket) const {
        return detail::check(os_ref_take(raw(), &id.raw(), ticket));
    }

    /// How many tickets this process gave (give_ref(), Ref::give(), through
    /// any of its handles on the store) that no process has taken yet
    /// (os_tickets_outstanding).
    Result<std::uint64_t> tickets_outstanding() const {
        std::uint64_t n = 0;
        os_status st = os_tickets_outstanding(raw(), &n);
        if (st != OS_OK) return Error::last(st);
        return n;
    }

    /// Waits until every ticket this process gave is taken, up to `timeout`
    /// (by default forever) (os_tickets_wait): what a process that sent
    /// references and is about to close its last handle or exit does, so
    /// that its tickets, and the objects they alone hold, do not go with it
    /// before their receivers take them (Options::ticket_linger makes the
    /// detach do the same). Status::timeout if some are still outstanding
    /// at the end (the message says how many; Timeout::no_wait() looks once
    /// and gives timeout too, not not_found). A take wakes nobody: the
    /// library looks again after sleeps growing to 10 ms, so this returns up
    /// to 10 ms after the last take.
    Result<void> wait_tickets_taken(Timeout timeout = {}) const {
        return detail::check(os_tickets_wait(raw(), timeout.milliseconds(), nullptr));
    }

    /// wait_tickets_taken(), ending early with Status::cancelled when
    /// `cancel` is cancelled from another thread (or was already, unless no
    /// ticket is outstanding).
    Result<void> wait_tickets_taken(Timeout timeout, const Canceller& cancel) const {
        if (!cancel) return empty_canceller();
        return detail::check(os_tickets_wait(raw(), timeout.milliseconds(), cancel.raw()));
    }

    /// put() of a REFCOUNTED object (os_put_ex with OS_OBJECT_REFCOUNTED,
    /// or-ed with `flags`, e.g. OS_OBJECT_EVICTABLE), returning its first
    /// reference as a Ref: the object is freed when the last reference goes
    /// (this Ref's, unless it was cloned or given) and no pin remains.
    Result<Ref> put_ref(Span<const std::byte> data, Span<const std::byte> meta = {}, std::uint32_t flags = 0) const {
        os_object_id id;
        os_status st = os_put_ex(raw(), data.data(), data.size(), meta.data(), meta.size(),
                                 flags | OS_OBJECT_REFCOUNTED, &id);
        if (st != OS_OK) return Error::last(st);
        return Ref(handle_, ObjectId(id));
    }

    /// One more reference to a sealed object, as a Ref (os_ref). Status::
    /// not_found if it is absent or deleted.
    Result<Ref> new_ref(const ObjectId& id) const {
        os_status st = os_ref(raw(), &id.raw());
        if (st != OS_OK) return Error::last(st);
        return Ref(handle_, id);
    }

    /// Takes the reference a Ticket holds (os_ref_take), as a Ref. A ticket
    /// is taken once: Status::not_found for one taken already, dropped with
    /// its giver, or never given (and if the object is gone).
    Result<Ref> take_ticket(const Ticket& ticket) const {
        os_status st = os_ref_take(raw(), &ticket.id.raw(), ticket.value);
        if (st != OS_OK) return Error::last(st);
        return Ref(handle_, ticket.id);
    }

    /// A Ref owning one of the references this Store's handle already
    /// holds: one that Ref::release() gave up, one taken with ref() or
    /// take_ref(), or the first reference of an object made with
    /// create(..., OS_OBJECT_REFCOUNTED) and sealed. No C call: the Ref's
    /// destruction will unref it. An empty Store gives an empty Ref.
    Ref adopt_ref(const ObjectId& id) const noexcept { return Ref(handle_, id); }

    /// Gets and pins an object, waiting up to `timeout` for some process or
    /// thread to seal it — by default forever (see Timeout): Status::
    /// not_found (Timeout::no_wait()) or timeout if it is still absent. An
    /// unsealed object counts as absent.
    Result<Object> get(const ObjectId& id, Timeout timeout = {}) const {
        os_buffer buf;
        os_status st = os_get(raw(), &id.raw(), timeout.milliseconds(), &buf);
        if (st != OS_OK) return Error::last(st);
        return Object(handle_, id, buf);
    }

    /// get(), ending early with Status::cancelled when `cancel` is
    /// cancelled from another thread (or was already, unless the object is
    /// there without waiting). os_get_cancellable.
    Result<Object> get(const ObjectId& id, Timeout timeout, const Canceller& cancel) const {
        if (!cancel) return empty_canceller();
        os_buffer buf;
        os_status st = os_get_cancellable(raw(), &id.raw(), timeout.milliseconds(), cancel.raw(), &buf);
        if (st != OS_OK) return Error::last(st);
        return Object(handle_, id, buf);
    }

    /// Gets and pins several objects, waiting up to `timeout` (by default
    /// forever) for the missing ones (like ray.get on a list). One entry per
    /// ID, in order (an ID may repeat; each entry is its own pin).
    ///
    /// Partial results are not an error: an entry whose object is still
    /// missing at the timeout is an empty Object (`!entry`, with its id()),
    /// while the others are pinned, as in the C API. So check every entry, or
    /// use objstore::all_present(). An Error means nothing was pinned.
    Result<std::vector<Object>> get_many(Span<const ObjectId> ids, Timeout timeout = {}) const {
        return get_many_with(ids, timeout, nullptr);
    }

    /// get_many(), ending early with Status::cancelled when `cancel` is
    /// cancelled from another thread: then it is an Error, and the objects
    /// got before are released (os_get_many_cancellable).
    Result<std::vector<Object>> get_many(Span<const ObjectId> ids, Timeout timeout, const Canceller& cancel) const {
        if (!cancel) return empty_canceller();
        return get_many_with(ids, timeout, cancel.raw());
    }

    /// Waits until at least `num_ready` of the objects `ids` are sealed, or
    /// `timeout` ends (by default forever), taking no pins (os_wait, like
    /// ray.wait): one flag per ID, true when it is sealed (only as many as
    /// `num_ready` are looked for). A timeout is not an error: fewer flags
    /// are true. An Error means a bad argument or a failed store.
    Result<std::vector<bool>> wait(Span<const ObjectId> ids, std::size_t num_ready, Timeout timeout = {}) const {
        return wait_with(ids, num_ready, timeout, nullptr);
    }

    /// wait(), ending early with an Error of Status::cancelled when
    /// `cancel` is cancelled from another thread (os_wait_cancellable).
    Result<std::vector<bool>> wait(Span<const ObjectId> ids, std::size_t num_ready, Timeout timeout,
                                   const Canceller& cancel) const {
        if (!cancel) return empty_canceller();
        return wait_with(ids, num_ready, timeout, cancel.raw());
    }

    /// A wait set of the objects `ids` (os_wait_set_new), for taking results
    /// in the order they finish: WaitSet::next() hands out indices into
    /// `ids`, each object once when it is sealed (an ID given twice, twice).
    /// The objects sealed already are found now and handed out by the first
    /// next(). The set outlives this Store if need be (see WaitSet).
    Result<WaitSet> wait_set(Span<const ObjectId> ids) const {
        std::vector<os_object_id> raw_ids;
        raw_ids.reserve(ids.size());
        for (const ObjectId& id : ids) raw_ids.push_back(id.raw());
        os_wait_set* set = nullptr;
        os_status st = os_wait_set_new(raw(), raw_ids.data(), raw_ids.size(), &set);
        if (st != OS_OK) return Error::last(st);
        return WaitSet(set, ids.size());
    }

    /// Deletes a sealed object (os_delete; `delete` is a C++ keyword). New
    /// gets no longer see it at once; its memory is freed when the last pin
    /// is released. Status::not_found if absent, not_sealed if unsealed.
    Result<void> remove(const ObjectId& id) const { return detail::check(os_delete(raw(), &id.raw())); }

    /// Uploads a sealed object to the store's remote (os_publish), where a
    /// get on any machine whose store has the same remote finds it; OK if it
    /// is published already. `timeout` bounds the upload; by default (and
    /// with no_wait()) only the client's own retries bound it.
    Result<void> publish(const ObjectId& id, Timeout timeout = {}) const {
        return detail::check(os_publish(raw(), &id.raw(), timeout.milliseconds()));
    }

    /// Removes the published copy of an object from the store's remote
    /// (os_unpublish); the local object stays. Status::not_found if it is
    /// not published.
    Result<void> unpublish(const ObjectId& id, Timeout timeout = {}) const {
        return detail::check(os_unpublish(raw(), &id.raw(), timeout.milliseconds()));
    }

    /// Whether a sealed object with this ID is in the store. Does not pin it.
    Result<bool> contains(const ObjectId& id) const {
        bool present = false;
        os_status st = os_contains(raw(), &id.raw(), &present);
        if (st != OS_OK) return Error::last(st);
        return present;
    }

    /// The store's spill directory, fixed when it was created (whatever the
    /// options of this open said); empty when it has none.
    std::string spill_dir() const {
        const char* d = os_spill_dir(raw());
        return d ? std::string(d) : std::string();
    }

    /// The store's remote ("s3://bucket/prefix", ...), fixed when it was
    /// created; empty when it has none.
    std::string remote_url() const {
        const char* u = os_remote_url(raw());
        return u ? std::string(u) : std::string();
    }

    /// The store's counters (one scan of its tables).
    Result<Stats> stats() const {
        Stats s{};
        s.struct_size = sizeof s;
        os_status st = os_stats(raw(), &s);
        if (st != OS_OK) return Error::last(st);
        return s;
    }

    /// Reclaims what dead processes held: their pins and unsealed objects
    /// (which also happens at every attach and when memory runs short).
    Result<void> collect() const { return detail::check(os_collect(raw())); }

    /// The next batch of at most `max_count` objects of a listing that
    /// `cursor` tracks (os_list). The listing is a scan, not a snapshot.
    Result<std::vector<ObjectInfo>> list(ListCursor& cursor, std::size_t max_count) const {
        std::vector<os_object_info> entries(max_count);
        if (!entries.empty()) entries[0].struct_size = sizeof entries[0];
        std::size_t n = 0;
        os_status st = os_list(raw(), &cursor.pos_, entries.data(), entries.size(), &n);
        if (st != OS_OK) return Error::last(st);
        std::vector<ObjectInfo> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            const os_object_info& r = entries[i];
            out.push_back(ObjectInfo{ObjectId(r.id), r.data_len, r.meta_len, static_cast<ObjectState>(r.state),
                                     r.pinning_processes, r.created_unix, r.referencing_processes, r.flags});
        }
        return out;
    }

    /// Every object of the store (a loop of list(cursor, batch)).
    Result<std::vector<ObjectInfo>> list() const {
        std::vector<ObjectInfo> all;
        for (ListCursor cursor; !cursor.done();) {
            Result<std::vector<ObjectInfo>> batch = list(cursor, 1024);
            if (!batch) return batch.error();
            all.insert(all.end(), batch->begin(), batch->end());
        }
        return all;
    }

    /// The live processes attached to the store, this one included.
    Result<std::vector<ProcessInfo>> processes() const {
        return process_list([&](os_process_info* out, std::size_t cap, std::size_t* n) {
            return os_processes(raw(), out, cap, n);
        });
    }

    /// The live processes pinning an object. Status::not_found if there is
    /// no such object.
    Result<std::vector<ProcessInfo>> pin_holders(const ObjectId& id) const {
        return process_list([&](os_process_info* out, std::size_t cap, std::size_t* n) {
            return os_pin_holders(raw(), &id.raw(), out, cap, n);
        });
    }

    /// Checks the store's consistency (os_audit): the problems found, one
    /// sentence each; none on a sound store. Exact on a quiet store; on a
    /// busy one a step in progress elsewhere may show, so look again before
    /// concluding.
    Result<std::vector<std::string>> audit() const {
        std::string report(4096, '\0');
        for (;;) {
            std::size_t problems = 0, needed = 0;
            os_status st = os_audit(raw(), report.data(), report.size(), &problems, &needed);
            if (st != OS_OK) return Error::last(st);
            if (needed <= report.size()) break;
            report.assign(needed, '\0');  // the report did not fit: again, with room
        }
        std::vector<std::string> lines;
        std::string_view text(report.c_str());
        while (!text.empty()) {
            std::size_t end = text.find('\n');
            lines.emplace_back(text.substr(0, end));
            text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        }
        return lines;
    }

private:
    explicit Store(detail::SharedHandle handle) noexcept : handle_(std::move(handle)) {}

    /// get_many with an optional C canceller (nullptr: not cancellable).
    Result<std::vector<Object>> get_many_with(Span<const ObjectId> ids, Timeout timeout,
                                              const os_canceller* cancel) const {
        // Allocate everything before the call: once the C API has pinned
        // objects, nothing may fail before each pin has an owning Object.
        std::vector<os_object_id> raw_ids;
        raw_ids.reserve(ids.size());
        for (const ObjectId& id : ids) raw_ids.push_back(id.raw());
        std::vector<os_buffer> bufs(ids.size());
        std::vector<Object> objects;
        objects.reserve(ids.size());

        os_status st = os_get_many_cancellable(raw(), raw_ids.data(), raw_ids.size(), timeout.milliseconds(), cancel,
                                               bufs.data());
        if (st != OS_OK && st != OS_TIMEOUT && st != OS_NOT_FOUND && st != OS_CANCELLED) return Error::last(st);
        // The error first: the releases below must not replace its message.
        std::optional<Error> cancelled;
        if (st == OS_CANCELLED) cancelled = Error::last(st);
        for (std::size_t i = 0; i < ids.size(); ++i) {
            objects.push_back(bufs[i].data != nullptr ? Object(handle_, ids[i], bufs[i]) : Object(nullptr, ids[i], {}));
        }
        if (cancelled) return *std::move(cancelled);  // `objects` releases what was got
        return objects;
    }

    /// wait with an optional C canceller (nullptr: not cancellable).
    Result<std::vector<bool>> wait_with(Span<const ObjectId> ids, std::size_t num_ready, Timeout timeout,
                                        const os_canceller* cancel) const {
        std::vector<os_object_id> raw_ids;
        raw_ids.reserve(ids.size());
        for (const ObjectId& id : ids) raw_ids.push_back(id.raw());
        std::unique_ptr<bool[]> ready(new bool[ids.size() + 1]());
        os_status st = os_wait_cancellable(raw(), raw_ids.data(), raw_ids.size(), num_ready, timeout.milliseconds(),
                                           cancel, ready.get(), nullptr);
        if (st != OS_OK && st != OS_TIMEOUT) return Error::last(st);
        return std::vector<bool>(ready.get(), ready.get() + ids.size());
    }

    static Error empty_canceller() { return Error(Status::invalid_argument, "the canceller is empty (moved from)"); }


    /// Fills a list of processes from a C call that reports how many there
    /// are, asking again with more room while the list does not fit.
    template <class Call>
    static Result<std::vector<ProcessInfo>> process_list(Call call) {
        std::vector<os_process_info> entries(16);
        std::size_t n = 0;
        for (;;) {
            entries[0].struct_size = sizeof entries[0];
            os_status st = call(entries.data(), entries.size(), &n);
            if (st != OS_OK) return Error::last(st);
            if (n <= entries.size()) break;
            entries.resize(n + 8);
        }
        std::vector<ProcessInfo> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) out.push_back(ProcessInfo{entries[i].slot, entries[i].pid});
        return out;
    }

    static Result<Store> open_with(const std::string& name, const Options& options, std::uint32_t mode_flags) {
        // Start from the C defaults and override only what was set, so a
        // default chosen by the library stays the library's.
        os_options o = os_options_default();
        if (options.capacity_bytes != 0) o.capacity_bytes = options.capacity_bytes;
        if (options.max_objects != 0) o.max_objects = options.max_objects;
        if (options.max_processes != 0) o.max_processes = options.max_processes;
        if (!options.spill_dir.empty()) o.spill_dir = options.spill_dir.c_str();
        if (!options.remote_url.empty()) o.remote_url = options.remote_url.c_str();
        if (options.mode != 0) o.mode = options.mode;
        // os_options.ticket_linger_ms is a uint32_t.
        const auto linger_ms = options.ticket_linger.count();
        if (linger_ms < 0 || linger_ms > 0xffffffffLL) {
            return Error(Status::invalid_argument,
                         "a ticket linger of " + std::to_string(linger_ms) + " ms is not within 0..4294967295 ms");
        }
        o.ticket_linger_ms = static_cast<std::uint32_t>(linger_ms);
        o.flags = mode_flags | (options.prefault ? OS_OPEN_PREFAULT : 0u) |
                  (options.hugepages ? OS_OPEN_HUGEPAGES : 0u) | (options.any_owner ? OS_OPEN_ANY_OWNER : 0u);
        // The shared owner first, so that nothing can fail once the handle
        // exists (only this allocation can, and then nothing is open yet).
        auto handle = std::make_shared<detail::Handle>();
        os_store* raw = nullptr;
        os_status st = os_open(name.c_str(), &o, &raw);
        if (st != OS_OK) return Error::last(st);
        handle->reset(raw);
        return Store(std::move(handle));
    }

    detail::SharedHandle handle_;
};

// ---------------------------------------------------------------------------
// Versions

/// The version of objstore this header declares (OS_VERSION_* of the C
/// header: the same numbers in every language).
inline constexpr unsigned version_major = OS_VERSION_MAJOR;
inline constexpr unsigned version_minor = OS_VERSION_MINOR;
inline constexpr unsigned version_patch = OS_VERSION_PATCH;
/// MAJOR * 1000000 + MINOR * 1000 + PATCH (OS_VERSION_NUMBER).
inline constexpr std::uint32_t version_number = OS_VERSION_NUMBER;

/// The loaded library's version, e.g. "0.1.0".
inline std::string_view version() noexcept { return os_version(); }
/// The loaded library's version as a number (os_version_number()).
inline std::uint32_t library_version_number() noexcept { return os_version_number(); }
/// Whether the loaded library can serve code compiled against this header
/// (os_check_version): Status::incompatible if it is older, or of another
/// major version (for 0.x, another minor).
inline Result<void> check_version() { return detail::check(os_check_version(OS_VERSION_NUMBER)); }

}  // namespace objstore

namespace std {
/// Hashes the ID's bytes, so ObjectId can key unordered containers.
template <>
struct hash<objstore::ObjectId> {
    size_t operator()(const objstore::ObjectId& id) const noexcept {
        const os_object_id& raw = id.raw();
        return hash<string_view>{}(string_view(reinterpret_cast<const char*>(raw.bytes), objstore::ObjectId::size));
    }
};
}  // namespace std

#if defined(__cpp_lib_ranges) && defined(__cpp_lib_span)
// A Span is a view, so a std::span may be made from a temporary one (e.g.
// `std::span<std::byte> s = unsealed.data();`).
namespace std::ranges {
template <class T>
inline constexpr bool enable_borrowed_range<objstore::Span<T>> = true;
}  // namespace std::ranges
#endif

#endif  // OBJSTORE_HPP
