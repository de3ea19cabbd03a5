# env.sh BUILD_DIR -- sourced: a temporary promstore.pc for the build tree and
# a Go environment that never touches the network or $HOME.
build=$(cd "${1:?usage: . env.sh BUILD_DIR}" && pwd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$build/go-shim/pkgconfig" "$build/go-shim/cache" "$build/go-shim/gopath"
version=$(sed -n 's/^Version: //p' "$build/promstore.pc") # CMake's, from abi/promstore.h
cat >"$build/go-shim/pkgconfig/promstore.pc" <<PC
prefix=$build
Name: promstore
Description: libpromstore from the build tree $build
Version: $version
Cflags: -I$repo/abi
Libs: -L$build -lpromstore -Wl,-rpath,$build
PC
export PKG_CONFIG_PATH=$build/go-shim/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export GOCACHE=${GOCACHE:-$build/go-shim/cache}
export GOPATH=${GOPATH:-$build/go-shim/gopath}
export GOPROXY=off GOFLAGS=-mod=readonly GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=1
export PROMSTORE_BUILD_DIR=$build
