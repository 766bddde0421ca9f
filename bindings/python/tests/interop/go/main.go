// Command tensor_interop is tensor_interop.c (in the directory above) in
// Go, with the Go binding: it reads a tensor Python wrote and writes one
// back, through the value format of objstore's Python binding
// (bindings/python/src/objstore/_format.py):
//
//	tensor_interop STORE IN_HEX OUT_HEX
//
// IN must be a C-order float32 ndarray object (kind 4, dtype "<f4"; any
// hint, so a torch tensor or a numpy array). OUT is written as the same
// shape, every value doubled, with hint 1 (a torch tensor to Python).
// Prints "hint H shape D0xD1... sum S" and exits 0, or says what is wrong
// and exits 1 (2 for a usage error): the same contract, output and messages
// as the C program, so tests/test_interop.py runs both alike.
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	objstore "github.com/objstore/objstore/bindings/go"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// fail reports a failed call as the C program does: "what: status: detail".
func fail(what string, err error) int {
	var e *objstore.Error
	if errors.As(err, &e) {
		fmt.Fprintf(os.Stderr, "tensor_interop: %s: %s: %s\n", what, e.Status.String(), e.Message)
	} else {
		fmt.Fprintf(os.Stderr, "tensor_interop: %s: %v\n", what, err)
	}
	return 1
}

func failf(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "tensor_interop: "+format+"\n", args...)
	return 1
}

func run(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tensor_interop STORE IN_HEX OUT_HEX")
		return 2
	}
	store, err := objstore.Open(args[0], &objstore.Options{AttachOnly: true})
	if err != nil {
		return fail("open", err)
	}
	defer store.Close()
	in, err := objstore.ParseID(args[1])
	if err != nil {
		return fail("id", err)
	}
	out, err := objstore.ParseID(args[2])
	if err != nil {
		return fail("id", err)
	}
	obj, err := store.Get(in, time.Second)
	if err != nil {
		return fail("get", err)
	}
	defer obj.Release()

	// Header: magic, version 1, kind 4 (ndarray), hint; then order, dtype
	// form, dtype length, dtype, ndim, shape. All little-endian.
	m := obj.UnsafeMeta()
	n := len(m)
	if n < 13 || !bytes.Equal(m[:4], []byte("OSPY")) || m[4] != 1 || m[5] != 4 {
		return failf("not an ndarray object of format version 1")
	}
	hint := binary.LittleEndian.Uint16(m[6:])
	dlen := int(binary.LittleEndian.Uint16(m[10:]))
	if m[8] != 'C' || m[9] != 0 || dlen != 3 || n < 13+dlen || string(m[12:12+dlen]) != "<f4" {
		return failf("not a C-order float32 array")
	}
	ndim := int(m[12+dlen])
	shape := m[13+dlen:]
	if n != 13+dlen+8*ndim {
		return failf("metadata of %d bytes for %d dimensions", n, ndim)
	}
	// A damaged shape's product could wrap to the data's length: every
	// step is checked.
	count := uint64(1)
	overflow := false
	dims := make([]string, ndim)
	for i := range dims {
		d := binary.LittleEndian.Uint64(shape[8*i:])
		if d != 0 && count > math.MaxUint64/4/d {
			overflow = true
		} else {
			count *= d
		}
		dims[i] = fmt.Sprint(d)
	}
	fmt.Printf("hint %d shape %s", hint, strings.Join(dims, "x"))
	if overflow {
		return failf("the shape's element count overflows")
	}
	data := obj.UnsafeData()
	if count*4 != uint64(len(data)) {
		return failf("%d elements in %d bytes", count, len(data))
	}
	sum := 0.0
	for i := 0; i < len(data); i += 4 {
		sum += float64(math.Float32frombits(binary.LittleEndian.Uint32(data[i:])))
	}
	fmt.Printf(" sum %.1f\n", sum)

	// Write OUT: the same metadata with hint 1, the values doubled.
	meta := append([]byte(nil), m...)
	binary.LittleEndian.PutUint16(meta[6:], 1)
	u, err := store.Create(out, len(data), meta)
	if err != nil {
		return fail("create", err)
	}
	dst := u.UnsafeData()
	for i := 0; i < len(data); i += 4 {
		x := math.Float32frombits(binary.LittleEndian.Uint32(data[i:]))
		binary.LittleEndian.PutUint32(dst[i:], math.Float32bits(2*x))
	}
	if err := u.Seal(); err != nil {
		return fail("seal", err)
	}
	if err := obj.Release(); err != nil {
		return fail("release", err)
	}
	if err := store.Close(); err != nil {
		return fail("close", err)
	}
	return 0
}
