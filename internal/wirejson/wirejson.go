// Package wirejson reads, by hand, the compact JSON objects that Parley's
// own encoders and clients write: no whitespace, strings that need no
// unescaping. It is a fast path and nothing more: a Scanner declines
// (reports false) anything it would not read exactly as encoding/json
// does, and its caller then reads the bytes with encoding/json.
package wirejson

import (
	"bytes"
	"unicode/utf8"
)

// Scanner reads one JSON value from B, from the front.
type Scanner struct {
	B []byte
	i int
}

// Done reports whether every byte has been read.
func (sc *Scanner) Done() bool { return sc.i == len(sc.B) }

func (sc *Scanner) next(c byte) bool {
	if sc.i < len(sc.B) && sc.B[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

// Object reads {"key":value,…}: field reads the value of each key, and
// declines a key it does not know (encoding/json would ignore it, or
// match it whatever its case).
func (sc *Scanner) Object(field func(key []byte) bool) bool {
	if !sc.next('{') {
		return false
	}
	if sc.next('}') {
		return true
	}
	for {
		key, ok := sc.Raw()
		if !ok || !sc.next(':') || !field(key) {
			return false
		}
		if sc.next('}') {
			return true
		}
		if !sc.next(',') {
			return false
		}
	}
}

// Raw reads a string that needs no unescaping and is valid UTF-8, and
// returns its bytes in B.
func (sc *Scanner) Raw() ([]byte, bool) {
	if !sc.next('"') {
		return nil, false
	}
	rest := sc.B[sc.i:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return nil, false
	}
	s := rest[:end]
	for _, c := range s {
		if c == '\\' || c < 0x20 {
			return nil, false
		}
	}
	if !utf8.Valid(s) {
		return nil, false // encoding/json would put U+FFFD in
	}
	sc.i += end + 1
	return s, true
}

// String reads a string into dst.
func (sc *Scanner) String(dst *string) bool {
	s, ok := sc.Raw()
	*dst = string(s)
	return ok
}

// Strings reads an array of strings into dst (empty, not nil, for []).
func (sc *Scanner) Strings(dst *[]string) bool {
	if !sc.next('[') {
		return false
	}
	list := []string{}
	if !sc.next(']') {
		for {
			s, ok := sc.Raw()
			if !ok {
				return false
			}
			list = append(list, string(s))
			if sc.next(']') {
				break
			}
			if !sc.next(',') {
				return false
			}
		}
	}
	*dst = list
	return true
}

// True reads the literal true into dst; it declines false, which
// Parley's encoders leave out rather than write.
func (sc *Scanner) True(dst *bool) bool {
	if !bytes.HasPrefix(sc.B[sc.i:], []byte("true")) {
		return false
	}
	sc.i += 4
	*dst = true
	return true
}

// Int reads an integer as JSON writes it (no leading zero, fraction or
// exponent) of up to 18 digits: one that cannot overflow.
func (sc *Scanner) Int(dst *int64) bool {
	neg := sc.next('-')
	start := sc.i
	var v int64
	for sc.i < len(sc.B) && sc.B[sc.i] >= '0' && sc.B[sc.i] <= '9' {
		v = v*10 + int64(sc.B[sc.i]-'0')
		sc.i++
	}
	n := sc.i - start
	if n == 0 || n > 18 || (n > 1 && sc.B[start] == '0') {
		return false
	}
	if sc.i < len(sc.B) && (sc.B[sc.i] == '.' || sc.B[sc.i] == 'e' || sc.B[sc.i] == 'E') {
		return false
	}
	if neg {
		v = -v
	}
	*dst = v
	return true
}
