// Test support: a fixture that gives every test its own store and destroys
// it when the test ends, also after a failed assertion (and sweeps stores
// left by test processes that crashed), and RAII helpers for forked
// children and pipes that clean up after a failed assertion too.
#ifndef OBJSTORE_TESTS_SUPPORT_HPP
#define OBJSTORE_TESTS_SUPPORT_HPP

#include <objstore.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <dirent.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace objstore_test {

/// A store name unique to this process and test: "objstore-cpptest-PID-SUITE-TEST[-suffix]".
inline std::string unique_store_name(std::string_view suffix = {}) {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "objstore-cpptest-" + std::to_string(::getpid());
    if (info != nullptr) name += std::string("-") + info->test_suite_name() + "-" + info->name();
    if (!suffix.empty()) name += "-" + std::string(suffix);
    for (char& c : name) {
        if (c == '/') c = '_';  // parameterized test names; '/' would make it a path
    }
    return name;
}

/// Destroys the stores that test processes which died without their
/// TearDown (a crash, a kill) left in /dev/shm: "objstore-cpptest-PID-..."
/// whose PID is not alive. Assertion failures never leave any; this keeps a
/// crashed run from leaking memory into the next.
inline void remove_stale_stores() {
    const std::string prefix = "objstore-cpptest-";
    DIR* dir = ::opendir("/dev/shm");
    if (dir == nullptr) return;
    while (const dirent* entry = ::readdir(dir)) {
        std::string name = entry->d_name;
        if (name.compare(0, prefix.size(), prefix) != 0) continue;
        long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
        if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
            (void)objstore::Store::destroy(name);
        }
    }
    ::closedir(dir);
}

/// Destroys the store `name` when it goes out of scope (if it still exists).
class ScopedStoreName {
public:
    explicit ScopedStoreName(std::string name) : name_(std::move(name)) { (void)objstore::Store::destroy(name_); }
    ScopedStoreName(const ScopedStoreName&) = delete;
    ScopedStoreName& operator=(const ScopedStoreName&) = delete;
    ~ScopedStoreName() { (void)objstore::Store::destroy(name_); }
    const std::string& str() const noexcept { return name_; }

private:
    std::string name_;
};

/// Every test gets a fresh store `store_` named `name()` (16 MiB), closed and
/// destroyed in TearDown, which gtest runs even when an assertion failed.
class StoreTest : public ::testing::Test {
protected:
    static constexpr std::uint64_t kCapacity = 16u << 20;

    void SetUp() override {
        static const bool swept = (remove_stale_stores(), true);
        (void)swept;
        name_.emplace(unique_store_name());
        objstore::Options options;
        options.capacity_bytes = kCapacity;
        auto store = objstore::Store::create_new(name(), options);
        ASSERT_TRUE(store) << store.error();
        store_ = std::move(store).value();
    }

    void TearDown() override {
        store_ = objstore::Store();  // close before destroying
        name_.reset();
    }

    const std::string& name() const { return name_->str(); }

    /// The store's counters (fails the test if they cannot be read).
    objstore::Stats stats() const {
        auto s = store_.stats();
        EXPECT_TRUE(s) << s.error();
        return s ? *s : objstore::Stats{};
    }

    /// Puts `text` and returns its ID (fails the test if it cannot).
    objstore::ObjectId put_text(std::string_view text, std::string_view meta = {}) const {
        auto id = store_.put(objstore::as_bytes(text), objstore::as_bytes(meta));
        EXPECT_TRUE(id) << id.error();
        return id ? *id : objstore::ObjectId();
    }

    std::optional<ScopedStoreName> name_;
    objstore::Store store_;
};

/// The bytes of a span as text, for comparisons in assertions.
inline std::string text(objstore::Span<const std::byte> bytes) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

/// An ID with every byte `fill` (IDs chosen by the caller, for create()).
inline objstore::ObjectId fixed_id(std::uint8_t fill) {
    os_object_id raw;
    for (auto& b : raw.bytes) b = fill;
    return objstore::ObjectId(raw);
}

/// A pipe for handshakes between a test and its forked child.
class Pipe {
public:
    Pipe() {
        if (::pipe(fds_) != 0) fds_[0] = fds_[1] = -1;
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    ~Pipe() {
        for (int fd : fds_) {
            if (fd >= 0) ::close(fd);
        }
    }
    bool ok() const { return fds_[0] >= 0; }
    bool send(char c) { return ::write(fds_[1], &c, 1) == 1; }
    /// Blocks for one byte; false at EOF (the writer end closed everywhere).
    bool receive(char& c) {
        for (;;) {
            ssize_t n = ::read(fds_[0], &c, 1);
            if (n == 1) return true;
            if (n == 0 || errno != EINTR) return false;
        }
    }
    void close_write() {
        if (fds_[1] >= 0) ::close(std::exchange(fds_[1], -1));
    }

private:
    int fds_[2];
};

/// A child process made by fork() that runs `body` and exits with its
/// return value, never returning into the test framework. If the test ends
/// before wait() (a failed assertion), the destructor kills and reaps it.
class Child {
public:
    template <class Body>
    explicit Child(Body&& body) {
        pid_ = ::fork();
        if (pid_ == 0) {
            int code = 100;
            try {
                code = body();
            } catch (...) {
                code = 101;
            }
            ::_exit(code);  // no atexit handlers, no gtest teardown in the child
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    bool started() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }

    /// Waits for the child: its exit code, or 128 + the signal that killed it.
    int wait() {
        int status = 0;
        pid_t pid = std::exchange(pid_, -1);
        while (::waitpid(pid, &status, 0) < 0) {
            if (errno != EINTR) return -1;
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

private:
    pid_t pid_ = -1;
};

}  // namespace objstore_test

#endif  // OBJSTORE_TESTS_SUPPORT_HPP
