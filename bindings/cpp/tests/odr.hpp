// Functions defined in two translation units (odr_a.cpp, odr_b.cpp) that
// both include objstore.hpp, and in one built as C++20 (cxx20.cpp). If the
// header defined anything that is not inline, the program would not link;
// if the types differed between C++17 and C++20, passing them across these
// functions would break.
#ifndef OBJSTORE_TESTS_ODR_HPP
#define OBJSTORE_TESTS_ODR_HPP

#include <objstore.hpp>

#include <cstddef>
#include <string>

namespace odr {
// odr_a.cpp
objstore::Result<objstore::ObjectId> a_put(const objstore::Store& store, const std::string& text);
std::string a_hex(const objstore::ObjectId& id);
std::size_t a_hash(const objstore::ObjectId& id);
// odr_b.cpp
objstore::Result<std::string> b_read(const objstore::Store& store, const objstore::ObjectId& id);
std::string b_hex(const objstore::ObjectId& id);
std::size_t b_hash(const objstore::ObjectId& id);
// cxx20.cpp (C++20: std::span over objstore::Span)
long cxx20_standard();
std::size_t cxx20_count_bytes(const objstore::Object& object, std::byte value);
void cxx20_fill(objstore::UnsealedObject& object, std::byte value);
objstore::Span<const std::byte> cxx20_round_trip(objstore::Span<const std::byte> bytes);
}  // namespace odr

#endif  // OBJSTORE_TESTS_ODR_HPP
