// Built as C++20 and linked with the C++17 tests: objstore::Span converts to
// and from std::span, and objects made in C++17 code are used here.
#include "odr.hpp"

#include <algorithm>
#include <ranges>
#include <span>

static_assert(__cplusplus >= 202002L, "this file must be built as C++20");
static_assert(std::ranges::contiguous_range<objstore::Span<const std::byte>>);
static_assert(std::ranges::borrowed_range<objstore::Span<std::byte>>);

namespace odr {

long cxx20_standard() { return __cplusplus; }

std::size_t cxx20_count_bytes(const objstore::Object& object, std::byte value) {
    std::span<const std::byte> view = object.data();  // implicit, no copy
    return static_cast<std::size_t>(std::ranges::count(view, value));
}

void cxx20_fill(objstore::UnsealedObject& object, std::byte value) {
    std::span<std::byte> writable = object.data();  // from a temporary Span: a borrowed range
    std::ranges::fill(writable, value);
}

objstore::Span<const std::byte> cxx20_round_trip(objstore::Span<const std::byte> bytes) {
    std::span<const std::byte> std_span = bytes;
    objstore::Span<const std::byte> back = std_span;  // and back
    return back;
}

}  // namespace odr
