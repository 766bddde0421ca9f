// consumer.cpp: the C++ stage of the cross-language pipeline (README.md).
//
//   consumer STORE TAG N [--timeout SECONDS]
//
// Opens the store STORE (creating it if no one has yet: a consumer may
// start before everyone else), derives the IDs of the N outputs of run TAG
// and waits for all of them with one get_many (like ray.get on a list),
// however long the producer and the workers take, up to the timeout. Then
// it checks every output exactly: its metadata ("uint32 LEN worker=W/C
// pid=P"), its size, its 64-byte alignment and every value against
// in[k]*2+1, with in[k] recomputed from the protocol's formula; and it
// checks that every input is still in the store, unchanged. It prints a
// summary (and which worker process made how many outputs) and exits 0
// only if everything is right: 1 otherwise (a missing output is named), 2
// for a usage error.
#include <objstore.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace {

// ---- The protocol (README.md, "Protocol"); the C and Go programs have their own copies.

constexpr std::uint64_t kCapacityBytes = 64ull << 20;  // of the store, if this program creates it
constexpr std::uint64_t kMaxItems = 1000;  // what fits the 64 MiB store, with room to spare
enum Stage : std::uint8_t { kInput = 0, kOutput = 1 };

// Bytes 0..8: the run tag, 8..16: the item index (both little-endian), 16:
// the stage, 17..20: zero.
objstore::ObjectId item_id(std::uint64_t tag, std::uint64_t item, Stage stage) {
    os_object_id raw{};
    for (int b = 0; b < 8; ++b) {
        raw.bytes[b] = static_cast<std::uint8_t>(tag >> (8 * b));
        raw.bytes[8 + b] = static_cast<std::uint8_t>(item >> (8 * b));
    }
    raw.bytes[16] = stage;
    return objstore::ObjectId(raw);
}

// Number of uint32 values of item i.
std::size_t item_len(std::uint64_t item) { return static_cast<std::size_t>(1000 + (item * 7919) % 9000); }

// The SplitMix64 finaliser.
std::uint64_t mix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Value k of input i, and what a worker makes of it.
std::uint32_t input_value(std::uint64_t tag, std::uint64_t item, std::uint64_t k) {
    return static_cast<std::uint32_t>(mix64(tag ^ (item << 32) ^ k) >> 32);
}
std::uint32_t output_value(std::uint32_t in) { return in * 2u + 1u; }

// ---- Plumbing

using Clock = std::chrono::steady_clock;

int usage() {
    std::fprintf(stderr,
                 "usage: consumer STORE TAG N [--timeout SECONDS]\n"
                 "  TAG: the run tag (decimal, 64-bit); N: items (1..%llu); timeout default 30\n",
                 static_cast<unsigned long long>(kMaxItems));
    return 2;
}

// A decimal number in [lo, hi].
bool parse_u64(std::string_view s, std::uint64_t lo, std::uint64_t hi, std::uint64_t& out) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    if (v < lo || v > hi) return false;
    out = v;
    return true;
}

// Creates the store, or attaches if it exists, and says which: every
// program of the pipeline may be the first. (Store::open does the same
// without telling.)
objstore::Result<objstore::Store> open_store(const std::string& name, bool& created) {
    objstore::Options options;
    options.capacity_bytes = kCapacityBytes;
    for (int attempt = 0;; ++attempt) {
        auto store = objstore::Store::create_new(name, options);
        if (store || store.error().status() != objstore::Status::already_exists) {
            created = true;
            return store;
        }
        store = objstore::Store::attach(name);
        // Destroyed between the two calls: try again.
        if (store || store.error().status() != objstore::Status::not_found || attempt == 10) {
            created = false;
            return store;
        }
    }
}

std::string meta_text(const objstore::Object& obj) {
    return std::string(reinterpret_cast<const char*>(obj.meta().data()), obj.meta().size());
}

// Checks an object's size, alignment and every value; on a mismatch,
// describes the first one in `why`.
template <class Expected>
bool check_values(const objstore::Object& obj, std::size_t len, Expected expected, std::string& why) {
    if (obj.size() != len * sizeof(std::uint32_t)) {
        why = std::to_string(obj.size()) + " bytes, expected " + std::to_string(len * sizeof(std::uint32_t));
        return false;
    }
    if (reinterpret_cast<std::uintptr_t>(obj.data().data()) % 64 != 0) {
        why = "data not 64-byte aligned";
        return false;
    }
    // In place, in the shared mapping: no copy.
    const auto* v = reinterpret_cast<const std::uint32_t*>(obj.data().data());
    for (std::size_t k = 0; k < len; ++k) {
        if (v[k] != expected(k)) {
            why = "value " + std::to_string(k) + " is " + std::to_string(v[k]) + ", expected " +
                  std::to_string(expected(k));
            return false;
        }
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string_view> pos;
    std::uint64_t timeout_s = 30;
    for (int a = 1; a < argc; ++a) {
        std::string_view arg = argv[a];
        if (arg == "--timeout") {
            if (a + 1 >= argc || !parse_u64(argv[++a], 1, 86400, timeout_s)) return usage();
        } else if (!arg.empty() && arg[0] != '-') {
            pos.push_back(arg);
        } else {
            return usage();
        }
    }
    std::uint64_t tag = 0, n = 0;
    if (pos.size() != 3 || !parse_u64(pos[1], 0, UINT64_MAX, tag) || !parse_u64(pos[2], 1, kMaxItems, n)) {
        return usage();
    }
    const std::string name(pos[0]);
    const long pid = static_cast<long>(getpid());
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::seconds(timeout_s);

    bool created = false;
    auto opened = open_store(name, created);
    if (!opened) {
        std::fprintf(stderr, "consumer (pid %ld): open %s: %s\n", pid, name.c_str(),
                     opened.error().to_string().c_str());
        return 1;
    }
    objstore::Store store = std::move(*opened);
    std::printf("consumer (pid %ld): %s store %s; waiting for %llu outputs of run %llu\n", pid,
                created ? "created" : "attached to", name.c_str(), static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(tag));
    std::fflush(stdout);

    // Wait for every output at once. Those already sealed are pinned at
    // once; the call returns when the last one is sealed, or at the timeout
    // with the missing ones empty.
    std::vector<objstore::ObjectId> out_ids, in_ids;
    for (std::uint64_t i = 0; i < n; ++i) {
        out_ids.push_back(item_id(tag, i, kOutput));
        in_ids.push_back(item_id(tag, i, kInput));
    }
    auto outputs = store.get_many(out_ids, deadline - Clock::now());
    if (!outputs) {
        std::fprintf(stderr, "consumer (pid %ld): get_many: %s\n", pid, outputs.error().to_string().c_str());
        return 1;
    }
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();

    std::uint64_t correct = 0, missing = 0, values = 0;
    std::map<std::string, std::uint64_t> by_worker;  // "W/C pid P" -> outputs made
    for (std::uint64_t i = 0; i < n; ++i) {
        const objstore::Object& obj = (*outputs)[i];
        if (!obj) {
            std::printf("  output %llu (%s): MISSING after %llu s\n", static_cast<unsigned long long>(i),
                        out_ids[i].to_hex().c_str(), static_cast<unsigned long long>(timeout_s));
            ++missing;
            continue;
        }
        const std::size_t len = item_len(i);
        const std::string meta = meta_text(obj);
        const std::string want = "uint32 " + std::to_string(len) + " ";
        std::string why;
        const std::size_t w = meta.find(" worker="), p = meta.find(" pid=");
        if (meta.compare(0, want.size(), want) != 0 || w == std::string::npos || p == std::string::npos || p < w) {
            why = "metadata \"" + meta + "\" is not \"uint32 " + std::to_string(len) + " worker=W/C pid=P\"";
        } else if (check_values(obj, len, [&](std::size_t k) { return output_value(input_value(tag, i, k)); }, why)) {
            ++correct;
            values += len;
            ++by_worker[meta.substr(w + 8, p - w - 8) + " pid " + meta.substr(p + 5)];
            continue;
        }
        std::printf("  output %llu: WRONG: %s\n", static_cast<unsigned long long>(i), why.c_str());
    }

    // The inputs are all there (every output was made from one), and the
    // workers only read them: check they are unchanged.
    std::uint64_t intact = 0;
    std::string absent;  // the inputs not there, on one line
    auto inputs = store.get_many(in_ids, objstore::Timeout::no_wait());
    if (!inputs) {
        std::fprintf(stderr, "consumer (pid %ld): get_many: %s\n", pid, inputs.error().to_string().c_str());
        return 1;
    }
    for (std::uint64_t i = 0; i < n; ++i) {
        const objstore::Object& obj = (*inputs)[i];
        const std::size_t len = item_len(i);
        std::string why;
        if (!obj) {
            absent += " " + std::to_string(i);
            continue;
        }
        if (meta_text(obj) != "uint32 " + std::to_string(len)) {
            why = "metadata \"" + meta_text(obj) + "\"";
        } else if (check_values(obj, len, [&](std::size_t k) { return input_value(tag, i, k); }, why)) {
            ++intact;
            continue;
        }
        std::printf("  input %llu: CHANGED: %s\n", static_cast<unsigned long long>(i), why.c_str());
    }
    if (!absent.empty()) std::printf("  inputs not in the store:%s\n", absent.c_str());
    inputs->clear();  // unpin
    outputs->clear();

    const bool ok = correct == n && intact == n;
    std::printf("consumer (pid %ld): run %llu: %llu/%llu outputs correct (%llu values checked), %llu missing; "
                "%llu/%llu inputs unchanged; waited %.3f s\n",
                pid, static_cast<unsigned long long>(tag), static_cast<unsigned long long>(correct),
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(values),
                static_cast<unsigned long long>(missing), static_cast<unsigned long long>(intact),
                static_cast<unsigned long long>(n), waited);
    for (const auto& [who, count] : by_worker) {
        std::printf("  outputs by worker %s: %llu\n", who.c_str(), static_cast<unsigned long long>(count));
    }
    if (auto closed = store.close(); !closed) {
        std::fprintf(stderr, "consumer (pid %ld): close: %s\n", pid, closed.error().to_string().c_str());
        return 1;
    }
    std::printf("consumer (pid %ld): %s\n", pid, ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
