// Command crashdemo shows objstore surviving a worker killed at the worst
// moment.
//
// The driver puts 6 input tensors and starts a worker process (this same
// program, with "victim") that pins three inputs, creates the result object
// of the first one and writes half of it, then hangs. The driver SIGKILLs
// it: the dead process still holds 3 pins and 1 half-written (created,
// unsealed) object. Collect reclaims them: the pins are gone, the
// half-written object is aborted and its ID can be created again. Then a
// new pool of workers runs the whole batch, including the task the victim
// died in, and the driver verifies every result.
//
// Run: go run ./crashdemo
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	objstore "github.com/objstore/objstore/bindings/go"
	"github.com/objstore/objstore/examples/go/internal/tensor"
)

const (
	inputs    = 6
	victimPin = 3 // inputs the victim pins before it is killed
)

func main() {
	var err error
	switch {
	case len(os.Args) >= 3 && os.Args[1] == "victim":
		err = victim(os.Args[2], os.Args[3:])
	case len(os.Args) >= 3 && os.Args[1] == "worker":
		err = worker(os.Args[2], os.Args[3:])
	case len(os.Args) == 1:
		if err = drive(); err != nil {
			err = fmt.Errorf("FAILED: %w", err)
		}
	default:
		err = errors.New("usage: crashdemo (no arguments)")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// victim pins the inputs, half-writes the first result, says "ready" and
// hangs until it is killed.
func victim(store string, hexIDs []string) error {
	s, err := objstore.Open(store, &objstore.Options{AttachOnly: true})
	if err != nil {
		return err
	}
	var first *objstore.Object
	for i, h := range hexIDs {
		id, err := objstore.ParseID(h)
		if err != nil {
			return err
		}
		obj, err := s.Get(id, 10*time.Second) // pinned, and never released
		if err != nil {
			return err
		}
		if i == 0 {
			first = obj
		}
	}
	u, err := s.Create(tensor.ResultID(first.ID()), first.Len(), []byte("float32 (being written)"))
	if err != nil {
		return err
	}
	half := u.UnsafeData()[:u.Len()/2]
	copy(half, first.UnsafeData())
	fmt.Printf("ready %v\n", u.ID())
	// Hang: the driver never writes to our stdin, it kills us.
	_, _ = io.ReadAll(os.Stdin)
	return errors.New("victim was not killed")
}

// worker does the tasks named on its command line, as the tensor
// walk-through's workers do.
func worker(store string, hexIDs []string) error {
	s, err := objstore.Open(store, &objstore.Options{AttachOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	for _, h := range hexIDs {
		id, err := objstore.ParseID(h)
		if err != nil {
			return err
		}
		if _, _, _, err := tensor.TransposeObject(s, id, 10*time.Second); err != nil {
			return fmt.Errorf("task %v: %w", id, err)
		}
	}
	return nil
}

// check collects what is not as expected, so the demo reports everything
// before it fails.
type check struct{ failures []string }

func (c *check) expect(ok bool, format string, args ...any) {
	mark := "ok  "
	if !ok {
		mark = "FAIL"
		c.failures = append(c.failures, fmt.Sprintf(format, args...))
	}
	fmt.Printf("  [%s] %s\n", mark, fmt.Sprintf(format, args...))
}

func printStats(s *objstore.Store, when string) objstore.Stats {
	st, err := s.Stats()
	if err != nil {
		fmt.Printf("  stats %s: %v\n", when, err)
		return st
	}
	fmt.Printf("  stats %-26s attached %d, objects %2d, pinned %d, unsealed %d, reclaimed processes %d\n",
		when+":", st.AttachedProcesses, st.ObjectCount, st.PinnedCount, st.UnsealedCount, st.ReclaimedProcesses)
	return st
}

func drive() (err error) {
	name := fmt.Sprintf("objstore-go-crashdemo-%d", os.Getpid())
	s, err := objstore.Open(name, &objstore.Options{CapacityBytes: 32 << 20, CreateOnly: true})
	if err != nil {
		return err
	}
	defer func() {
		if derr := objstore.Destroy(name); derr != nil && err == nil {
			err = derr
		}
	}()
	defer s.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var c check

	// 1. Inputs.
	data := tensor.Inputs(inputs, 7)
	ids := make([]objstore.ID, inputs)
	hexIDs := make([]string, inputs)
	for i, t := range data {
		if ids[i], err = s.PutWithMeta(tensor.Bytes(t), tensor.Meta([]int{i + 1, 8, 8})); err != nil {
			return err
		}
		hexIDs[i] = ids[i].String()
	}
	fmt.Printf("store /dev/shm/%s: put %d input tensors\n", name, inputs)
	before := printStats(s, "at start")

	// 2. The victim: pins, a half-written object, then SIGKILL.
	v := exec.Command(self, append([]string{"victim", name}, hexIDs[:victimPin]...)...)
	v.Stderr = os.Stderr
	stdin, _ := v.StdinPipe()
	stdout, _ := v.StdoutPipe()
	if err := v.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close()
		if v.ProcessState == nil {
			_ = v.Process.Kill()
			_ = v.Wait()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	halfHex, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		return fmt.Errorf("victim did not get ready (said %q, %v)", line, err)
	}
	half, err := objstore.ParseID(halfHex)
	if err != nil {
		return err
	}
	fmt.Printf("\nvictim (pid %d) pinned %d inputs and is half-way through writing %v\n", v.Process.Pid, victimPin, half)
	alive := printStats(s, "with the victim alive")
	c.expect(alive.PinnedCount == victimPin, "%d inputs pinned by the victim", alive.PinnedCount)
	c.expect(alive.UnsealedCount == 1, "%d half-written (unsealed) object", alive.UnsealedCount)
	_, gerr := s.Get(half, objstore.NoWait)
	c.expect(errors.Is(gerr, objstore.ErrNotFound), "the half-written object is invisible to get (%v)", gerr)
	_, cerr := s.Create(half, 8, nil)
	c.expect(errors.Is(cerr, objstore.ErrAlreadyExists), "its ID is taken while the victim lives (%v)", cerr)

	if err := v.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	werr := v.Wait()
	fmt.Printf("\nSIGKILL sent; victim: %v\n", werr)
	dead := printStats(s, "victim dead, not collected")

	// 3. Reclaim.
	if err := s.Collect(); err != nil {
		return err
	}
	fmt.Println("\nCollect()")
	after := printStats(s, "after Collect")
	c.expect(after.PinnedCount == 0, "the dead victim's pins were released (pinned %d -> %d)", dead.PinnedCount, after.PinnedCount)
	c.expect(after.UnsealedCount == 0, "its half-written object was aborted (unsealed %d -> %d)", dead.UnsealedCount, after.UnsealedCount)
	c.expect(after.ReclaimedProcesses == before.ReclaimedProcesses+1, "one dead process reclaimed")
	c.expect(after.AttachedProcesses == 1, "only the driver is attached")
	c.expect(after.ObjectCount == inputs, "the %d inputs are still there", after.ObjectCount)
	u, cerr := s.Create(half, 8, nil)
	c.expect(cerr == nil, "the half-written object's ID can be created again%s", errNote(cerr))
	if cerr == nil {
		// Give the ID back: the worker below makes the real result.
		c.expect(u.Abort() == nil, "and aborted again, for the worker to redo the task")
	}

	// 4. The pipeline carries on: two fresh workers do every task.
	fmt.Println("\nnew workers run the whole batch, including the task the victim died in")
	var workers []*exec.Cmd
	for w := 0; w < 2; w++ {
		var mine []string
		for i := w; i < inputs; i += 2 {
			mine = append(mine, hexIDs[i])
		}
		cmd := exec.Command(self, append([]string{"worker", name}, mine...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		workers = append(workers, cmd)
	}
	for _, cmd := range workers {
		c.expect(cmd.Wait() == nil, "worker %d finished its tasks", cmd.Process.Pid)
	}
	for i, id := range ids {
		a := i + 1
		obj, err := s.Get(tensor.ResultID(id), 10*time.Second)
		if err != nil {
			c.expect(false, "result %d: %v", a, err)
			continue
		}
		shape, _ := tensor.ParseMeta(obj.UnsafeMeta())
		c.expect(tensor.IsTranspose01(tensor.Floats(obj.UnsafeData()), data[i], a, 8, 8) &&
			tensor.ShapeString(shape) == tensor.ShapeString([]int{8, a, 8}),
			"result %d %s matches a local transpose", a, tensor.ShapeString(shape))
		obj.Release()
		in, err := s.Get(id, objstore.NoWait)
		if err == nil {
			c.expect(bytes.Equal(in.UnsafeData(), tensor.Bytes(data[i])), "input %d unchanged", a)
			in.Release()
		} else {
			c.expect(false, "input %d: %v", a, err)
		}
	}
	end := printStats(s, "at the end")
	c.expect(end.ObjectCount == 2*inputs && end.PinnedCount == 0 && end.UnsealedCount == 0,
		"%d objects, nothing pinned or half-written", end.ObjectCount)

	if len(c.failures) > 0 {
		return fmt.Errorf("%d checks failed: %s", len(c.failures), strings.Join(c.failures, "; "))
	}
	fmt.Println("\nthe crash cost nothing: every pin and the half-written object were reclaimed, every result verified")
	return nil
}

// errNote formats an unexpected error for a check's line.
func errNote(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}
