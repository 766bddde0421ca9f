// tensor_interop.c (beside this file) in C++, with the wrapper objstore.hpp:
// reads a tensor Python wrote and writes one back, through the value format
// of objstore's Python binding (bindings/python/src/objstore/_format.py):
//
//     tensor_interop STORE IN_HEX OUT_HEX
//
// IN must be a C-order float32 ndarray object (kind 4, dtype "<f4"; any
// hint, so a torch tensor or a numpy array). OUT is written as the same
// shape, every value doubled, with hint 1 (a torch tensor to Python).
// Prints "hint H shape D0xD1... sum S" and exits 0, or says what is wrong
// and exits 1 (2 for a usage error): the same contract, output and messages
// as the C program, so tests/test_interop.py runs both alike.
#include <objstore.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

int fail(const char* what, const objstore::Error& e) {
    std::fprintf(stderr, "tensor_interop: %s: %s\n", what, e.to_string().c_str());
    return 1;
}

int fail(const char* what) {
    std::fprintf(stderr, "tensor_interop: %s\n", what);
    return 1;
}

std::uint64_t le(const std::byte* p, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = n; i-- > 0;) v = v << 8 | std::to_integer<std::uint64_t>(p[i]);
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: tensor_interop STORE IN_HEX OUT_HEX\n");
        return 2;
    }
    auto store = objstore::Store::attach(argv[1]);
    if (!store) return fail("open", store.error());
    auto in = objstore::ObjectId::from_hex(argv[2]);
    if (!in) return fail("id", in.error());
    auto out = objstore::ObjectId::from_hex(argv[3]);
    if (!out) return fail("id", out.error());
    auto obj = store->get(*in, std::chrono::milliseconds(1000));
    if (!obj) return fail("get", obj.error());

    // Header: magic, version 1, kind 4 (ndarray), hint; then order, dtype
    // form, dtype length, dtype, ndim, shape.
    objstore::Span<const std::byte> m = obj->meta();
    const std::size_t n = m.size();
    if (n < 13 || std::memcmp(m.data(), "OSPY", 4) != 0 || m[4] != std::byte{1} || m[5] != std::byte{4}) {
        return fail("not an ndarray object of format version 1");
    }
    const auto hint = static_cast<unsigned>(le(m.data() + 6, 2));
    const auto dlen = static_cast<std::size_t>(le(m.data() + 10, 2));
    if (m[8] != std::byte{'C'} || m[9] != std::byte{0} || dlen != 3 || n < 13 + dlen ||
        std::memcmp(m.data() + 12, "<f4", 3) != 0) {
        return fail("not a C-order float32 array");
    }
    const auto ndim = std::to_integer<std::size_t>(m[12 + dlen]);
    const std::byte* shape = m.data() + 13 + dlen;
    if (n != 13 + dlen + 8 * ndim) {
        std::fprintf(stderr, "tensor_interop: metadata of %zu bytes for %zu dimensions\n", n, ndim);
        return 1;
    }
    // A damaged shape's product could wrap to the data's length: every step
    // is checked.
    std::size_t count = 1;
    bool overflow = false;
    std::printf("hint %u shape ", hint);
    for (std::size_t i = 0; i < ndim; i++) {
        const std::uint64_t d = le(shape + 8 * i, 8);
        if (d != 0 && (d > SIZE_MAX || count > SIZE_MAX / sizeof(float) / static_cast<std::size_t>(d))) {
            overflow = true;
        } else {
            count *= static_cast<std::size_t>(d);
        }
        std::printf("%s%llu", i ? "x" : "", static_cast<unsigned long long>(d));
    }
    if (overflow) return fail("the shape's element count overflows");
    if (count * sizeof(float) != obj->size()) {
        std::fprintf(stderr, "tensor_interop: %zu elements in %zu bytes\n", count, obj->size());
        return 1;
    }
    // The data is 64-byte aligned in the shared mapping.
    const auto* x = reinterpret_cast<const float*>(obj->data().data());
    double sum = 0;
    for (std::size_t i = 0; i < count; i++) sum += x[i];
    std::printf(" sum %.1f\n", sum);

    // Write OUT: the same metadata with hint 1, the values doubled.
    std::vector<std::byte> meta(m.begin(), m.end());
    meta[6] = std::byte{1};
    meta[7] = std::byte{0};
    auto created = store->create(*out, obj->size(), meta);
    if (!created) return fail("create", created.error());
    auto* dst = reinterpret_cast<float*>(created->data().data());
    for (std::size_t i = 0; i < count; i++) dst[i] = 2 * x[i];
    if (auto sealed = created->seal(); !sealed) return fail("seal", sealed.error());
    if (auto released = obj->release(); !released) return fail("release", released.error());
    if (auto closed = store->close(); !closed) return fail("close", closed.error());
    return 0;
}
