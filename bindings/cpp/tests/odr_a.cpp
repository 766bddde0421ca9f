#include "odr.hpp"

namespace odr {

objstore::Result<objstore::ObjectId> a_put(const objstore::Store& store, const std::string& text) {
    return store.put(objstore::as_bytes(text));
}

std::string a_hex(const objstore::ObjectId& id) { return id.to_hex(); }

std::size_t a_hash(const objstore::ObjectId& id) { return std::hash<objstore::ObjectId>{}(id); }

}  // namespace odr
