// The calls added beside the basic ones: create under a fresh ID, the
// processes, pin holders, the audit, the any_owner option and the version.
#include "support.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <unistd.h>

using objstore::ObjectId;
using objstore::Status;
using objstore::Store;
using objstore_test::Child;
using objstore_test::Pipe;
using objstore_test::StoreTest;
using objstore_test::text;

TEST_F(StoreTest, CreateWithoutAnIdGetsAFreshOne) {
    auto a = store_.create(3, objstore::as_bytes("m"));
    auto b = store_.create(3);
    ASSERT_TRUE(a) << a.error();
    ASSERT_TRUE(b) << b.error();
    EXPECT_NE(a->id(), b->id());
    std::memcpy(a->data().data(), "new", 3);
    ObjectId id = a->id();
    ASSERT_TRUE(a->seal().ok());
    ASSERT_TRUE(b->abort().ok());
    auto obj = store_.get(id, objstore::Timeout::no_wait());
    ASSERT_TRUE(obj) << obj.error();
    EXPECT_EQ(text(obj->data()), "new");
    EXPECT_EQ(text(obj->meta()), "m");
}

TEST_F(StoreTest, ProcessesAndPinHoldersNameTheProcesses) {
    ObjectId id = put_text("pinned twice");
    auto procs = store_.processes();
    ASSERT_TRUE(procs) << procs.error();
    ASSERT_EQ(procs->size(), 1u);
    EXPECT_EQ((*procs)[0].pid, static_cast<std::uint32_t>(::getpid()));
    EXPECT_TRUE(store_.pin_holders(id).value().empty());
    EXPECT_EQ(store_.pin_holders(objstore_test::fixed_id(0x44)).error().status(), Status::not_found);

    Pipe ready, done;
    ASSERT_TRUE(ready.ok() && done.ok());
    Child child([&] {
        auto mine = Store::attach(name());
        if (!mine) return 1;
        auto obj = mine->get(id, objstore::Timeout::no_wait());
        if (!obj) return 2;
        char c;
        return ready.send('r') && done.receive(c) ? 0 : 3;
    });
    ASSERT_TRUE(child.started());
    ready.close_write();
    char c;
    ASSERT_TRUE(ready.receive(c));
    auto obj = store_.get(id);
    ASSERT_TRUE(obj) << obj.error();

    EXPECT_EQ(store_.processes().value().size(), 2u);
    auto holders = store_.pin_holders(id);
    ASSERT_TRUE(holders) << holders.error();
    ASSERT_EQ(holders->size(), 2u);
    bool saw_child = false, saw_self = false;
    for (const auto& p : *holders) {
        saw_child |= p.pid == static_cast<std::uint32_t>(child.pid());
        saw_self |= p.pid == static_cast<std::uint32_t>(::getpid());
    }
    EXPECT_TRUE(saw_child && saw_self);
    ASSERT_TRUE(done.send('d'));
    EXPECT_EQ(child.wait(), 0);
    auto after = store_.pin_holders(id).value();
    ASSERT_EQ(after.size(), 1u);
    EXPECT_EQ(after[0].pid, static_cast<std::uint32_t>(::getpid()));
}

TEST_F(StoreTest, AuditOfASoundStoreFindsNothing) {
    put_text("a");
    auto unsealed = store_.create(objstore_test::fixed_id(3), 10);
    ASSERT_TRUE(unsealed) << unsealed.error();
    auto problems = store_.audit();
    ASSERT_TRUE(problems) << problems.error();
    EXPECT_TRUE(problems->empty()) << (*problems)[0];
}

TEST(Audit, FindsSpilledObjectsWhoseFilesWereRemoved) {
    objstore_test::ScopedStoreName name(objstore_test::unique_store_name());
    std::filesystem::path dir = std::filesystem::temp_directory_path() / (name.str() + "-spill");
    objstore::Options options;
    options.capacity_bytes = 2u << 20;
    options.spill_dir = dir.string();
    auto store = Store::create_new(name.str(), options);
    ASSERT_TRUE(store) << store.error();
    EXPECT_EQ(store->spill_dir(), dir.string());
    EXPECT_EQ(store->remote_url(), "");
    std::vector<std::byte> block(100000);
    for (int i = 0; i < 100 && store->stats().value().spilled_count < 2; ++i) {
        ASSERT_TRUE(store->put(block)) << "put " << i;
    }
    const auto spilled = store->stats().value().spilled_count;
    ASSERT_GE(spilled, 2u);
    for (const auto& entry : std::filesystem::directory_iterator(dir)) std::filesystem::remove(entry.path());

    auto problems = store->audit();
    ASSERT_TRUE(problems) << problems.error();
    EXPECT_EQ(problems->size(), spilled);
    for (const auto& p : *problems) EXPECT_NE(p.find("no spill file"), std::string::npos) << p;
    store = Store();
    std::filesystem::remove_all(dir);
}

TEST(Options, AnyOwnerIsAccepted) {
    objstore_test::ScopedStoreName name(objstore_test::unique_store_name());
    objstore::Options options;
    options.capacity_bytes = 1u << 20;
    options.any_owner = true;
    auto store = Store::open(name.str(), options);
    ASSERT_TRUE(store) << store.error();
    EXPECT_TRUE(Store::attach(name.str(), options));
}

TEST(Version, TheHeadersVersionIsTheLibrarys) {
    static_assert(objstore::version_number ==
                      objstore::version_major * 1000000u + objstore::version_minor * 1000u + objstore::version_patch,
                  "one number");
    std::string text = std::to_string(objstore::version_major) + "." + std::to_string(objstore::version_minor) + "." +
                       std::to_string(objstore::version_patch);
    EXPECT_EQ(objstore::version(), text);
    EXPECT_EQ(objstore::library_version_number(), objstore::version_number);
    EXPECT_TRUE(objstore::check_version().ok());
}
