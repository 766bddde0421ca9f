// The header in several translation units of one program (see odr.hpp).
#include "odr.hpp"
#include "support.hpp"

#include <cstring>

using objstore_test::StoreTest;

TEST_F(StoreTest, TwoTranslationUnitsShareTypesAndInlineFunctions) {
    auto id = odr::a_put(store_, "written in a.cpp");
    ASSERT_TRUE(id) << id.error();
    auto read = odr::b_read(store_, *id);
    ASSERT_TRUE(read) << read.error();
    EXPECT_EQ(*read, "written in a.cpp");
    EXPECT_EQ(odr::a_hex(*id), odr::b_hex(*id));
    EXPECT_EQ(odr::a_hex(*id), id->to_hex());
    EXPECT_EQ(odr::a_hash(*id), odr::b_hash(*id));
    EXPECT_EQ(odr::a_hash(*id), std::hash<objstore::ObjectId>{}(*id));
}

TEST_F(StoreTest, CxxSeventeenAndTwentyTranslationUnitsInOneProgram) {
    EXPECT_GE(odr::cxx20_standard(), 202002L);
    EXPECT_LT(__cplusplus, 202002L) << "the tests themselves should be C++17";

    // An UnsealedObject made here is filled there through std::span.
    auto unsealed = store_.create(objstore_test::fixed_id(0x20), 100);
    ASSERT_TRUE(unsealed) << unsealed.error();
    odr::cxx20_fill(*unsealed, std::byte{0x7e});
    ASSERT_TRUE(unsealed->seal().ok());

    // An Object got here is read there.
    auto obj = store_.get(objstore_test::fixed_id(0x20));
    ASSERT_TRUE(obj) << obj.error();
    EXPECT_EQ(odr::cxx20_count_bytes(*obj, std::byte{0x7e}), 100u);
    auto back = odr::cxx20_round_trip(obj->data());
    EXPECT_EQ(back.data(), obj->data().data());
    EXPECT_EQ(back.size(), 100u);
}
