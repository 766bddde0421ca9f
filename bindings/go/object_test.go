package objstore

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestPutGetRoundTrip(t *testing.T) {
	s := newStore(t, nil)
	for _, n := range []int{0, 1, 63, 64, 65, 4096, 100_000, 1 << 20} {
		data := pattern(n, byte(n))
		id, err := s.Put(data)
		if err != nil {
			t.Fatalf("Put(%d bytes): %v", n, err)
		}
		obj := mustGet(t, s, id)
		if obj.ID() != id || obj.Len() != n || obj.MetaLen() != 0 {
			t.Fatalf("%d bytes: ID %v len %d meta %d", n, obj.ID(), obj.Len(), obj.MetaLen())
		}
		if !bytes.Equal(obj.UnsafeData(), data) || !bytes.Equal(obj.CopyData(), data) {
			t.Fatalf("%d bytes: data differs", n)
		}
		release(t, obj)
	}
	// The caller's buffer is copied: changing it afterwards changes nothing.
	buf := []byte("original")
	id := mustPut(t, s, buf, nil)
	copy(buf, "CHANGED!")
	obj := mustGet(t, s, id)
	defer release(t, obj)
	if string(obj.CopyData()) != "original" {
		t.Fatalf("got %q", obj.CopyData())
	}
}

func TestPutWithMeta(t *testing.T) {
	s := newStore(t, nil)
	id := mustPut(t, s, []byte{1, 2, 3}, []byte("float32 3"))
	obj := mustGet(t, s, id)
	defer release(t, obj)
	if string(obj.UnsafeMeta()) != "float32 3" || string(obj.CopyMeta()) != "float32 3" || obj.MetaLen() != 9 {
		t.Fatalf("meta %q", obj.UnsafeMeta())
	}
	// Metadata without data.
	id2 := mustPut(t, s, nil, []byte("only meta"))
	obj2 := mustGet(t, s, id2)
	defer release(t, obj2)
	if obj2.Len() != 0 || string(obj2.CopyMeta()) != "only meta" {
		t.Fatalf("len %d meta %q", obj2.Len(), obj2.CopyMeta())
	}
	// The copies are the caller's to change.
	c := obj.CopyMeta()
	c[0] = 'X'
	if string(obj.UnsafeMeta()) != "float32 3" {
		t.Fatal("changing a copy changed the object")
	}
}

func TestZeroCopy(t *testing.T) {
	s := newStore(t, nil)
	id := idOf("zero-copy")
	u, err := s.Create(id, 10_000, []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	written := uintptr(unsafe.Pointer(&u.UnsafeData()[0]))
	fill(u.UnsafeData(), 3)
	if err := u.Seal(); err != nil {
		t.Fatal(err)
	}
	a, b := mustGet(t, s, id), mustGet(t, s, id)
	defer release(t, a)
	defer release(t, b)
	pa := uintptr(unsafe.Pointer(&a.UnsafeData()[0]))
	pb := uintptr(unsafe.Pointer(&b.UnsafeData()[0]))
	if pa != pb || pa != written {
		t.Fatalf("views at %#x and %#x, written at %#x: want one address (no copy)", pa, pb, written)
	}
	if pa%64 != 0 {
		t.Fatalf("data at %#x is not 64-byte aligned", pa)
	}
	// Small objects are aligned too.
	for n := 1; n <= 200; n += 37 {
		o := mustGet(t, s, mustPut(t, s, pattern(n, 1), []byte("meta")))
		if p := uintptr(unsafe.Pointer(&o.UnsafeData()[0])); p%64 != 0 {
			t.Fatalf("%d-byte object at %#x is not 64-byte aligned", n, p)
		}
		release(t, o)
	}
}

func TestReleaseIdempotent(t *testing.T) {
	s := newStore(t, nil)
	id := mustPut(t, s, []byte("pinned"), nil)
	a := mustGet(t, s, id)
	b := mustGet(t, s, id)
	if got := mustStats(t, s).PinnedCount; got != 1 {
		t.Fatalf("PinnedCount %d with two pins on one object, want 1", got)
	}
	release(t, a)
	if got := mustStats(t, s).PinnedCount; got != 1 {
		t.Fatalf("PinnedCount %d after one of two releases, want 1", got)
	}
	if a.UnsafeData() != nil || a.UnsafeMeta() != nil || a.CopyData() != nil || a.CopyMeta() != nil {
		t.Fatal("views of a released object are not nil")
	}
	if string(b.UnsafeData()) != "pinned" {
		t.Fatal("the other pin's view changed")
	}
	// Releasing a again must not drop b's pin.
	for i := 0; i < 3; i++ {
		release(t, a)
	}
	if got := mustStats(t, s).PinnedCount; got != 1 {
		t.Fatalf("PinnedCount %d after releasing one object repeatedly, want 1", got)
	}
	release(t, b)
	release(t, b)
	if got := mustStats(t, s).PinnedCount; got != 0 {
		t.Fatalf("PinnedCount %d after every release, want 0", got)
	}
}

func TestErrorKinds(t *testing.T) {
	s := newStore(t, nil)
	missing := idOf("missing")

	_, err := s.Get(missing, NoWait)
	wantErr(t, "get absent, no wait", err, ErrNotFound)
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusNotFound || e.Op != "get" ||
		!strings.Contains(e.Message, missing.String()) || !strings.Contains(err.Error(), missing.String()) {
		t.Fatalf("error %q (%#v): want status, op and a message naming the ID", err, e)
	}
	if errors.Is(err, ErrTimeout) || errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("%v matches the wrong sentinel", err)
	}
	var st Status
	if !errors.As(err, &st) || st != StatusNotFound {
		t.Fatalf("errors.As(Status) = %v", st)
	}

	_, err = s.Get(missing, 20*time.Millisecond)
	wantErr(t, "get absent, timeout", err, ErrTimeout)
	_, err = s.Get(missing, 70*time.Millisecond) // longer than one wait slice
	wantErr(t, "get absent, long timeout", err, ErrTimeout)
	if !strings.Contains(err.Error(), "70ms") {
		t.Fatalf("timeout error %q does not give the caller's timeout", err)
	}

	wantErr(t, "delete absent", s.Delete(missing), ErrNotFound)

	id := idOf("twice")
	if err := s.PutAs(id, []byte("a"), nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "put an existing ID", s.PutAs(id, []byte("b"), nil), ErrAlreadyExists)
	_, err = s.Create(id, 1, nil)
	wantErr(t, "create an existing ID", err, ErrAlreadyExists)
	_, err = s.Create(idOf("negative"), -1, nil)
	wantErr(t, "negative size", err, ErrInvalidArgument)
	if ok, err := s.Contains(id); err != nil || !ok {
		t.Fatalf("Contains(existing) = %v, %v", ok, err)
	}
	if ok, err := s.Contains(missing); err != nil || ok {
		t.Fatalf("Contains(missing) = %v, %v", ok, err)
	}
	// Every sentinel is its status, and prints the library's text.
	for st, sentinel := range map[Status]error{
		StatusInvalidArgument: ErrInvalidArgument, StatusNotFound: ErrNotFound,
		StatusAlreadyExists: ErrAlreadyExists, StatusOutOfMemory: ErrOutOfMemory,
		StatusTooLarge: ErrTooLarge, StatusTimeout: ErrTimeout, StatusNotSealed: ErrNotSealed,
		StatusIncompatible: ErrIncompatible, StatusCorrupt: ErrCorrupt, StatusIOError: ErrIO,
		StatusPermissionDenied: ErrPermissionDenied, StatusTooManyProcesses: ErrTooManyProcesses,
		StatusPanic: ErrPanic,
	} {
		if !errors.Is(&Error{Op: "x", Status: st}, sentinel) || st.String() == "unknown status" {
			t.Errorf("status %d (%v) vs sentinel %v", uint32(st), st, sentinel)
		}
	}
}

func TestDeleteWhilePinned(t *testing.T) {
	s := newStore(t, nil)
	id := idOf("deleted-pinned")
	if err := s.PutAs(id, pattern(5000, 4), []byte("meta")); err != nil {
		t.Fatal(err)
	}
	obj := mustGet(t, s, id)
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "delete twice", s.Delete(id), ErrNotFound)
	if ok, _ := s.Contains(id); ok {
		t.Fatal("a deleted object is still visible to Contains")
	}
	_, err := s.Get(id, NoWait)
	wantErr(t, "get deleted", err, ErrNotFound)
	// The pinned bytes stay intact and the ID stays reserved.
	if !bytes.Equal(obj.UnsafeData(), pattern(5000, 4)) {
		t.Fatal("pinned bytes changed after delete")
	}
	wantErr(t, "put a deleted, pinned ID", s.PutAs(id, []byte("new"), nil), ErrAlreadyExists)
	release(t, obj)
	// After the last release the ID is free again.
	if err := s.PutAs(id, []byte("new"), nil); err != nil {
		t.Fatalf("put after the last release: %v", err)
	}
}

func TestGetManyPartial(t *testing.T) {
	s := newStore(t, nil)
	a := mustPut(t, s, []byte("a"), nil)
	b := mustPut(t, s, []byte("b"), nil)
	missing := idOf("not there")
	ids := []ID{a, missing, b, a}

	objs, err := s.GetMany(ids, NoWait)
	wantErr(t, "get many with one absent, no wait", err, ErrNotFound)
	if len(objs) != 4 || objs[1] != nil || objs[0] == nil || objs[2] == nil || objs[3] == nil {
		t.Fatalf("partial result %v", objs)
	}
	if string(objs[0].UnsafeData()) != "a" || string(objs[2].UnsafeData()) != "b" || string(objs[3].UnsafeData()) != "a" {
		t.Fatal("wrong objects in the partial result")
	}
	if got := mustStats(t, s).PinnedCount; got != 2 {
		t.Fatalf("PinnedCount %d, want 2 (a and b)", got)
	}
	for _, o := range objs {
		if o != nil {
			release(t, o)
		}
	}
	if got := mustStats(t, s).PinnedCount; got != 0 {
		t.Fatalf("PinnedCount %d after releasing the partial result", got)
	}

	objs, err = s.GetMany(ids, 80*time.Millisecond)
	wantErr(t, "get many with one absent, timeout", err, ErrTimeout)
	if objs[1] != nil || objs[0] == nil {
		t.Fatalf("partial result %v", objs)
	}
	for _, o := range objs {
		if o != nil {
			release(t, o)
		}
	}

	// All present: no error, every entry pinned.
	objs, err = s.GetMany([]ID{b, a}, NoWait)
	if err != nil || string(objs[0].UnsafeData()) != "b" || string(objs[1].UnsafeData()) != "a" {
		t.Fatalf("GetMany(all present) = %v, %v", objs, err)
	}
	release(t, objs[0])
	release(t, objs[1])

	if objs, err := s.GetMany(nil, NoWait); err != nil || len(objs) != 0 {
		t.Fatalf("GetMany(nil) = %v, %v", objs, err)
	}
	if got := mustStats(t, s).PinnedCount; got != 0 {
		t.Fatalf("PinnedCount %d at the end", got)
	}
}

func TestGetManyWaitsForTheRest(t *testing.T) {
	s := newStore(t, nil)
	present := mustPut(t, s, []byte("here"), nil)
	later := idOf("later")
	done := make(chan struct{})
	var objs []*Object
	var err error
	go func() {
		defer close(done)
		objs, err = s.GetMany([]ID{present, later}, Forever)
	}()
	if err := s.PutAs(later, []byte("sealed later"), nil); err != nil {
		t.Fatal(err)
	}
	<-done
	if err != nil || string(objs[0].UnsafeData()) != "here" || string(objs[1].UnsafeData()) != "sealed later" {
		t.Fatalf("GetMany = %v, %v", objs, err)
	}
	release(t, objs[0])
	release(t, objs[1])
	// A context ends the wait, with the partial result pinned.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
	defer cancel()
	objs, err = s.GetManyContext(ctx, []ID{present, idOf("never")})
	wantErr(t, "get many until a deadline", err, context.DeadlineExceeded)
	if objs[0] == nil || objs[1] != nil {
		t.Fatalf("partial result %v", objs)
	}
	release(t, objs[0])
	if got := mustStats(t, s).PinnedCount; got != 0 {
		t.Fatalf("PinnedCount %d at the end", got)
	}
}

func TestWaitForSealFromGoroutine(t *testing.T) {
	s := newStore(t, nil)
	for _, wait := range []struct {
		name string
		get  func(ID) (*Object, error)
	}{
		{"forever", func(id ID) (*Object, error) { return s.Get(id, Forever) }},
		{"timeout", func(id ID) (*Object, error) { return s.Get(id, time.Minute) }},
		{"context", func(id ID) (*Object, error) { return s.GetContext(context.Background(), id) }},
	} {
		id := idOf("seal-" + wait.name)
		type result struct {
			obj *Object
			err error
		}
		got := make(chan result, 1)
		go func() {
			obj, err := wait.get(id)
			got <- result{obj, err}
		}()
		u, err := s.Create(id, 3, []byte(wait.name))
		if err != nil {
			t.Fatal(err)
		}
		copy(u.UnsafeData(), "abc")
		if err := u.Seal(); err != nil {
			t.Fatal(err)
		}
		r := <-got
		if r.err != nil {
			t.Fatalf("%s: %v", wait.name, r.err)
		}
		if string(r.obj.UnsafeData()) != "abc" || string(r.obj.UnsafeMeta()) != wait.name {
			t.Fatalf("%s: got %q / %q", wait.name, r.obj.UnsafeData(), r.obj.UnsafeMeta())
		}
		release(t, r.obj)
	}
}

func TestGetContextEnds(t *testing.T) {
	s := newStore(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.GetContext(ctx, idOf("never"))
		errc <- err
	}()
	cancel()
	wantErr(t, "get with a cancelled context", <-errc, context.Canceled)

	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := s.GetContext(ctx, idOf("never"))
	wantErr(t, "get until a deadline", err, context.DeadlineExceeded)
}

func TestCloseEndsWaits(t *testing.T) {
	s := newStore(t, nil)
	errc := make(chan error, 2)
	started := make(chan struct{}, 2)
	go func() {
		started <- struct{}{}
		_, err := s.Get(idOf("never"), Forever)
		errc <- err
	}()
	go func() {
		started <- struct{}{}
		_, err := s.GetMany([]ID{idOf("never")}, Forever)
		errc <- err
	}()
	// Most likely the gets are waiting by the time Close runs; if not, they
	// still must see the closed store.
	<-started
	<-started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "get forever, then close", <-errc, ErrClosed)
	wantErr(t, "get many forever, then close", <-errc, ErrClosed)
}

func TestCreateSealAbort(t *testing.T) {
	s := newStore(t, nil)
	id := idOf("create")
	u, err := s.Create(id, 1000, []byte("meta"))
	if err != nil {
		t.Fatal(err)
	}
	if u.ID() != id || u.Len() != 1000 || len(u.UnsafeData()) != 1000 {
		t.Fatalf("unsealed: ID %v len %d", u.ID(), u.Len())
	}
	// Invisible until sealed.
	if ok, _ := s.Contains(id); ok {
		t.Fatal("an unsealed object is visible to Contains")
	}
	_, err = s.Get(id, NoWait)
	wantErr(t, "get unsealed", err, ErrNotFound)
	wantErr(t, "delete unsealed", s.Delete(id), ErrNotSealed)
	_, err = s.Create(id, 10, nil)
	wantErr(t, "create an unsealed ID again", err, ErrAlreadyExists)
	if st := mustStats(t, s); st.UnsealedCount != 1 || st.ObjectCount != 0 {
		t.Fatalf("stats with one unsealed object: %+v", st)
	}

	fill(u.UnsafeData(), 5)
	if err := u.Seal(); err != nil {
		t.Fatal(err)
	}
	if u.UnsafeData() != nil {
		t.Fatal("UnsafeData after Seal is not nil")
	}
	wantErr(t, "seal twice", u.Seal(), ErrAlreadyExists)
	wantErr(t, "abort sealed", u.Abort(), ErrAlreadyExists)
	obj := mustGet(t, s, id)
	if !bytes.Equal(obj.UnsafeData(), pattern(1000, 5)) || string(obj.UnsafeMeta()) != "meta" {
		t.Fatal("sealed object reads back differently")
	}
	release(t, obj)
	if st := mustStats(t, s); st.UnsealedCount != 0 || st.ObjectCount != 1 {
		t.Fatalf("stats after seal: %+v", st)
	}

	// Abort frees the ID.
	id2 := idOf("aborted")
	u2, err := s.Create(id2, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	used := mustStats(t, s).UsedBytes
	if err := u2.Abort(); err != nil {
		t.Fatal(err)
	}
	if u2.UnsafeData() != nil {
		t.Fatal("UnsafeData after Abort is not nil")
	}
	wantErr(t, "abort twice", u2.Abort(), ErrNotFound)
	wantErr(t, "seal aborted", u2.Seal(), ErrNotFound)
	if st := mustStats(t, s); st.UnsealedCount != 0 || st.UsedBytes >= used {
		t.Fatalf("stats after abort: %+v (used before %d)", st, used)
	}
	if err := s.PutAs(id2, []byte("reused"), nil); err != nil {
		t.Fatalf("put of an aborted ID: %v", err)
	}

	// Only the creating handle may seal.
	other, err := Open(s.Name(), &Options{AttachOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	u3, err := other.Create(idOf("other's"), 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign := &Unsealed{store: s, id: u3.ID()}
	wantErr(t, "seal by another handle", foreign.Seal(), ErrInvalidArgument)
	if err := u3.Seal(); err != nil {
		t.Fatal(err)
	}
}

func TestFullStore(t *testing.T) {
	const capacity = 4 << 20
	s := newStore(t, &Options{CapacityBytes: capacity, MaxObjects: 64, CreateOnly: true})
	_, err := s.Put(make([]byte, capacity+1))
	wantErr(t, "put larger than the store", err, ErrTooLarge)
	_, err = s.Create(idOf("huge"), capacity*2, nil)
	wantErr(t, "create larger than the store", err, ErrTooLarge)

	var ids []ID
	chunk := pattern(512<<10, 6)
	for {
		id, err := s.Put(chunk)
		if err != nil {
			wantErr(t, "put into a full store", err, ErrOutOfMemory)
			break
		}
		ids = append(ids, id)
		if len(ids) > capacity/len(chunk) {
			t.Fatalf("%d puts of %d bytes fit in a %d-byte store", len(ids), len(chunk), capacity)
		}
	}
	if len(ids) == 0 {
		t.Fatal("not even one object fit")
	}
	// Every object reads back intact, and deleting one makes room.
	for _, id := range ids {
		o := mustGet(t, s, id)
		if !bytes.Equal(o.UnsafeData(), chunk) {
			t.Fatal("an object of the full store reads back differently")
		}
		release(t, o)
	}
	if err := s.Delete(ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(chunk); err != nil {
		t.Fatalf("put after a delete in a full store: %v", err)
	}
}

func TestList(t *testing.T) {
	s := newStore(t, nil)
	before := time.Now().Add(-time.Second)
	sealed := mustPut(t, s, make([]byte, 300), []byte("12345"))
	pinnedDeleted := mustPut(t, s, []byte("x"), nil)
	obj := mustGet(t, s, pinnedDeleted)
	defer release(t, obj)
	if err := s.Delete(pinnedDeleted); err != nil {
		t.Fatal(err)
	}
	u, err := s.Create(idOf("unsealed"), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort()
	// More than one batch of os_list.
	for i := 0; i < listBatch+10; i++ {
		mustPut(t, s, []byte{byte(i)}, nil)
	}
	infos, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != listBatch+13 {
		t.Fatalf("List returned %d objects, want %d", len(infos), listBatch+13)
	}
	byID := map[ID]ObjectInfo{}
	for _, in := range infos {
		byID[in.ID] = in
	}
	if in := byID[sealed]; in.State != StateSealed || in.DataLen != 300 || in.MetaLen != 5 ||
		in.PinningProcesses != 0 || in.Created.Before(before) {
		t.Fatalf("sealed object listed as %+v", in)
	}
	if in := byID[pinnedDeleted]; in.State != StateDeleted || in.PinningProcesses != 1 {
		t.Fatalf("deleted, pinned object listed as %+v", in)
	}
	if in := byID[idOf("unsealed")]; in.State != StateUnsealed || in.DataLen != 10 {
		t.Fatalf("unsealed object listed as %+v", in)
	}
	if StateSpilled.String() != "spilled" || ObjectState(99).String() != "ObjectState(99)" {
		t.Fatal("ObjectState.String")
	}
}

func TestListSaysReferencesAndFlags(t *testing.T) {
	s := newStore(t, nil)
	counted, err := s.PutEx([]byte("counted"), nil, ObjectRefcounted)
	if err != nil {
		t.Fatal(err)
	}
	cached, err := s.PutEx([]byte("cached"), nil, ObjectEvictable)
	if err != nil {
		t.Fatal(err)
	}
	plain := mustPut(t, s, []byte("plain"), nil)
	infos, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[ID]ObjectInfo{}
	for _, in := range infos {
		byID[in.ID] = in
	}
	if in := byID[counted]; in.Flags != ObjectRefcounted || in.ReferencingProcesses != 1 {
		t.Fatalf("refcounted object listed as %+v", in)
	}
	if in := byID[cached]; in.Flags != ObjectEvictable || in.ReferencingProcesses != 0 {
		t.Fatalf("evictable object listed as %+v", in)
	}
	if in := byID[plain]; in.Flags != 0 || in.ReferencingProcesses != 0 {
		t.Fatalf("plain object listed as %+v", in)
	}
	if err := s.Unref(counted); err != nil {
		t.Fatal(err)
	}
}

// An expired deadline (time.Until of a past time) does not mean forever:
// only Forever (-1) does.
func TestExpiredDeadlineTimesOutAtOnce(t *testing.T) {
	s := newStore(t, nil)
	missing := idOf("expired")
	start := time.Now()
	_, err := s.Get(missing, time.Until(start.Add(-time.Second)))
	wantErr(t, "get with an expired deadline", err, ErrTimeout)
	objs, err := s.GetMany([]ID{missing}, -5*time.Millisecond)
	wantErr(t, "get many with an expired deadline", err, ErrTimeout)
	if len(objs) != 1 || objs[0] != nil {
		t.Fatalf("get many returned %v", objs)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("an expired deadline waited %v", waited)
	}
	// And an object that is there is returned even with an expired deadline.
	id, err := s.Put([]byte("here"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Get(id, -time.Second)
	if err != nil {
		t.Fatalf("get of a present object with an expired deadline: %v", err)
	}
	obj.Release()
}
