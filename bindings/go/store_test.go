package objstore

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestVersion(t *testing.T) {
	if v := Version(); v == "" || strings.Count(v, ".") != 2 {
		t.Fatalf("Version() = %q, want a x.y.z version", v)
	}
}

func TestOpenStats(t *testing.T) {
	s := newStore(t, &Options{CapacityBytes: 8 << 20, MaxObjects: 100, MaxProcesses: 7, CreateOnly: true})
	st := mustStats(t, s)
	if st.CapacityBytes != 8<<20 || st.MaxObjects != 100 || st.MaxProcesses != 7 {
		t.Fatalf("stats %+v do not reflect the options", st)
	}
	if st.AttachedProcesses != 1 || st.ObjectCount != 0 || st.PinnedCount != 0 || st.UnsealedCount != 0 {
		t.Fatalf("fresh store stats %+v", st)
	}
	// A second handle in the same process shares the attachment.
	s2, err := Open(s.Name(), &Options{AttachOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := mustStats(t, s2).AttachedProcesses; got != 1 {
		t.Fatalf("two handles of one process: %d attached processes, want 1", got)
	}
}

func TestStoreFileMode(t *testing.T) {
	s := newStore(t, &Options{CapacityBytes: 1 << 20, MaxObjects: 16, Mode: 0o640, CreateOnly: true})
	fi, err := os.Stat("/dev/shm/" + s.Name())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("store file mode %v, want 0640", fi.Mode().Perm())
	}
	s2 := newStore(t, &Options{CapacityBytes: 1 << 20, MaxObjects: 16, CreateOnly: true})
	if fi, err = os.Stat("/dev/shm/" + s2.Name()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("default store file mode: %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

func TestOpenErrors(t *testing.T) {
	name := storeName(t)
	_, err := Open(name, &Options{AttachOnly: true})
	wantErr(t, "attach to a missing store", err, ErrNotFound)
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusNotFound || e.Op != "open" || e.Message == "" {
		t.Fatalf("attach error %#v: want an *Error with status, op and message", err)
	}

	s := newStore(t, nil)
	_, err = Open(s.Name(), &Options{CreateOnly: true})
	wantErr(t, "create-only of an existing store", err, ErrAlreadyExists)

	_, err = Open(storeName(t), &Options{Mode: os.ModeDir | 0o600})
	wantErr(t, "non-permission mode bits", err, ErrInvalidArgument)
	_, err = Open(storeName(t), &Options{MaxProcesses: 100000})
	wantErr(t, "too many max processes", err, ErrInvalidArgument)
	_, err = Open(storeName(t), &Options{TicketLinger: -time.Millisecond})
	wantErr(t, "a negative ticket linger", err, ErrInvalidArgument)
	_, err = Open(storeName(t), &Options{TicketLinger: (math.MaxUint32 + 1) * time.Millisecond})
	wantErr(t, "a ticket linger beyond uint32 milliseconds", err, ErrInvalidArgument)

	wantErr(t, "destroy a missing store", Destroy(storeName(t)), ErrNotFound)
	_, err = Open(storeName(t)+"\x00suffix", nil)
	wantErr(t, "a name with a NUL byte", err, ErrInvalidArgument)
	_, err = Open(storeName(t), &Options{SpillDir: "/tmp/a\x00b"})
	wantErr(t, "a spill dir with a NUL byte", err, ErrInvalidArgument)
	wantErr(t, "destroy a name with a NUL byte", Destroy("x\x00y"), ErrInvalidArgument)
	_, err = Open("", nil)
	wantErr(t, "an empty name", err, ErrInvalidArgument)
}

// Options.TicketLinger becomes whole milliseconds, rounded up (a short
// linger is not none); what os_options.ticket_linger_ms cannot hold is
// refused.
func TestTicketLingerMillis(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want uint32
	}{
		{0, 0},
		{time.Nanosecond, 1},
		{time.Millisecond, 1},
		{1500 * time.Microsecond, 2},
		{30 * time.Second, 30000},
		{math.MaxUint32 * time.Millisecond, math.MaxUint32},
	} {
		got, err := lingerMillis(c.d)
		if err != nil || got != c.want {
			t.Errorf("lingerMillis(%v) = %d, %v; want %d", c.d, got, err, c.want)
		}
	}
	for _, d := range []time.Duration{-time.Nanosecond, math.MinInt64,
		math.MaxUint32*time.Millisecond + time.Nanosecond, math.MaxInt64} {
		if _, err := lingerMillis(d); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("lingerMillis(%v): %v, want ErrInvalidArgument", d, err)
		}
	}
	// Accepted by Open (this process has no ticket out: its Close does not
	// wait).
	s := newStore(t, nil)
	other, err := Open(s.Name(), &Options{AttachOnly: true, TicketLinger: time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDamagedFile(t *testing.T) {
	name := storeName(t)
	path := "/dev/shm/" + name
	t.Cleanup(func() { os.Remove(path) })
	// A file of the right size class but with a garbage header.
	if err := os.WriteFile(path, bytes.Repeat([]byte("not a store! "), 1<<12), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(name, &Options{AttachOnly: true})
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrIncompatible) {
		t.Fatalf("open of a damaged file: %v, want ErrCorrupt or ErrIncompatible", err)
	}
	// A truncated file.
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(name, &Options{AttachOnly: true})
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrIncompatible) {
		t.Fatalf("open of a truncated file: %v, want ErrCorrupt or ErrIncompatible", err)
	}
}

func TestSpillDirOption(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spill")
	s := newStore(t, &Options{CapacityBytes: 1 << 20, MaxObjects: 16, SpillDir: dir, CreateOnly: true})
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("spill directory not created: %v", err)
	}
	if s.SpillDir() != dir || s.RemoteURL() != "" {
		t.Fatalf("SpillDir %q RemoteURL %q, want %q and none", s.SpillDir(), s.RemoteURL(), dir)
	}
	// An attacher must name the same directory, or none.
	_, err := Open(s.Name(), &Options{AttachOnly: true, SpillDir: t.TempDir()})
	wantErr(t, "attach with another spill dir", err, ErrInvalidArgument)
	for _, d := range []string{dir, ""} {
		s2, err := Open(s.Name(), &Options{AttachOnly: true, SpillDir: d})
		if err != nil {
			t.Fatalf("attach with spill dir %q: %v", d, err)
		}
		// The store's directory, whatever this attach named.
		if got := s2.SpillDir(); got != dir {
			t.Fatalf("SpillDir after attaching with %q: %q, want %q", d, got, dir)
		}
		s2.Close()
	}
}

func TestCloseIdempotent(t *testing.T) {
	s := newStore(t, nil)
	id := mustPut(t, s, []byte("data"), nil)
	other, err := Open(s.Name(), &Options{AttachOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	obj := mustGet(t, other, id)
	u, err := other.Create(idOf("unsealed"), 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, s); st.PinnedCount != 1 || st.UnsealedCount != 1 {
		t.Fatalf("before close: %+v", st)
	}
	for i := 0; i < 3; i++ {
		if err := other.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	// Close dropped the pins and aborted the unsealed object.
	if st := mustStats(t, s); st.PinnedCount != 0 || st.UnsealedCount != 0 {
		t.Fatalf("after close: %+v", st)
	}
	// Everything on a closed store says so; Release is still idempotent.
	_, err = other.Put([]byte("x"))
	wantErr(t, "put after close", err, ErrClosed)
	_, err = other.Get(id, NoWait)
	wantErr(t, "get after close", err, ErrClosed)
	_, err = other.Stats()
	wantErr(t, "stats after close", err, ErrClosed)
	wantErr(t, "seal after close", u.Seal(), ErrClosed)
	if u.UnsafeData() != nil {
		t.Fatal("UnsafeData of an object aborted by Close is not nil")
	}
	if obj.UnsafeData() != nil || obj.UnsafeMeta() != nil || obj.CopyData() != nil {
		t.Fatal("views of an object unpinned by Close are not nil")
	}
	if err := obj.Release(); err != nil {
		t.Fatalf("Release after Close: %v", err)
	}
	if obj.CopyData() != nil || obj.UnsafeData() != nil {
		t.Fatal("views of an object released by Close are not nil")
	}
}

func TestConcurrentUse(t *testing.T) {
	s := newStore(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				data := pattern(100+i, byte(g))
				id, err := s.Put(data)
				if err != nil {
					errs <- err
					return
				}
				obj, err := s.Get(id, NoWait)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(obj.UnsafeData(), data) {
					errs <- errors.New("read back different bytes")
				}
				if err := obj.Release(); err != nil {
					errs <- err
					return
				}
				if err := s.Delete(id); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := mustStats(t, s); st.ObjectCount != 0 || st.PinnedCount != 0 || st.UsedBytes != 0 {
		t.Fatalf("after put/get/release/delete everywhere: %+v", st)
	}
}

// TestFinalizerBackstop: a Store dropped without Close is closed by its
// finalizer, which releases its pins.
func TestFinalizerBackstop(t *testing.T) {
	s := newStore(t, nil)
	id := mustPut(t, s, []byte("x"), nil)
	func() {
		leaked, err := Open(s.Name(), &Options{AttachOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaked.Get(id, NoWait); err != nil {
			t.Fatal(err)
		}
	}() // the handle and its object are unreachable from here on
	if got := mustStats(t, s).PinnedCount; got != 1 {
		t.Fatalf("PinnedCount %d with the leaked pin, want 1", got)
	}
	// Finalizers run after a collection finds the Store unreachable, on
	// the finalizer goroutine: collect until the pin is gone (a bounded
	// number of rounds, no timing assertion).
	for i := 0; i < 1000 && mustStats(t, s).PinnedCount != 0; i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if got := mustStats(t, s).PinnedCount; got != 0 {
		t.Fatalf("PinnedCount %d: the finalizer did not close the leaked Store", got)
	}
}
