package objstore

import (
	"encoding/hex"
	"fmt"
)

// IDSize is the number of bytes in an object ID (OS_ID_SIZE).
const IDSize = 20

// ID is a 20-byte object ID. IDs travel between processes as these 20 bytes
// or as 40 lower-case hex characters ([ID.String], [ParseID]). The zero
// value is a valid ID like any other.
type ID [IDSize]byte

// String returns the ID as 40 lower-case hex characters, the form the C API
// (os_id_to_hex) and the other bindings use.
func (id ID) String() string {
	return hex.EncodeToString(id[:])
}

// ParseID parses 40 hex characters (either case) into an ID. A string of
// another length or with a non-hex character gives an [*Error] that matches
// [ErrInvalidArgument].
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, &Error{Op: "parse ID", Status: StatusInvalidArgument,
			Message: fmt.Sprintf("an ID is %d hex characters, not %d (%q)", 2*IDSize, len(s), s)}
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return id, &Error{Op: "parse ID", Status: StatusInvalidArgument,
				Message: fmt.Sprintf("character %q at offset %d of %q is not a hex digit", s[i], i, s)}
		}
	}
	// Cannot fail: length and digits were checked above.
	_, _ = hex.Decode(id[:], []byte(s))
	return id, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// MarshalText encodes the ID as 40 lower-case hex characters, so that IDs
// can be used in JSON and other text formats.
func (id ID) MarshalText() ([]byte, error) {
	return []byte(id.String()), nil
}

// UnmarshalText parses 40 hex characters, as [ParseID] does.
func (id *ID) UnmarshalText(text []byte) error {
	parsed, err := ParseID(string(text))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}
