#!/usr/bin/env bash
# Checks that the Go module's path and tag scheme let `go get` resolve a
# version: a copy of the module is committed to a scratch git repository
# and tagged bindings/go/vVERSION (see README.md, "Versions and tags"); git
# is told to fetch github.com/objstore/objstore from that repository
# (url.insteadOf, in a scratch git config); then a scratch program does
# `go get github.com/objstore/objstore/bindings/go@vVERSION`, builds and
# runs. Nothing is fetched from the network. Needs PKG_CONFIG_PATH and
# LD_LIBRARY_PATH set for the library, as for go test.
#
# Usage: go-get.sh VERSION
set -euo pipefail
version="$1"
module=github.com/objstore/objstore/bindings/go
here="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

# The repository: the module in its subdirectory, tagged as a release is.
mkdir -p "$tmp/repo/bindings"
cp -r "$here" "$tmp/repo/bindings/go"
rm -rf "$tmp/repo/bindings/go/testdata"
git -C "$tmp/repo" init -q
git -C "$tmp/repo" -c user.name=ci -c user.email=ci@localhost add -A
git -C "$tmp/repo" -c user.name=ci -c user.email=ci@localhost commit -q -m "release $version"
git -C "$tmp/repo" tag "v$version"
git -C "$tmp/repo" tag "bindings/go/v$version"

cat > "$tmp/gitconfig" <<CONF
[url "file://$tmp/repo"]
	insteadOf = https://github.com/objstore/objstore
[protocol "file"]
	allow = always
CONF

# A program that uses the module by version, as a user's would.
mkdir -p "$tmp/app"
cat > "$tmp/app/go.mod" <<MOD
module example.com/app

go 1.21
MOD
cat > "$tmp/app/main.go" <<'GO'
package main

import (
	"fmt"
	"os"

	objstore "github.com/objstore/objstore/bindings/go"
)

func main() {
	if err := objstore.CheckVersion(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(objstore.Version())
}
GO

export GIT_CONFIG_GLOBAL="$tmp/gitconfig" GIT_CONFIG_NOSYSTEM=1
export GOPROXY=direct GOPRIVATE=github.com/objstore GOMODCACHE="$tmp/modcache" GOFLAGS="-modcacherw -buildvcs=false"
cd "$tmp/app"
listed="$(go list -m -versions "$module")"
case " $listed " in
    *" v$version "*) ;;
    *) echo "go list -m -versions $module: '$listed' lacks v$version" >&2; exit 1 ;;
esac
go get "$module@v$version"
grep -q "^require $module v$version\( // indirect\)\?$" go.mod || { echo "go.mod after go get:" >&2; cat go.mod >&2; exit 1; }
out="$(go run .)"
[ "$out" = "$version" ] || { echo "the program printed '$out', want '$version'" >&2; exit 1; }
echo "go get $module@v$version resolves bindings/go/v$version and builds"
