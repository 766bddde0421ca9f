// Command tensors is the objstore tensor walk-through in Go.
//
// A driver puts 15 float32 tensors of shape (i,8,8), i = 1..15, into a
// store, each with metadata "float32 i,8,8". It hands their IDs, as hex, to
// a pool of worker processes (this same program, started with "worker"). A
// worker gets each tensor by ID, zero-copy, transposes its first two axes
// into a new object of shape (8,i,8), and reports the new object's ID. The
// driver gets the results, checks every shape and value against a local
// transpose, and shows that the original objects did not change.
//
// Run: go run . [-workers N] [-seed S]
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	objstore "github.com/objstore/objstore/bindings/go"
	"github.com/objstore/objstore/examples/go/internal/tensor"
)

const tensors = 15

func main() {
	if len(os.Args) == 3 && os.Args[1] == "worker" {
		if err := worker(os.Args[2], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "worker %d: %v\n", os.Getpid(), err)
			os.Exit(1)
		}
		return
	}
	workers := flag.Int("workers", 4, "number of worker processes")
	seed := flag.Uint64("seed", 42, "seed of the input generator")
	flag.Parse()
	if err := drive(*workers, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "FAILED:", err)
		os.Exit(1)
	}
}

// worker attaches to the store, reads input IDs (hex, one a line) until
// EOF, and for each writes "INPUT RESULT" to out.
func worker(store string, in io.Reader, out io.Writer) error {
	s, err := objstore.Open(store, &objstore.Options{AttachOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		input, err := objstore.ParseID(lines.Text())
		if err != nil {
			return err
		}
		result, _, _, err := tensor.TransposeObject(s, input, 10*time.Second)
		if err != nil {
			return fmt.Errorf("task %v: %w", input, err)
		}
		if _, err := fmt.Fprintf(out, "%v %v\n", input, result); err != nil {
			return err
		}
	}
	return lines.Err()
}

// report is one line of a worker: which result it made from which input.
type report struct {
	input, result objstore.ID
	pid           int
}

func drive(workers int, seed uint64) (err error) {
	if workers < 1 {
		return errors.New("need at least one worker")
	}
	name := fmt.Sprintf("objstore-go-tensors-%d", os.Getpid())
	s, err := objstore.Open(name, &objstore.Options{CapacityBytes: 64 << 20, CreateOnly: true})
	if err != nil {
		return err
	}
	// Runs last: remove the store whatever happened.
	defer func() {
		if derr := objstore.Destroy(name); derr != nil && err == nil {
			err = derr
		}
	}()
	defer s.Close()
	fmt.Printf("objstore %s, store /dev/shm/%s, %d worker processes, seed %d\n\n",
		objstore.Version(), name, workers, seed)

	// 1. Put the inputs.
	inputs := tensor.Inputs(tensors, seed)
	ids := make([]objstore.ID, tensors)
	sums := make([]uint64, tensors)
	for i, t := range inputs {
		shape := []int{i + 1, 8, 8}
		if ids[i], err = s.PutWithMeta(tensor.Bytes(t), tensor.Meta(shape)); err != nil {
			return fmt.Errorf("put input %d: %w", i+1, err)
		}
		sums[i] = tensor.Checksum(tensor.Bytes(t))
	}
	fmt.Printf("put %d input tensors (i,8,8), i = 1..%d, metadata like %q\n", tensors, tensors, tensor.Meta([]int{1, 8, 8}))

	// 2. Hand the IDs to the workers and collect their reports.
	reports, err := runWorkers(name, workers, ids)
	if err != nil {
		return err
	}

	// 3. Check every result against a local transpose. GetMany pins them
	// all in one call (and would wait for any not sealed yet).
	resultIDs := make([]objstore.ID, tensors)
	pids := make([]int, tensors)
	for i, id := range ids {
		r, ok := reports[id]
		if !ok {
			return fmt.Errorf("no worker reported a result for input %d (%v)", i+1, id)
		}
		if r.result != tensor.ResultID(id) {
			return fmt.Errorf("input %d: result %v is not the ID derived from the input", i+1, r.result)
		}
		resultIDs[i], pids[i] = r.result, r.pid
	}
	results, err := s.GetMany(resultIDs, 10*time.Second)
	if err != nil {
		return fmt.Errorf("get results: %w", err)
	}
	defer func() {
		for _, o := range results {
			o.Release()
		}
	}()
	fmt.Printf("\n  i  input       result      worker  check   input ID -> result ID\n")
	bad := 0
	for i, obj := range results {
		a := i + 1
		check := "ok"
		shape, perr := tensor.ParseMeta(obj.UnsafeMeta())
		switch {
		case perr != nil:
			check = perr.Error()
		case tensor.ShapeString(shape) != tensor.ShapeString([]int{8, a, 8}):
			check = "wrong shape " + tensor.ShapeString(shape)
		case !tensor.IsTranspose01(tensor.Floats(obj.UnsafeData()), inputs[i], a, 8, 8):
			check = "VALUES DIFFER"
		}
		if check != "ok" {
			bad++
		}
		fmt.Printf("%3d  %-10s  %-10s  %6d  %-5s   %v -> %v\n", a, tensor.ShapeString([]int{a, 8, 8}),
			tensor.ShapeString(shape), pids[i], check, ids[i], resultIDs[i])
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d results do not match a local transpose", bad, tensors)
	}
	// One element row, to see the transpose: input 3 is (3,8,8), result 3
	// is (8,3,8), and input[2][5][:] == result[5][2][:].
	in3, out3 := inputs[2], tensor.Floats(results[2].UnsafeData())
	fmt.Printf("\ne.g. input 3 [2][5][0:3] = %.4f, result 3 [5][2][0:3] = %.4f\n",
		in3[(2*8+5)*8:(2*8+5)*8+3], out3[(5*3+2)*8:(5*3+2)*8+3])

	// 4. The inputs are unchanged: a transformation made new objects.
	for i, id := range ids {
		obj, err := s.Get(id, objstore.NoWait)
		if err != nil {
			return fmt.Errorf("input %d after the run: %w", i+1, err)
		}
		same := tensor.Checksum(obj.UnsafeData()) == sums[i] && equalBits(tensor.Floats(obj.UnsafeData()), inputs[i])
		obj.Release()
		if !same {
			return fmt.Errorf("input %d changed", i+1)
		}
	}
	st, err := s.Stats()
	if err != nil {
		return err
	}
	fmt.Printf("\nall %d results match a local transpose; all %d inputs unchanged (bit for bit)\n", tensors, tensors)
	fmt.Printf("store: %d objects, %d KiB used, %d pinned (the results, held by this driver), %d unsealed\n",
		st.ObjectCount, st.UsedBytes>>10, st.PinnedCount, st.UnsealedCount)
	if st.ObjectCount != 2*tensors || st.UnsealedCount != 0 || st.PinnedCount != tensors {
		return fmt.Errorf("unexpected store counters %+v", st)
	}
	return nil
}

// runWorkers starts the worker processes, deals the input IDs to them
// round-robin on their stdin, and collects their reports, keyed by input.
func runWorkers(store string, workers int, ids []objstore.ID) (map[objstore.ID]report, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var (
		mu      sync.Mutex
		reports = map[objstore.ID]report{}
		wg      sync.WaitGroup
		cmds    []*exec.Cmd
		failed  []error
	)
	// Whatever goes wrong, no worker outlives the driver.
	defer func() {
		for _, c := range cmds {
			if c.ProcessState == nil {
				_ = c.Process.Kill()
				_ = c.Wait()
			}
		}
	}()
	stdins := make([]io.WriteCloser, workers)
	for w := 0; w < workers; w++ {
		cmd := exec.Command(self, "worker", store)
		cmd.Stderr = os.Stderr
		if stdins[w], err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		cmds = append(cmds, cmd)
		wg.Add(1)
		go func(cmd *exec.Cmd, stdout io.Reader) {
			defer wg.Done()
			lines := bufio.NewScanner(stdout)
			for lines.Scan() {
				in, out, perr := parseReport(lines.Text())
				mu.Lock()
				if perr != nil {
					failed = append(failed, perr)
				} else {
					reports[in] = report{input: in, result: out, pid: cmd.Process.Pid}
				}
				mu.Unlock()
			}
			// Wait only after the last read: it closes the pipe.
			if err := cmd.Wait(); err != nil {
				mu.Lock()
				failed = append(failed, fmt.Errorf("worker %d: %w", cmd.Process.Pid, err))
				mu.Unlock()
			}
		}(cmd, stdout)
	}
	fmt.Printf("started %d worker processes; dealing them the input IDs as hex\n", workers)
	for i, id := range ids {
		if _, err := fmt.Fprintln(stdins[i%workers], id); err != nil {
			return nil, err
		}
	}
	for _, in := range stdins {
		in.Close() // EOF: the worker finishes its tasks and exits
	}
	wg.Wait()
	if len(failed) > 0 {
		return nil, errors.Join(failed...)
	}
	return reports, nil
}

func parseReport(line string) (objstore.ID, objstore.ID, error) {
	f := strings.Fields(line)
	if len(f) != 2 {
		return objstore.ID{}, objstore.ID{}, fmt.Errorf("bad worker report %q", line)
	}
	in, err := objstore.ParseID(f[0])
	if err != nil {
		return objstore.ID{}, objstore.ID{}, err
	}
	out, err := objstore.ParseID(f[1])
	return in, out, err
}

// equalBits compares two float32 slices bit for bit: a transpose moves
// values, and must not change a single bit of any.
func equalBits(a, b []float32) bool {
	return len(a) == len(b) && bytes.Equal(tensor.Bytes(a), tensor.Bytes(b))
}
