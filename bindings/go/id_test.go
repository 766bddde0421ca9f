package objstore

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestIDHex(t *testing.T) {
	var id ID
	for i := range id {
		id[i] = byte(i*17 + 10)
	}
	const want = "0a1b2c3d4e5f708192a3b4c5d6e7f8091a2b3c4d"
	if got := id.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	for _, s := range []string{want, strings.ToUpper(want)} {
		got, err := ParseID(s)
		if err != nil || got != id {
			t.Fatalf("ParseID(%q) = %v, %v", s, got, err)
		}
	}
	if (ID{}).String() != strings.Repeat("0", 40) {
		t.Fatal("zero ID")
	}
	// IDs made by the library round-trip too.
	s := newStore(t, nil)
	put := mustPut(t, s, []byte("x"), nil)
	if back, err := ParseID(put.String()); err != nil || back != put {
		t.Fatalf("round trip of %v: %v, %v", put, back, err)
	}
}

func TestParseIDErrors(t *testing.T) {
	for _, bad := range []string{
		"",
		"0a1b",
		strings.Repeat("0", 39),
		strings.Repeat("0", 41),
		strings.Repeat("0", 39) + "g",
		strings.Repeat("0", 38) + " 0",
		"0x" + strings.Repeat("0", 38),
		strings.Repeat("é", 20),
	} {
		id, err := ParseID(bad)
		wantErr(t, "ParseID("+bad+")", err, ErrInvalidArgument)
		if id != (ID{}) {
			t.Fatalf("ParseID(%q) returned %v with its error", bad, id)
		}
	}
}

func TestIDJSON(t *testing.T) {
	id := idOf("json")
	b, err := json.Marshal(map[string]ID{"id": id})
	if err != nil || string(b) != `{"id":"`+id.String()+`"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back map[string]ID
	if err := json.Unmarshal(b, &back); err != nil || back["id"] != id {
		t.Fatalf("Unmarshal = %v, %v", back, err)
	}
	wantErr(t, "unmarshal a bad ID", json.Unmarshal([]byte(`"nothex"`), new(ID)), ErrInvalidArgument)
}
