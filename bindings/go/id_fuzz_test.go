package objstore

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// isHexID is the reference: exactly 40 ASCII hex digits, either case.
func isHexID(s string) bool {
	if len(s) != 2*IDSize {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// FuzzParseID: ParseID accepts exactly the 40-hex-digit strings, and then
// ID.String gives the same digits in lower case and parses back to the
// same ID (also through UnmarshalText and JSON). Anything else gives an
// *Error matching ErrInvalidArgument and the zero ID, never a panic.
//
//	go test -run '^$' -fuzz '^FuzzParseID$' -fuzztime 30s
func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"0a1b2c3d4e5f708192a3b4c5d6e7f8091a2b3c4d",
		"0A1B2C3D4E5F708192A3B4C5D6E7F8091A2B3C4D",
		strings.Repeat("0", 40),
		strings.Repeat("f", 40),
		strings.Repeat("0", 39),
		strings.Repeat("0", 41),
		strings.Repeat("0", 39) + "g",
		"0x" + strings.Repeat("0", 38),
		strings.Repeat("é", 20),
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if !isHexID(s) {
			if err == nil {
				t.Fatalf("ParseID(%q) = %v, want an error", s, id)
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("ParseID(%q): error %v does not match ErrInvalidArgument", s, err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != StatusInvalidArgument || err.Error() == "" {
				t.Fatalf("ParseID(%q): error %#v", s, err)
			}
			if id != (ID{}) {
				t.Fatalf("ParseID(%q) returned %v with its error", s, id)
			}
			var u ID
			if u.UnmarshalText([]byte(s)) == nil || u != (ID{}) {
				t.Fatalf("UnmarshalText(%q) accepted it or changed the ID", s)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseID(%q): %v", s, err)
		}
		str := id.String()
		if str != strings.ToLower(s) {
			t.Fatalf("ParseID(%q).String() = %q", s, str)
		}
		back, err := ParseID(str)
		if err != nil || back != id {
			t.Fatalf("round trip of %q: %v, %v", str, back, err)
		}
		var u ID
		if err := u.UnmarshalText([]byte(s)); err != nil || u != id {
			t.Fatalf("UnmarshalText(%q) = %v, %v", s, u, err)
		}
		b, err := json.Marshal(id)
		if err != nil || string(b) != `"`+str+`"` {
			t.Fatalf("json.Marshal(%v) = %s, %v", id, b, err)
		}
		var j ID
		if err := json.Unmarshal(b, &j); err != nil || j != id {
			t.Fatalf("json.Unmarshal(%s) = %v, %v", b, j, err)
		}
	})
}

// FuzzIDString: every 20 bytes are an ID whose String is 40 lower-case
// hex digits that ParseID turns back into the same bytes.
//
//	go test -run '^$' -fuzz '^FuzzIDString$' -fuzztime 30s
func FuzzIDString(f *testing.F) {
	f.Add(make([]byte, IDSize))
	f.Add([]byte("0123456789abcdefghij"))
	f.Add([]byte{0xff, 0x00, 0x80, 0x7f, 0x0a, 0xa0, 0x10, 0x01, 0xfe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < IDSize {
			return
		}
		var id ID
		copy(id[:], b)
		s := id.String()
		if len(s) != 2*IDSize || strings.ToLower(s) != s || !isHexID(s) {
			t.Fatalf("String() of %x = %q", b[:IDSize], s)
		}
		back, err := ParseID(s)
		if err != nil || back != id {
			t.Fatalf("ParseID(%q) = %v, %v; want %x", s, back, err, b[:IDSize])
		}
		up, err := ParseID(strings.ToUpper(s))
		if err != nil || up != id {
			t.Fatalf("ParseID(upper %q) = %v, %v", s, up, err)
		}
	})
}
