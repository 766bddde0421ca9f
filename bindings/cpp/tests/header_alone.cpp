// objstore.hpp must compile on its own: this translation unit includes
// nothing else. It is built as C++17, as C++20, and as C++17 without
// exceptions or RTTI, with warnings as errors (see CMakeLists.txt).
#include <objstore.hpp>
