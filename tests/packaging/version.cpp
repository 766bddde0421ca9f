// Prints the loaded library's version after checking it serves this header.
#include <objstore.hpp>

#include <cstdio>

int main() {
    if (auto ok = objstore::check_version(); !ok) {
        std::fprintf(stderr, "%s\n", ok.error().to_string().c_str());
        return 1;
    }
    std::printf("%.*s\n", static_cast<int>(objstore::version().size()), objstore::version().data());
    return 0;
}
