#include "odr.hpp"

namespace odr {

objstore::Result<std::string> b_read(const objstore::Store& store, const objstore::ObjectId& id) {
    auto obj = store.get(id);
    if (!obj) return obj.error();
    return std::string(reinterpret_cast<const char*>(obj->data().data()), obj->size());
}

std::string b_hex(const objstore::ObjectId& id) { return id.to_hex(); }

std::size_t b_hash(const objstore::ObjectId& id) { return std::hash<objstore::ObjectId>{}(id); }

}  // namespace odr
