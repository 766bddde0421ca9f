// The tensor walk-through, in C++ (objstore.hpp).
//
// A driver puts 15 float32 tensors of shape (i, 8, 8), i = 1..15, into a
// fresh store, each with its dtype and shape as metadata, and hands their
// IDs (as hex) to a pool of worker processes: this same program, started
// again with fork() + exec() as `tensor_walkthrough worker STORE HEX...`.
// Each worker gets its tensors by ID (zero-copy), transposes the first two
// axes, (i, 8, 8) -> (8, i, 8), puts each result as a new object (under an
// ID derived from the input's), and writes "INPUT_HEX RESULT_HEX PID" lines
// to its stdout, a pipe to the driver. The driver then checks every result
// against a transpose it computes itself, shows that the original objects
// are unchanged, prints a summary and destroys the store. It exits non-zero
// on any mismatch.
//
// The formats are those of the C walk-through (examples/c), so a driver in
// one language can use workers in the other (--worker-exe):
// - data: float32 values, row-major, native byte order;
// - metadata: the text "float32 D0,D1,D2" (no NUL), e.g. "float32 1,8,8";
// - values: a splitmix64 generator seeded with 42, one draw per value in
//   order (tensor 1 first), value = (draw >> 40) / 2^24, in [0, 1);
// - a result's ID: the input's ID with every bit flipped;
// - the printed checksum: FNV-1a (64-bit) over all input bytes in order.
//
// Usage: tensor_walkthrough [--workers N] [--worker-exe PATH]
#include <objstore.hpp>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using objstore::ObjectId;
using objstore::Store;

constexpr int kTensors = 15;
constexpr std::uint64_t kRows = 8, kCols = 8;
constexpr std::uint64_t kSeed = 42;
constexpr int kMaxWorkers = 15;

// ---- shared with the C walk-through -----------------------------------------

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

using Shape = std::vector<std::uint64_t>;

std::string format_meta(const Shape& shape) {
    std::string meta = "float32 ";
    for (std::size_t d = 0; d < shape.size(); ++d) meta += (d ? "," : "") + std::to_string(shape[d]);
    return meta;
}

/// The shape in metadata "float32 D0,D1,...", or nothing if it is not that.
std::optional<Shape> parse_meta(objstore::Span<const std::byte> meta) {
    std::string_view text(reinterpret_cast<const char*>(meta.data()), meta.size());
    constexpr std::string_view prefix = "float32 ";
    if (text.size() <= prefix.size() || text.substr(0, prefix.size()) != prefix) return std::nullopt;
    text.remove_prefix(prefix.size());
    Shape shape;
    for (;;) {
        std::uint64_t dim = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), dim);
        if (ec != std::errc() || end == text.data() || dim == 0 || shape.size() == 8) return std::nullopt;
        shape.push_back(dim);
        text.remove_prefix(static_cast<std::size_t>(end - text.data()));
        if (text.empty()) return shape;
        if (text.front() != ',' || text.size() == 1) return std::nullopt;
        text.remove_prefix(1);
    }
}

/// FNV-1a over bytes, continuing from `h`: a checksum of the inputs, which
/// the C and C++ walk-throughs print identically.
std::uint64_t fnv1a(std::uint64_t h, objstore::Span<const std::byte> bytes) {
    for (std::byte b : bytes) h = (h ^ std::to_integer<std::uint64_t>(b)) * 0x100000001b3u;
    return h;
}

ObjectId result_id_of(const ObjectId& input) {
    os_object_id raw = input.raw();
    for (auto& b : raw.bytes) b = static_cast<std::uint8_t>(~b);
    return ObjectId(raw);
}

/// out (b, a, c) = in (a, b, c) with the first two axes swapped.
void transpose01(const float* in, float* out, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
    for (std::uint64_t i = 0; i < a; ++i)
        for (std::uint64_t j = 0; j < b; ++j) std::memcpy(&out[(j * a + i) * c], &in[(i * b + j) * c], c * sizeof(float));
}

/// Object data is 64-byte aligned and holds floats written by another
/// process; viewing it as floats in place is the zero-copy point of the store.
const float* as_floats(objstore::Span<const std::byte> bytes) { return reinterpret_cast<const float*>(bytes.data()); }

std::size_t element_count(const Shape& shape) {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

// ---- worker -------------------------------------------------------------------

int fail(std::string_view what, const objstore::Error& e) {
    std::cerr << "tensor_walkthrough[" << ::getpid() << "]: " << what << ": " << e << "\n";
    return 1;
}

/// Transposes the tensor `hex` into a new object; prints "IN OUT PID".
int work_one(const Store& store, const std::string& hex) {
    auto in_id = ObjectId::from_hex(hex);
    if (!in_id) return fail("parse ID", in_id.error());
    auto in = store.get(*in_id, 10s);
    if (!in) return fail("get input", in.error());
    auto shape = parse_meta(in->meta());
    if (!shape || shape->size() != 3 || element_count(*shape) * sizeof(float) != in->size()) {
        std::cerr << "tensor_walkthrough: " << hex << ": bad metadata for " << in->size() << " bytes\n";
        return 1;
    }
    const Shape& s = *shape;
    // Build the result in place: create, write, seal (no copy).
    auto out = store.create(result_id_of(*in_id), in->size(), objstore::as_bytes(format_meta({s[1], s[0], s[2]})));
    if (!out) return fail("create result", out.error());
    transpose01(as_floats(in->data()), reinterpret_cast<float*>(out->data().data()), s[0], s[1], s[2]);
    if (auto sealed = out->seal(); !sealed) return fail("seal result", sealed.error());
    std::cout << hex << ' ' << out->id().to_hex() << ' ' << ::getpid() << std::endl;
    return std::cout ? 0 : 1;
}  // `in` is released here

int worker_main(const std::string& store_name, const std::vector<std::string>& hexes) {
    auto store = Store::attach(store_name);
    if (!store) return fail("attach", store.error());
    for (const auto& hex : hexes) {
        if (int rc = work_one(*store, hex); rc != 0) return rc;
    }
    return 0;
}

// ---- driver ---------------------------------------------------------------------

struct Tensor {
    std::uint64_t rows = 0;      // i: shape (i, 8, 8)
    std::vector<float> values;   // what the driver put
    ObjectId id;                 // the input object
    std::optional<ObjectId> result;
    long worker_pid = 0;
};

/// A worker process and the read end of its stdout. Reaped (and killed, if
/// the driver gives up on it early) on destruction.
class Worker {
public:
    Worker() = default;
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker() {
        if (out_ != nullptr) std::fclose(out_);
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    /// Starts `exe worker STORE HEX...`.
    bool spawn(const std::string& exe, const std::string& store_name, const std::vector<std::string>& hexes) {
        std::vector<std::string> args{exe, "worker", store_name};
        args.insert(args.end(), hexes.begin(), hexes.end());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);

        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) return false;
        pid_ = ::fork();
        if (pid_ < 0) {
            ::close(fds[0]);
            ::close(fds[1]);
            return false;
        }
        if (pid_ == 0) {
            // The child must not use the driver's Store; it execs a fresh
            // program that attaches by name.
            ::dup2(fds[1], STDOUT_FILENO);
            ::execv(exe.c_str(), argv.data());
            std::fprintf(stderr, "tensor_walkthrough: exec %s: %s\n", exe.c_str(), std::strerror(errno));
            ::_exit(127);
        }
        ::close(fds[1]);
        out_ = ::fdopen(fds[0], "r");
        return out_ != nullptr;
    }

    /// Its "IN OUT PID" lines, until it closes its stdout.
    std::vector<std::string> lines() {
        std::vector<std::string> lines;
        char buf[256];
        while (std::fgets(buf, sizeof buf, out_) != nullptr) lines.emplace_back(buf);
        return lines;
    }

    /// Waits for it; whether it exited with status 0.
    bool succeeded() {
        int status = 0;
        ::waitpid(std::exchange(pid_, -1), &status, 0);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }

    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    std::FILE* out_ = nullptr;
};

/// Gets `id` and compares its shape and values with what is expected.
std::string check_object(const Store& store, const ObjectId& id, const Shape& want_shape, const std::vector<float>& want) {
    auto obj = store.get(id, objstore::Timeout::no_wait());  // a check: absent is a finding
    if (!obj) return std::string(objstore::to_string(obj.error().status()));
    auto shape = parse_meta(obj->meta());
    if (!shape || *shape != want_shape) return "wrong shape";
    if (obj->size() != want.size() * sizeof(float)) return "wrong size";
    if (reinterpret_cast<std::uintptr_t>(obj->data().data()) % 64 != 0) return "misaligned";
    if (std::memcmp(obj->data().data(), want.data(), obj->size()) != 0) return "values differ";
    return "ok";
}

/// Destroys the store when the driver returns, however it returns.
struct DestroyOnExit {
    std::string name;
    ~DestroyOnExit() { (void)Store::destroy(name); }
};

int driver_main(int nworkers, const std::string& worker_exe) {
    const std::string store_name = "objstore-tensors-cpp-" + std::to_string(::getpid());
    objstore::Options options;
    options.capacity_bytes = 64u << 20;
    auto created = Store::create_new(store_name, options);
    if (!created) return fail("create store", created.error());
    DestroyOnExit destroy{store_name};
    Store store = std::move(created).value();
    std::cout << "store /dev/shm/" << store_name << ": 64 MiB, " << nworkers << " worker processes (" << worker_exe
              << ")\n";

    // 1. Put the inputs.
    std::vector<Tensor> tensors(kTensors);
    std::uint64_t rng = kSeed, checksum = 0xcbf29ce484222325u;
    for (int n = 0; n < kTensors; ++n) {
        Tensor& t = tensors[static_cast<std::size_t>(n)];
        t.rows = static_cast<std::uint64_t>(n) + 1;
        t.values.resize(t.rows * kRows * kCols);
        for (float& v : t.values) v = static_cast<float>(splitmix64(rng) >> 40) / 16777216.0f;
        auto id = store.put(objstore::as_bytes(t.values), objstore::as_bytes(format_meta({t.rows, kRows, kCols})));
        if (!id) return fail("put", id.error());
        t.id = *id;
        checksum = fnv1a(checksum, objstore::as_bytes(t.values));
    }
    std::printf("put %d tensors of shape (i,8,8), i = 1..%d, float32, seed %llu, checksum %016llx\n", kTensors, kTensors,
                static_cast<unsigned long long>(kSeed), static_cast<unsigned long long>(checksum));

    // 2. Hand the IDs to the workers and collect their result IDs. Each
    // writes a few hundred bytes, far below a pipe's buffer, so reading the
    // pipes one after another cannot deadlock.
    int errors = 0;
    {
        std::vector<Worker> workers(static_cast<std::size_t>(nworkers));
        for (int w = 0; w < nworkers; ++w) {
            std::vector<std::string> hexes;
            for (int n = w; n < kTensors; n += nworkers) hexes.push_back(tensors[static_cast<std::size_t>(n)].id.to_hex());
            if (!workers[static_cast<std::size_t>(w)].spawn(worker_exe, store_name, hexes)) {
                std::cerr << "driver: cannot start a worker: " << std::strerror(errno) << "\n";
                return 1;
            }
        }
        std::map<ObjectId, Tensor*> by_id;
        for (auto& t : tensors) by_id[t.id] = &t;
        for (auto& w : workers) {
            for (const std::string& line : w.lines()) {
                std::istringstream fields(line);
                std::string in_hex, out_hex;
                long pid = 0;
                fields >> in_hex >> out_hex >> pid;
                auto in = ObjectId::from_hex(in_hex);
                auto out = ObjectId::from_hex(out_hex);
                if (!in || !out || by_id.count(*in) == 0) {
                    std::cerr << "driver: unexpected line from a worker: " << line;
                    ++errors;
                    continue;
                }
                by_id[*in]->result = *out;
                by_id[*in]->worker_pid = pid;
            }
            const pid_t pid = w.pid();
            if (!w.succeeded()) {
                std::cerr << "driver: worker " << pid << " failed\n";
                ++errors;
            }
        }
    }

    // 3. Check every result against a transpose computed here, and 4. that
    // every input is unchanged: objects are immutable.
    int results_ok = 0, originals_ok = 0;
    for (const Tensor& t : tensors) {
        std::string verdict = "no result reported";
        if (t.result) {
            std::vector<float> expect(t.values.size());
            transpose01(t.values.data(), expect.data(), t.rows, kRows, kCols);
            verdict = check_object(store, *t.result, {kRows, t.rows, kCols}, expect);
        }
        results_ok += verdict == "ok";
        // IDs shortened to their last 10 hex digits (the first 24 of put's
        // IDs are a per-process prefix).
        std::string result = t.result ? ".." + t.result->to_hex().substr(30) : "(none)";
        std::string worker = t.result ? std::to_string(t.worker_pid) : "-";
        std::printf("  tensor %2d  (%2llu,8,8) -> (8,%2llu,8)  id ..%s -> %-12s  worker %-7s %s\n",
                    static_cast<int>(t.rows), static_cast<unsigned long long>(t.rows),
                    static_cast<unsigned long long>(t.rows), t.id.to_hex().substr(30).c_str(), result.c_str(),
                    worker.c_str(), verdict.c_str());
        std::string original = check_object(store, t.id, {t.rows, kRows, kCols}, t.values);
        if (original == "ok") {
            ++originals_ok;
        } else {
            std::printf("  tensor %2d: original changed: %s\n", static_cast<int>(t.rows), original.c_str());
        }
    }
    std::cout << "results correct: " << results_ok << "/" << kTensors << "; originals unchanged: " << originals_ok
              << "/" << kTensors << "\n";
    if (results_ok != kTensors || originals_ok != kTensors) ++errors;

    if (auto stats = store.stats()) {
        std::cout << "store: " << stats->object_count << " objects, " << stats->pinned_count << " pinned, "
                  << (stats->used_bytes >> 10) << " KiB used\n";
    }
    if (auto closed = store.close(); !closed) errors += fail("close", closed.error());
    if (auto destroyed = Store::destroy(store_name); !destroyed) errors += fail("destroy store", destroyed.error());
    std::cout << (errors ? "FAILED" : "OK: store destroyed") << std::endl;
    return errors ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 3 && std::string_view(argv[1]) == "worker") {
        return worker_main(argv[2], std::vector<std::string>(argv + 3, argv + argc));
    }
    int nworkers = 4;
    std::string worker_exe;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--workers" && i + 1 < argc) {
            nworkers = std::atoi(argv[++i]);
        } else if (arg == "--worker-exe" && i + 1 < argc) {
            worker_exe = argv[++i];
        } else {
            std::cerr << "usage: " << argv[0] << " [--workers N] [--worker-exe PATH]\n";
            return 2;
        }
    }
    if (nworkers < 1 || nworkers > kMaxWorkers) {
        std::cerr << "--workers must be 1.." << kMaxWorkers << "\n";
        return 2;
    }
    if (worker_exe.empty()) {  // this very binary
        std::array<char, 4096> self{};
        ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
        if (n <= 0) return 2;
        worker_exe.assign(self.data(), static_cast<std::size_t>(n));
    }
    return driver_main(nworkers, worker_exe);
}
