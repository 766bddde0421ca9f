package objstore

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// Two stores (two machines) sharing a file:// remote: one publishes, the
// other's Get fetches. A store without a remote cannot publish.
func TestPublishHereGetThere(t *testing.T) {
	url := "file://" + t.TempDir()
	opts := func() *Options {
		return &Options{CapacityBytes: 8 << 20, MaxObjects: 1024, CreateOnly: true, RemoteURL: url}
	}
	a, b := newStore(t, opts()), newStore(t, opts())
	if a.RemoteURL() != url || b.RemoteURL() != url || a.SpillDir() != "" {
		t.Fatalf("RemoteURL %q and %q, SpillDir %q: want %q, %q and none", a.RemoteURL(), b.RemoteURL(), a.SpillDir(), url, url)
	}
	data := bytes.Repeat([]byte("remote tier "), 30000)
	id, err := a.PutWithMeta(data, []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(id, 0); err != nil {
		t.Fatalf("publish of a published object: %v", err)
	}
	obj, err := b.Get(id, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(obj.UnsafeData(), data) || !bytes.Equal(obj.UnsafeMeta(), []byte("m")) {
		t.Fatal("the fetched object differs")
	}
	if err := obj.Release(); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, b); st.FetchesTotal != 1 || st.FetchedBytes != uint64(len(data)+1) {
		t.Fatalf("stats after a fetch: %+v", st)
	}
	if st := mustStats(t, a); st.PublishesTotal < 1 {
		t.Fatalf("stats after a publish: %+v", st)
	}
	if err := a.Unpublish(id, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Unpublish(id, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unpublish of an unpublished object: %v", err)
	}

	plain := newStore(t, nil)
	pid, err := plain.Put([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Publish(pid, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("publish without a remote: %v", err)
	}
}
