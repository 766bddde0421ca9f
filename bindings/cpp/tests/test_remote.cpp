// The remote tier through the wrapper: a store publishes to a file://
// remote and a second store (a second machine) gets the object from it;
// a store without a remote cannot publish.
#include "support.hpp"

#include <filesystem>
#include <vector>

using objstore::ObjectId;
using objstore::Status;
using objstore::Store;
using objstore_test::ScopedStoreName;
using objstore_test::StoreTest;
using objstore_test::text;

namespace {

/// A scratch directory for a file:// remote, removed at the end.
struct RemoteDir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 (objstore_test::unique_store_name("remote"));
    RemoteDir() { std::filesystem::create_directories(path); }
    ~RemoteDir() { std::filesystem::remove_all(path); }
    std::string url() const { return "file://" + path.string(); }
};

}  // namespace

TEST(Remote, PublishHereGetThere) {
    RemoteDir dir;
    ScopedStoreName a_name(objstore_test::unique_store_name("a")), b_name(objstore_test::unique_store_name("b"));
    objstore::Options options;
    options.capacity_bytes = 8u << 20;
    options.remote_url = dir.url();
    auto a = Store::create_new(a_name.str(), options);
    auto b = Store::create_new(b_name.str(), options);
    ASSERT_TRUE(a) << a.error();
    ASSERT_TRUE(b) << b.error();
    EXPECT_EQ(a->remote_url(), dir.url());
    EXPECT_EQ(b->remote_url(), dir.url());
    EXPECT_EQ(a->spill_dir(), "");
    std::vector<std::byte> data(200000);
    for (std::size_t i = 0; i < data.size(); i++) data[i] = static_cast<std::byte>(i * 13);
    auto id = a->put(objstore::as_bytes(data), objstore::as_bytes("m"));
    ASSERT_TRUE(id) << id.error();
    ASSERT_TRUE(a->publish(*id, std::chrono::seconds(10)).ok());
    ASSERT_TRUE(a->publish(*id).ok());  // there already
    auto obj = b->get(*id, std::chrono::seconds(10));
    ASSERT_TRUE(obj) << obj.error();
    ASSERT_EQ(obj->data().size(), data.size());
    EXPECT_TRUE(std::equal(data.begin(), data.end(), obj->data().begin()));
    EXPECT_EQ(text(obj->meta()), "m");
    EXPECT_EQ(b->stats().value().fetches_total, 1u);
    ASSERT_TRUE(a->unpublish(*id).ok());
    EXPECT_EQ(a->unpublish(*id).error().status(), Status::not_found);
}

TEST_F(StoreTest, WithoutARemoteNothingIsPublished) {
    ObjectId id = put_text("local only");
    auto r = store_.publish(id);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().status(), Status::invalid_argument);
}
