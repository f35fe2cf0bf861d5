package broker

import (
	"encoding/json"
	"time"

	"parley/internal/chat"
	"parley/internal/wirejson"
)

// AppendJSON appends ev to b as the JSON object encoding/json writes for
// it, without reflection: a busy process encodes an event per message. A
// kind that is not Known is written as KindUnknown.
func (ev Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"room":`...)
	b = chat.AppendJSONString(b, ev.Room)
	b = append(b, `,"kind":"`...)
	b = append(b, ev.Kind.String()...) // names need no escaping
	b = append(b, '"')
	if ev.Message != nil {
		b = append(b, `,"message":`...)
		b = ev.Message.AppendJSON(b)
	}
	if ev.User != "" {
		b = append(b, `,"user":`...)
		b = chat.AppendJSONString(b, ev.User)
	}
	if ev.Origin != "" {
		b = append(b, `,"origin":`...)
		b = chat.AppendJSONString(b, ev.Origin)
	}
	if len(ev.Users) > 0 {
		b = append(b, `,"data":[`...)
		for i, u := range ev.Users {
			if i > 0 {
				b = append(b, ',')
			}
			b = chat.AppendJSONString(b, u)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// DecodeEvent reads an event. One in the layout AppendJSON writes whose
// strings need no unescaping — nearly every one — is read by hand, in one
// pass and with an allocation per string; anything else (escapes,
// whitespace, keys in another case or unknown, a payload from elsewhere)
// by encoding/json, with the same result. A kind this process does not
// know reads as KindUnknown.
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
		Kind    Kind              `json:"kind"`
		Message *chat.WireMessage `json:"message"`
		User    string            `json:"user"`
		Origin  string            `json:"origin"`
		Users   []string          `json:"data"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Event{}, err
	}
	ev := Event{Room: w.Room, Kind: w.Kind, User: w.User, Origin: w.Origin, Users: w.Users}
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
	sc := wirejson.Scanner{B: b}
	ok := sc.Object(func(key []byte) bool {
		switch string(key) {
		case "via":
			_, ok := sc.Raw()
			return ok
		case "room":
			return sc.String(&ev.Room)
		case "kind":
			name, ok := sc.Raw()
			ev.Kind = kindNamed(name)
			return ok
		case "user":
			return sc.String(&ev.User)
		case "origin":
			return sc.String(&ev.Origin)
		case "data":
			return sc.Strings(&ev.Users)
		case "message":
			if ev.Message != nil {
				return false // encoding/json would merge the two
			}
			m, ok := readMessage(&sc)
			ev.Message = &m
			return ok
		}
		return false
	})
	return ev, ok && sc.Done()
}

// readMessage reads the message object chat.Message.AppendJSON writes.
func readMessage(sc *wirejson.Scanner) (chat.Message, bool) {
	var m chat.Message
	var ts []byte
	ok := sc.Object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return sc.Int(&m.ID)
		case "room":
			return sc.String(&m.Room)
		case "seq":
			return sc.Int(&m.Seq)
		case "author":
			return sc.String(&m.Author)
		case "content":
			return sc.String(&m.Content)
		case "client_id":
			return sc.String(&m.ClientID)
		case "timestamp":
			s, ok := sc.Raw()
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
