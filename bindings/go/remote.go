package objstore

// #include <objstore.h>
import "C"

import "time"

// Publish uploads the sealed object id to the store's remote (the
// RemoteURL it was created with), where a Get on any machine whose store
// has the same remote finds it. It is nil if the object is published
// already. A positive timeout bounds the upload; 0 or a negative one leaves
// only the client's own retries, which give up on an unreachable endpoint
// within seconds. A store without a remote gives ErrInvalidArgument.
func (s *Store) Publish(id ID, timeout time.Duration) error {
	cid := cID(id)
	ms := publishMs(timeout)
	var e *C.os_error
	return s.do("publish", &e, func(h *C.os_store) C.os_status { return C.os_publish_e(h, &cid, ms, &e) })
}

// Unpublish removes the published copy of id from the store's remote; the
// local object stays. ErrNotFound if it is not published. The timeout is
// as for [Store.Publish].
func (s *Store) Unpublish(id ID, timeout time.Duration) error {
	cid := cID(id)
	ms := publishMs(timeout)
	var e *C.os_error
	return s.do("unpublish", &e, func(h *C.os_store) C.os_status { return C.os_unpublish_e(h, &cid, ms, &e) })
}

// publishMs is a publish timeout in the C API's milliseconds, rounded up
// so that a positive timeout stays positive.
func publishMs(timeout time.Duration) C.int64_t {
	if timeout <= 0 {
		return 0
	}
	return C.int64_t((timeout + time.Millisecond - 1) / time.Millisecond)
}
