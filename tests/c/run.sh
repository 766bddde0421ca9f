#!/usr/bin/env bash
# Builds the C API tests (test_capi.c, and test_abi_evolution.c: versions
# and the struct_size rule) against include/objstore.h and the release
# library and runs them: once under AddressSanitizer + UBSan (shared
# library), once linked statically to libobjstore.a.
set -euo pipefail
cd "$(dirname "$0")/../.."
lib=target/release
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cflags=(-std=c11 -Wall -Wextra -Werror -g -Iinclude)
for t in test_capi test_abi_evolution; do
    gcc "${cflags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=undefined \
        "tests/c/$t.c" -o "$out/${t}_asan" -L"$lib" -lobjstore -lpthread
    ASAN_OPTIONS=detect_leaks=1 LD_LIBRARY_PATH="$lib" "$out/${t}_asan"

    gcc "${cflags[@]}" "tests/c/$t.c" -o "$out/${t}_static" "$lib/libobjstore.a" -lpthread -ldl -lm
    "$out/${t}_static"
done

# The README's C quick start compiles as written and runs.
awk '/^## C quick start/{s=1} s&&/^```c$/{c=1;next} c&&/^```$/{exit} c{print}' README.md > "$out/quickstart.c"
test -s "$out/quickstart.c"
gcc "${cflags[@]}" "$out/quickstart.c" -o "$out/quickstart" -L"$lib" -lobjstore
LD_LIBRARY_PATH="$lib" "$out/quickstart" | grep -q "hello, shared memory"

# The header compiles as C++ too.
printf '#include "objstore.h"\nint main() { os_options o = os_options_default(); return static_cast<int>(o.flags); }\n' > "$out/cxx.cc"
g++ -std=c++17 -Wall -Wextra -Wconversion -Wold-style-cast -Werror -Iinclude "$out/cxx.cc" -o "$out/cxx" -L"$lib" -lobjstore
LD_LIBRARY_PATH="$lib" "$out/cxx"
echo "C tests passed"
