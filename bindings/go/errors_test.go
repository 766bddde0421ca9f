package objstore

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Many goroutines fail at once, each with a message naming its own ID. The
// binding takes each message from the failing call itself (os_get_e and its
// os_error), not from the library's per-thread last error, so goroutines
// that move between OS threads, as the scheduler pleases, still get their
// own message, and the package never locks a goroutine to its thread.
func TestConcurrentFailuresEachGetTheirOwnMessage(t *testing.T) {
	s := newStore(t, nil)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	const goroutines, rounds = 64, 200
	var wg sync.WaitGroup
	wrong := make(chan string, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			id := idOf("absent-" + string(rune('A'+g%26)) + string(rune('a'+g/26)))
			for r := 0; r < rounds; r++ {
				_, err := s.Get(id, NoWait)
				e, ok := err.(*Error)
				if !ok || e.Status != StatusNotFound || !strings.Contains(e.Message, id.String()) {
					wrong <- "goroutine " + id.String() + " got: " + errString(err)
					return
				}
				if r%8 == 0 {
					runtime.Gosched() // invite a move to another thread
				}
			}
		}(g)
	}
	wg.Wait()
	close(wrong)
	for w := range wrong {
		t.Error(w)
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// Every kind of call hands its message back: an open, a store-level call
// and an object call.
func TestErrorsCarryTheLibrarysMessage(t *testing.T) {
	_, err := Open("objstore-go-test-no-such-store", &Options{AttachOnly: true})
	if e, ok := err.(*Error); !ok || e.Status != StatusNotFound || !strings.Contains(e.Message, "objstore-go-test-no-such-store") {
		t.Fatalf("open: %v", err)
	}
	s := newStore(t, nil)
	id := mustPut(t, s, []byte("x"), nil)
	_, err = s.Create(id, 1, nil)
	if e, ok := err.(*Error); !ok || e.Status != StatusAlreadyExists || e.Message == "" {
		t.Fatalf("create of an existing ID: %#v", err)
	}
	err = mustGet(t, s, id).Release()
	if err != nil {
		t.Fatal(err)
	}
	err = (&Object{store: s, id: id, cid: cID(id)}).Release()
	if e, ok := err.(*Error); !ok || e.Status != StatusInvalidArgument || e.Message == "" {
		t.Fatalf("release without a pin: %#v", err)
	}
}

// The package never locks a goroutine to its OS thread: nothing in it
// depends on which thread runs a call (see failure in errors.go).
func TestThePackageNeverLocksAThread(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if ok && (sel.Sel.Name == "LockOSThread" || sel.Sel.Name == "os_last_error") {
				t.Errorf("%s: uses %s", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}

func TestVersionsAgree(t *testing.T) {
	want := strings.Join([]string{strconv.Itoa(VersionMajor), strconv.Itoa(VersionMinor), strconv.Itoa(VersionPatch)}, ".")
	if v := Version(); v != want {
		t.Fatalf("Version() = %q, the header says %q", v, want)
	}
	if VersionNumber != uint32(VersionMajor*1000000+VersionMinor*1000+VersionPatch) {
		t.Fatalf("VersionNumber %d does not match %s", VersionNumber, want)
	}
	if n := LibraryVersionNumber(); n != VersionNumber {
		t.Fatalf("LibraryVersionNumber() = %d, want %d", n, VersionNumber)
	}
	if err := CheckVersion(); err != nil {
		t.Fatalf("CheckVersion: %v", err)
	}
}

// The go directive of go.mod is the Go version the README asks for.
func TestGoModMatchesTheReadme(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (1\.\d+)`).FindSubmatch(mod)
	if goLine == nil {
		t.Fatal("go.mod has no go directive")
	}
	for _, readme := range []string{"../../README.md", "README.md"} {
		text, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		asked := regexp.MustCompile(`Go (1\.\d+)\+`).FindAllSubmatch(text, -1)
		if len(asked) == 0 {
			t.Errorf("%s names no Go version (\"Go 1.N+\")", readme)
		}
		for _, a := range asked {
			if string(a[1]) != string(goLine[1]) {
				t.Errorf("%s asks for Go %s+, go.mod says go %s", readme, a[1], goLine[1])
			}
		}
	}
}
