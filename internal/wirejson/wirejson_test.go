package wirejson_test

import (
	"encoding/json"
	"testing"

	"parley/internal/wirejson"
)

// Int reads what encoding/json reads as an int64, or declines.
func TestInt(t *testing.T) {
	for _, s := range []string{"0", "-0", "7", "-42", "123456789012345678", "-123456789012345678",
		"01", "-", "", "1.5", "1e3", "1E3", "9223372036854775807", "+1", " 1", "12a"} {
		var got int64
		sc := wirejson.Scanner{B: []byte(s)}
		ok := sc.Int(&got) && sc.Done()
		var want int64
		err := json.Unmarshal([]byte(s), &want)
		if ok && (err != nil || got != want) {
			t.Errorf("%q: read %d; encoding/json reads %d, %v", s, got, want, err)
		}
		if !ok && err == nil && len(s) < 19 && s != "" && s[0] != ' ' {
			t.Errorf("%q: declined, encoding/json reads %d", s, want)
		}
	}
}

// Raw takes plain strings only: escapes, control characters and invalid
// UTF-8 are left to encoding/json.
func TestRaw(t *testing.T) {
	for s, ok := range map[string]bool{
		`"plain"`: true, `"zoë 名前 😀"`: true, `""`: true, "\"\x7f\"": true,
		`"a\"b"`: false, `"a\nb"`: false, "\"a\nb\"": false, "\"\xff\"": false, `"open`: false, `plain`: false,
	} {
		sc := wirejson.Scanner{B: []byte(s)}
		got, read := sc.Raw()
		if read != ok {
			t.Errorf("%q: read %v, want %v", s, read, ok)
			continue
		}
		var want string
		if read && (json.Unmarshal([]byte(s), &want) != nil || string(got) != want) {
			t.Errorf("%q: read %q, encoding/json reads %q", s, got, want)
		}
	}
}

// Object hands each key to its field reader and needs the whole object.
func TestObject(t *testing.T) {
	var keys []string
	var list []string
	sc := wirejson.Scanner{B: []byte(`{"a":"x","b":["p","q"],"c":[]}`)}
	ok := sc.Object(func(key []byte) bool {
		keys = append(keys, string(key))
		if string(key) == "a" {
			var s string
			return sc.String(&s) && s == "x"
		}
		return sc.Strings(&list)
	})
	if !ok || !sc.Done() || len(keys) != 3 || list == nil || len(list) != 0 {
		t.Fatalf("ok %v done %v keys %v list %#v", ok, sc.Done(), keys, list)
	}
	for _, s := range []string{`{"a":"x"`, `{"a" :"x"}`, `{"a":"x",}`, `["a"]`, `{"a":"x"}{}`} {
		sc := wirejson.Scanner{B: []byte(s)}
		if sc.Object(func([]byte) bool { var v string; return sc.String(&v) }) && sc.Done() {
			t.Errorf("%q: read as a whole object", s)
		}
	}
}
