#!/usr/bin/env bash
# Builds the C API tests against include/objstore.h and the release library
# and runs them: once under AddressSanitizer + UBSan (shared library), once
# linked statically to libobjstore.a.
set -euo pipefail
cd "$(dirname "$0")/../.."
lib=target/release
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cflags=(-std=c11 -Wall -Wextra -Werror -g -Iinclude)
gcc "${cflags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=undefined \
    tests/c/test_capi.c -o "$out/test_capi_asan" -L"$lib" -lobjstore -lpthread
ASAN_OPTIONS=detect_leaks=1 LD_LIBRARY_PATH="$lib" "$out/test_capi_asan"

gcc "${cflags[@]}" tests/c/test_capi.c -o "$out/test_capi_static" "$lib/libobjstore.a" -lpthread -ldl -lm
"$out/test_capi_static"

# The README's C quick start compiles as written and runs.
awk '/^## C quick start/{s=1} s&&/^```c$/{c=1;next} c&&/^```$/{exit} c{print}' README.md > "$out/quickstart.c"
test -s "$out/quickstart.c"
gcc "${cflags[@]}" "$out/quickstart.c" -o "$out/quickstart" -L"$lib" -lobjstore
LD_LIBRARY_PATH="$lib" "$out/quickstart" | grep -q "hello, shared memory"

# The header compiles as C++ too.
printf '#include "objstore.h"\nint main() { os_options o = os_options_default(); return (int)o.flags; }\n' > "$out/cxx.cc"
g++ -std=c++17 -Wall -Werror -Iinclude "$out/cxx.cc" -o "$out/cxx" -L"$lib" -lobjstore
LD_LIBRARY_PATH="$lib" "$out/cxx"
echo "C tests passed"
