// Package objstore is the Go binding of objstore, a shared-memory store of
// immutable objects.
//
// Processes on one machine open the same store by name (a file under
// /dev/shm). One process puts a blob and gets back a 20-byte [ID]; any
// process holding the ID gets a pinned, zero-copy, read-only view of the
// blob straight from the shared mapping. There is no daemon and no socket.
//
// # Building
//
// The package is a thin cgo layer over the C library (libobjstore) and finds
// it with pkg-config (`#cgo pkg-config: objstore`). Point PKG_CONFIG_PATH at
// the directory holding objstore.pc (lib/pkgconfig of an installed prefix,
// or target/release/pkgconfig of a source build) and make sure the dynamic
// loader finds libobjstore.so.0 at run time (an installed prefix known to
// ld.so, or LD_LIBRARY_PATH).
//
// # Lifetimes
//
// A [Store] owns a C handle and must be closed with [Store.Close]; a
// finalizer closes a forgotten Store, but only as a backstop. An [Object]
// returned by [Store.Get] holds a pin: its bytes stay mapped and unchanged
// until [Object.Release] (or the Store's Close). Its zero-copy views
// ([Object.UnsafeData], [Object.UnsafeMeta]) point into the shared mapping
// and must neither be written nor used after the release; the copying
// accessors ([Object.CopyData], [Object.CopyMeta]) are always safe. Objects
// have no finalizer, on purpose: a finalizer that released the pin behind a
// zero-copy slice still in use would turn a leak into memory corruption. A
// pin that is never released is dropped when the Store is closed.
//
// A [Ref] (from [Store.PutRef], [Store.NewRef], [Store.TakeTicket]) holds
// one reference to an object; an object put with ObjectRefcounted is freed
// when no process holds a reference or a pin. Close every Ref; it has no
// finalizer either (the program may still use the object by its ID), and
// a reference never closed is dropped when the Store is closed.
// [Ref.Give] moves the reference into a [Ticket], a plain value that
// crosses a channel, or a pipe as 28 bytes, to be taken once. A ticket not
// taken yet goes with the process that gave it when it closes its last
// Store of the store: [Store.WaitTicketsTaken] waits for the takes first,
// and [Options.TicketLinger] makes that Close wait for them.
//
// # Waiting
//
// A get of an ID that is not in the store yet waits for another process (or
// goroutine) to seal it. Timeouts are time.Duration values: [NoWait] (0)
// does not wait, [Forever] (-1) waits until the object is sealed or the
// Store is closed, a positive duration waits at most that long, and any
// other negative duration (an expired deadline) gives ErrTimeout at once
// if the object is absent. [Store.GetContext] waits until the object is sealed or the context
// is done, then returns an error wrapping the context's error. A wait is one
// call into the library with a canceller that the context's end (or Close)
// cancels: it returns at once, with no polling. Only the wait is cancelled:
// as in the C API, an object present already is got even with a context
// that is done before the call.
//
// A [WaitSet] hands out objects in the order they are sealed, each once,
// for a consumer that takes results as they finish: [Store.NewWaitSet]
// registers the IDs once, [WaitSet.Next] and [WaitSet.NextContext] wait
// for the next ones. A set outlives its Store; close it with
// [WaitSet.Close].
//
// # Errors
//
// Every failure of the library is an [*Error] carrying the [Status] and the
// library's detail message; match it with errors.Is against the sentinels
// ([ErrNotFound], [ErrTimeout], ...). Using a closed Store gives [ErrClosed].
//
// # Concurrency
//
// A Store may be used from many goroutines at once, and Close may be called
// while other goroutines are waiting in a get: they return ErrClosed.
// Handles belong to the process that opened them.
package objstore
