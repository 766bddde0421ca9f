package objstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateNewPicksAFreshID(t *testing.T) {
	s := newStore(t, nil)
	a, err := s.CreateNew(3, []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateNew(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() == b.ID() {
		t.Fatalf("two fresh IDs are equal: %v", a.ID())
	}
	copy(a.UnsafeData(), "new")
	if err := a.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := b.Abort(); err != nil {
		t.Fatal(err)
	}
	obj := mustGet(t, s, a.ID())
	defer release(t, obj)
	if string(obj.CopyData()) != "new" || string(obj.CopyMeta()) != "m" {
		t.Fatalf("got %q / %q", obj.CopyData(), obj.CopyMeta())
	}
	_, err = s.CreateNew(-1, nil)
	wantErr(t, "negative size", err, ErrInvalidArgument)
}

func TestProcessesAndPinHolders(t *testing.T) {
	s := newStore(t, nil)
	id := mustPut(t, s, []byte("pinned"), nil)
	procs, err := s.Processes()
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 1 || procs[0].PID != os.Getpid() {
		t.Fatalf("Processes() = %+v, want this process alone", procs)
	}
	holders, err := s.PinHolders(id)
	if err != nil || len(holders) != 0 {
		t.Fatalf("PinHolders of an unpinned object = %+v, %v", holders, err)
	}
	obj := mustGet(t, s, id)
	holders, err = s.PinHolders(id)
	if err != nil || len(holders) != 1 || holders[0].PID != os.Getpid() || holders[0].Slot != procs[0].Slot {
		t.Fatalf("PinHolders of a pinned object = %+v, %v", holders, err)
	}
	release(t, obj)
	_, err = s.PinHolders(idOf("nobody"))
	wantErr(t, "pin holders of an absent object", err, ErrNotFound)
}

func TestAuditOfASoundStoreFindsNothing(t *testing.T) {
	s := newStore(t, nil)
	mustPut(t, s, []byte("a"), nil)
	u, err := s.Create(idOf("pending"), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort()
	problems, err := s.Audit()
	if err != nil || len(problems) != 0 {
		t.Fatalf("Audit() = %q, %v", problems, err)
	}
}

func TestAuditFindsRemovedSpillFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spill")
	s := newStore(t, &Options{CapacityBytes: 2 << 20, MaxObjects: 256, SpillDir: dir, CreateOnly: true})
	block := make([]byte, 100000)
	var st Stats
	for i := 0; i < 100 && st.SpilledCount < 2; i++ {
		mustPut(t, s, block, nil)
		st = mustStats(t, s)
	}
	if st.SpilledCount < 2 || st.SpillsTotal < st.SpilledCount {
		t.Fatalf("nothing spilled: %+v", st)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	problems, err := s.Audit()
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(problems)) != st.SpilledCount {
		t.Fatalf("%d problems for %d spilled objects: %q", len(problems), st.SpilledCount, problems)
	}
	for _, p := range problems {
		if !strings.Contains(p, "no spill file") {
			t.Errorf("problem %q", p)
		}
	}
}

func TestAnyOwnerOption(t *testing.T) {
	s := newStore(t, &Options{CapacityBytes: 1 << 20, MaxObjects: 16, CreateOnly: true, AnyOwner: true})
	s2, err := Open(s.Name(), &Options{AttachOnly: true, AnyOwner: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestInspectingAClosedStore(t *testing.T) {
	s, err := Open(storeName(t), smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer Destroy(s.Name())
	s.Close()
	if _, err := s.Processes(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Processes after Close: %v", err)
	}
	if _, err := s.Audit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Audit after Close: %v", err)
	}
	if _, err := s.CreateNew(1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("CreateNew after Close: %v", err)
	}
}
