package broker

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"

	"parley/internal/chat"
)

// DecodeEvent reads an event. One in the layout AppendJSON writes whose
// strings need no unescaping — nearly every one — is read by hand, in one
// pass and with an allocation per string; anything else (escapes,
// whitespace, keys in another case or unknown, a payload from elsewhere)
// by encoding/json, with the same result.
func DecodeEvent(b []byte) (Event, error) {
	if ev, ok := decodeEventFast(b); ok {
		return ev, nil
	}
	return decodeEventJSON(b)
}

// decodeEventJSON reads an event with encoding/json, its message in the
// same pass (not again by the message's own UnmarshalJSON).
func decodeEventJSON(b []byte) (Event, error) {
	var w struct {
		Room    string            `json:"room"`
		Kind    string            `json:"kind"`
		Message *chat.WireMessage `json:"message"`
		User    string            `json:"user"`
		Origin  string            `json:"origin"`
		Data    []string          `json:"data"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Event{}, err
	}
	ev := Event{Room: w.Room, Kind: w.Kind, User: w.User, Origin: w.Origin, Data: w.Data}
	if w.Message != nil {
		m, err := w.Message.Message()
		if err != nil {
			return Event{}, err
		}
		ev.Message = &m
	}
	return ev, nil
}

// decodeEventFast reads an event written by AppendJSON (the Redis
// broker's mark, a "via" string key first, is allowed). It reports false,
// having read nothing, for anything it does not read exactly as
// encoding/json would.
func decodeEventFast(b []byte) (Event, bool) {
	var ev Event
	sc := scanner{b: b}
	ok := sc.object(func(key []byte) bool {
		switch string(key) {
		case "via":
			_, ok := sc.raw()
			return ok
		case "room":
			return sc.strTo(&ev.Room)
		case "kind":
			return sc.strTo(&ev.Kind)
		case "user":
			return sc.strTo(&ev.User)
		case "origin":
			return sc.strTo(&ev.Origin)
		case "data":
			return sc.strings(&ev.Data)
		case "message":
			if ev.Message != nil {
				return false // encoding/json would merge the two
			}
			m, ok := sc.message()
			ev.Message = &m
			return ok
		}
		return false
	})
	return ev, ok && sc.i == len(b)
}

// scanner reads the compact JSON AppendJSON writes.
type scanner struct {
	b []byte
	i int
}

func (sc *scanner) next(c byte) bool {
	if sc.i < len(sc.b) && sc.b[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

// object reads {"key":value,…}, value by value through field.
func (sc *scanner) object(field func(key []byte) bool) bool {
	if !sc.next('{') {
		return false
	}
	if sc.next('}') {
		return true
	}
	for {
		key, ok := sc.raw()
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

// raw reads a string that needs no unescaping, without copying it.
func (sc *scanner) raw() ([]byte, bool) {
	if !sc.next('"') {
		return nil, false
	}
	rest := sc.b[sc.i:]
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

// strTo reads a string into dst.
func (sc *scanner) strTo(dst *string) bool {
	s, ok := sc.raw()
	*dst = string(s)
	return ok
}

// strings reads an array of strings.
func (sc *scanner) strings(dst *[]string) bool {
	if !sc.next('[') {
		return false
	}
	list := []string{}
	if !sc.next(']') {
		for {
			s, ok := sc.raw()
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

// int reads an integer as JSON writes it (no leading zero, fraction or
// exponent), of up to 18 digits: one that cannot overflow.
func (sc *scanner) int(dst *int64) bool {
	neg := sc.next('-')
	start := sc.i
	var v int64
	for sc.i < len(sc.b) && sc.b[sc.i] >= '0' && sc.b[sc.i] <= '9' {
		v = v*10 + int64(sc.b[sc.i]-'0')
		sc.i++
	}
	n := sc.i - start
	if n == 0 || n > 18 || (n > 1 && sc.b[start] == '0') {
		return false
	}
	if sc.i < len(sc.b) && (sc.b[sc.i] == '.' || sc.b[sc.i] == 'e' || sc.b[sc.i] == 'E') {
		return false
	}
	if neg {
		v = -v
	}
	*dst = v
	return true
}

// message reads the message object chat.Message.AppendJSON writes.
func (sc *scanner) message() (chat.Message, bool) {
	var m chat.Message
	var ts []byte
	ok := sc.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return sc.int(&m.ID)
		case "room":
			return sc.strTo(&m.Room)
		case "seq":
			return sc.int(&m.Seq)
		case "author":
			return sc.strTo(&m.Author)
		case "content":
			return sc.strTo(&m.Content)
		case "client_id":
			return sc.strTo(&m.ClientID)
		case "timestamp":
			s, ok := sc.raw()
			ts = s
			return ok
		}
		return false
	})
	if !ok {
		return m, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return m, false // encoding/json's way says why
	}
	m.Timestamp = t.UTC()
	return m, true
}
