// Package tensor holds what the Go examples share: float32 tensors stored
// as objstore objects, the metadata text format the C, C++ and Go examples
// agree on, the deterministic generator of the inputs, and the worker step
// (transpose the first two axes into a new object).
package tensor

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	objstore "github.com/objstore/objstore/bindings/go"
)

// Meta formats the metadata of a float32 tensor: the dtype, a space, and
// the dimensions separated by commas, e.g. "float32 3,8,8". The C and C++
// examples use exactly this text, so a tensor put by one language is read
// by the others.
func Meta(shape []int) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	return []byte("float32 " + strings.Join(dims, ","))
}

// ParseMeta parses metadata written by Meta and returns the shape. Only
// float32 tensors are expected here.
func ParseMeta(meta []byte) ([]int, error) {
	dtype, dims, ok := strings.Cut(string(meta), " ")
	if !ok || dtype != "float32" || dims == "" {
		return nil, fmt.Errorf("metadata %q is not \"float32 D0,D1,...\"", meta)
	}
	var shape []int
	for _, f := range strings.Split(dims, ",") {
		d, err := strconv.Atoi(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("metadata %q: bad dimension %q", meta, f)
		}
		shape = append(shape, d)
	}
	return shape, nil
}

// Elems returns the number of elements of a tensor of this shape.
func Elems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// ShapeString formats a shape as "(3,8,8)".
func ShapeString(shape []int) string {
	s := fmt.Sprint(shape)
	return "(" + strings.ReplaceAll(s[1:len(s)-1], " ", ",") + ")"
}

// Seed seeds the generator of the walk-through's inputs in every language.
const Seed = 42

// Rand is SplitMix64 (Steele, Lea, Flood 2014): tiny, seedable, and written
// the same way in the C and C++ walk-throughs, so every language generates
// the same inputs.
type Rand struct{ state uint64 }

// NewRand returns a generator seeded with seed.
func NewRand(seed uint64) *Rand { return &Rand{state: seed} }

// Uint64 returns the next 64 random bits.
func (r *Rand) Uint64() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Float32 returns (draw >> 40) / 2^24, a float32 in [0, 1): 24 random bits,
// exact in float32, so the same in every language.
func (r *Rand) Float32() float32 {
	return float32(r.Uint64()>>40) / (1 << 24)
}

// Inputs generates the walk-through's inputs: n tensors of shape (i,8,8),
// i = 1..n, filled in order (tensor 1 first) from one generator seeded with
// seed.
func Inputs(n int, seed uint64) [][]float32 {
	r := NewRand(seed)
	out := make([][]float32, n)
	for i := 1; i <= n; i++ {
		t := make([]float32, i*8*8)
		for k := range t {
			t[k] = r.Float32()
		}
		out[i-1] = t
	}
	return out
}

// Transpose01 swaps the first two axes of a tensor of shape (a,b,c) into
// dst, of shape (b,a,c): dst[j][i][k] = src[i][j][k].
func Transpose01(dst, src []float32, a, b, c int) {
	for i := 0; i < a; i++ {
		for j := 0; j < b; j++ {
			copy(dst[(j*a+i)*c:(j*a+i+1)*c], src[(i*b+j)*c:(i*b+j+1)*c])
		}
	}
}

// IsTranspose01 reports whether out, of shape (b,a,c), is exactly (bit for
// bit) in, of shape (a,b,c), with its first two axes swapped. It checks
// element by element, independently of Transpose01, so that a bug there
// cannot hide itself.
func IsTranspose01(out, in []float32, a, b, c int) bool {
	if len(in) != a*b*c || len(out) != len(in) {
		return false
	}
	for i := 0; i < a; i++ {
		for j := 0; j < b; j++ {
			for k := 0; k < c; k++ {
				if math.Float32bits(out[(j*a+i)*c+k]) != math.Float32bits(in[(i*b+j)*c+k]) {
					return false
				}
			}
		}
	}
	return true
}

// Bytes views a float32 slice as its bytes in the machine's byte order: the
// layout a C program sees. No copy.
func Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*4)
}

// Floats views bytes as float32s. No copy: b must be 4-byte aligned, which
// object data always is (objstore aligns it to 64 bytes).
func Floats(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 != 0 || len(b)%4 != 0 {
		panic("tensor.Floats: unaligned or ragged buffer")
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// Checksum is the 64-bit FNV-1a hash of the bytes of all the tensors, in
// order: the checksum the C and C++ walk-throughs print for their inputs.
func Checksum(tensors ...[]float32) uint64 {
	h := fnv.New64a()
	for _, t := range tensors {
		h.Write(Bytes(t))
	}
	return h.Sum64()
}

// ResultID is the ID of the transpose of the object input: the input's ID
// with every bit flipped, as in the C and C++ walk-throughs. Deriving a
// result's ID from its task, as Ray derives a task's return IDs, lets
// anyone find the result without being told its ID, and makes a retried
// task produce the same object (or ErrAlreadyExists), never a duplicate.
func ResultID(input objstore.ID) objstore.ID {
	var id objstore.ID
	for i, b := range input {
		id[i] = ^b
	}
	return id
}

// TransposeObject is one worker step: it gets the tensor input (waiting up
// to timeout for it), creates the result object under ResultID(input),
// writes the transpose of the first two axes straight into it (no copy
// through Go memory), seals it, and releases the input. It returns the
// result's ID and the input's and result's shapes.
func TransposeObject(s *objstore.Store, input objstore.ID, timeout time.Duration) (objstore.ID, []int, []int, error) {
	obj, err := s.Get(input, timeout)
	if err != nil {
		return objstore.ID{}, nil, nil, err
	}
	defer obj.Release()
	in, err := ParseMeta(obj.UnsafeMeta())
	if err != nil {
		return objstore.ID{}, nil, nil, err
	}
	if len(in) < 2 || Elems(in)*4 != obj.Len() {
		return objstore.ID{}, nil, nil, fmt.Errorf("object %v: shape %v does not fit %d bytes", input, in, obj.Len())
	}
	rest := Elems(in[2:])
	out := append([]int{in[1], in[0]}, in[2:]...)
	id := ResultID(input)
	u, err := s.Create(id, obj.Len(), Meta(out))
	if err != nil {
		return objstore.ID{}, nil, nil, err
	}
	Transpose01(Floats(u.UnsafeData()), Floats(obj.UnsafeData()), in[0], in[1], rest)
	if err := u.Seal(); err != nil {
		_ = u.Abort()
		return objstore.ID{}, nil, nil, err
	}
	return id, in, out, nil
}
