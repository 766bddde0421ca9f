package objstore

import "testing"

// Benchmarks of the binding's overhead on the hot paths (not run by make
// test; run with go test -run '^$' -bench .).

func BenchmarkGetRelease(b *testing.B) {
	s := newStoreB(b)
	id, err := s.Put(make([]byte, 1<<20))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		obj, err := s.Get(id, NoWait)
		if err != nil {
			b.Fatal(err)
		}
		if err := obj.Release(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutDelete1KiB(b *testing.B) {
	s := newStoreB(b)
	data := make([]byte, 1024)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, err := s.Put(data)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Delete(id); err != nil {
			b.Fatal(err)
		}
	}
}

func newStoreB(b *testing.B) *Store {
	name := "objstore-go-bench-" + b.Name()
	_ = Destroy(name)
	s, err := Open(name, &Options{CapacityBytes: 64 << 20, MaxObjects: 1024, CreateOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.Close()
		Destroy(name)
	})
	return s
}
