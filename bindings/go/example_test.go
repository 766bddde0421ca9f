package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	objstore "github.com/objstore/objstore/bindings/go"
)

// A producer puts an object, a consumer gets a zero-copy view of it by ID.
// In real use the two are different processes that share the store's name
// and pass the ID (as its 40-character hex form) between them.
func Example() {
	name := fmt.Sprintf("objstore-go-example-%d", os.Getpid())
	store, err := objstore.Open(name, &objstore.Options{CapacityBytes: 16 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer objstore.Destroy(name)
	defer store.Close()

	id, err := store.PutWithMeta([]byte("hello, shared memory"), []byte("text/plain"))
	if err != nil {
		log.Fatal(err)
	}

	obj, err := store.Get(id, objstore.Forever) // waits until some process seals id
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%s)\n", obj.UnsafeData(), obj.UnsafeMeta()) // no copy
	obj.Release()                                               // unpin; the views are invalid from here
	// Output: hello, shared memory (text/plain)
}

// Create gives writable memory in the store, filled in place and then
// sealed: no copy at all.
func ExampleStore_Create() {
	name := fmt.Sprintf("objstore-go-example-create-%d", os.Getpid())
	store, err := objstore.Open(name, &objstore.Options{CapacityBytes: 16 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer objstore.Destroy(name)
	defer store.Close()

	id, _ := objstore.ParseID("00112233445566778899aabbccddeeff00112233")
	u, err := store.Create(id, 4, []byte("u8 4"))
	if err != nil {
		log.Fatal(err)
	}
	copy(u.UnsafeData(), []byte{1, 2, 3, 4})
	if err := u.Seal(); err != nil {
		log.Fatal(err)
	}
	obj, err := store.Get(id, objstore.NoWait)
	if err != nil {
		log.Fatal(err)
	}
	defer obj.Release()
	fmt.Println(obj.ID(), obj.CopyData())
	// Output: 00112233445566778899aabbccddeeff00112233 [1 2 3 4]
}

// Errors match the exported sentinels with errors.Is.
func ExampleErrNotFound() {
	name := fmt.Sprintf("objstore-go-example-errors-%d", os.Getpid())
	store, err := objstore.Open(name, &objstore.Options{CapacityBytes: 16 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer objstore.Destroy(name)
	defer store.Close()

	_, err = store.Get(objstore.ID{}, objstore.NoWait)
	fmt.Println(errors.Is(err, objstore.ErrNotFound))
	// Output: true
}

// A refcounted object frees itself when its last Ref is closed. Give moves
// a reference into a Ticket, a plain value that another process (here,
// another Store handle) takes once; its binary form crosses a pipe.
func ExampleRef() {
	name := fmt.Sprintf("objstore-go-example-ref-%d", os.Getpid())
	producer, err := objstore.Open(name, &objstore.Options{CapacityBytes: 16 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer objstore.Destroy(name)
	defer producer.Close()
	consumer, err := objstore.Open(name, &objstore.Options{AttachOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()

	ref, err := producer.PutRef([]byte("result"), nil, 0)
	if err != nil {
		log.Fatal(err)
	}
	ticket, err := ref.Give() // ref is spent; the ticket holds the reference
	if err != nil {
		log.Fatal(err)
	}
	wire, _ := ticket.MarshalBinary() // 28 bytes, for a pipe or a queue

	var received objstore.Ticket
	if err := received.UnmarshalBinary(wire); err != nil {
		log.Fatal(err)
	}
	mine, err := consumer.TakeTicket(received)
	if err != nil {
		log.Fatal(err)
	}
	present, _ := consumer.Contains(mine.ID())
	fmt.Println(present)
	mine.Close() // the last reference: the object is freed
	present, _ = consumer.Contains(mine.ID())
	fmt.Println(present)
	// Output:
	// true
	// false
}

// A WaitSet hands out results in the order they finish, each once: here
// workers (goroutines; in real use, other processes) seal three objects
// whose IDs the consumer knows in advance.
func ExampleWaitSet() {
	name := fmt.Sprintf("objstore-go-example-waitset-%d", os.Getpid())
	store, err := objstore.Open(name, &objstore.Options{CapacityBytes: 16 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer objstore.Destroy(name)
	defer store.Close()

	tasks := []string{"slow", "fast", "medium"}
	ids := make([]objstore.ID, len(tasks))
	for i, task := range tasks {
		copy(ids[i][:], "task-"+task) // an ID derived from the task
	}
	set, err := store.NewWaitSet(ids)
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	for i, delay := range []time.Duration{60, 0, 30} {
		go func(i int, delay time.Duration) {
			time.Sleep(delay * time.Millisecond)
			_ = store.PutAs(ids[i], []byte("result of "+tasks[i]), nil)
		}(i, delay)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for set.Remaining() > 0 {
		done, err := set.NextContext(ctx, len(ids))
		if err != nil {
			log.Fatal(err)
		}
		for _, i := range done {
			obj, err := store.Get(ids[i], objstore.NoWait)
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%s\n", obj.UnsafeData())
			obj.Release()
		}
	}
	// Fast, medium, slow, as they finish (a loaded machine may reorder
	// the workers, hence "unordered"):

	// Unordered output:
	// result of fast
	// result of medium
	// result of slow
}
