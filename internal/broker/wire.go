package broker

// An event's wire format, whole, in this file: how an event is encoded,
// how a publisher marks the events it writes and tells them apart, and how
// an event is read back, marked or not.
//
// An event is the JSON object encoding/json writes for Event: keys in the
// order of its fields, empty ones left out but for "room" and "kind". A
// marked one has a first key more, "via", whose value is its publisher's
// mark: {"via":"ID","room":…}. Readers ignore the key.

import (
	"crypto/rand"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"parley/internal/chat"
	"parley/internal/wirejson"
)

// Mark tells one publisher's events from others' without decoding them:
// AppendEvent opens each event it writes with it, and HasMark finds it
// there. The zero Mark marks nothing.
type Mark struct {
	open string // `{"via":"ID",`
}

// NewMark returns a mark no other publisher has: a random ID, of
// characters that need no escaping.
func NewMark() Mark { return Mark{open: `{"via":"` + rand.Text() + `",`} }

// AppendEvent appends ev to b as JSON, opened by m: with the zero Mark,
// the bytes encoding/json writes for ev. It encodes without reflection: a
// busy process encodes an event per message. A kind that is not Known is
// written as KindUnknown.
func AppendEvent(b []byte, ev Event, m Mark) []byte {
	if m.open == "" {
		b = append(b, '{')
	} else {
		b = append(b, m.open...)
	}
	b = append(b, `"room":`...)
	b = chat.AppendJSONString(b, ev.Room)
	b = append(b, `,"kind":"`...)
	b = append(b, ev.Kind.String()...) // names need no escaping
	b = append(b, '"')
	if ev.Message != nil {
		b = append(b, `,"message":`...)
		b = ev.Message.AppendEventJSON(b)
	}
	if ev.Change != nil {
		b = append(b, `,"change":`...)
		b = ev.Change.AppendJSON(b)
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
	if len(ev.Credentials) > 0 {
		b = append(b, `,"credentials":[`...)
		for i, c := range ev.Credentials {
			if i > 0 {
				b = append(b, ',')
			}
			b = chat.AppendJSONString(b, c)
		}
		b = append(b, ']')
	}
	if ev.Keep != "" {
		b = append(b, `,"keep":`...)
		b = chat.AppendJSONString(b, ev.Keep)
	}
	if ev.Subject != "" {
		b = append(b, `,"subject":`...)
		b = chat.AppendJSONString(b, ev.Subject)
	}
	if ev.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, ev.Seq, 10)
	}
	if ev.Epoch != 0 {
		b = append(b, `,"epoch":`...)
		b = strconv.AppendInt(b, ev.Epoch, 10)
	}
	return append(b, '}')
}

// HasMark reports whether payload was written by AppendEvent with m,
// reading only its first bytes. It is false for the zero Mark.
func HasMark(payload string, m Mark) bool {
	// Only AppendEvent writes a mark there: an event is a JSON object,
	// whose first key is "room" unless it is marked.
	return m.open != "" && strings.HasPrefix(payload, m.open)
}

// DecodeEvent reads an event, marked or not. One in the layout AppendEvent
// writes whose strings need no unescaping — nearly every one — is read by
// hand, in one pass and with an allocation per string; anything else
// (escapes, whitespace, keys in another case or unknown, a payload from
// elsewhere) by encoding/json, with the same result. A kind this process
// does not know reads as KindUnknown.
func DecodeEvent(b []byte) (Event, error) {
	ev, ok := decodeEventFast(b)
	if !ok {
		var err error
		if ev, err = decodeEventJSON(b); err != nil {
			return Event{}, err
		}
	}
	// The entry's epoch travels beside it, not in its object.
	chat.Entry{Message: ev.Message, Change: ev.Change}.SetEpoch(ev.Epoch)
	return ev, nil
}

// decodeEventJSON reads an event with encoding/json, its message in the
// same pass (not again by the message's own UnmarshalJSON).
func decodeEventJSON(b []byte) (Event, error) {
	var w struct {
		Room    string            `json:"room"`
		Kind    Kind              `json:"kind"`
		Message *chat.WireMessage `json:"message"`
		Change  *chat.WireChange  `json:"change"`
		User    string            `json:"user"`
		Origin  string            `json:"origin"`
		Users   []string          `json:"data"`
		Creds   []string          `json:"credentials"`
		Keep    string            `json:"keep"`
		Subject string            `json:"subject"`
		Seq     int64             `json:"seq"`
		Epoch   int64             `json:"epoch"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Event{}, err
	}
	ev := Event{Room: w.Room, Kind: w.Kind, User: w.User, Origin: w.Origin, Users: w.Users,
		Credentials: w.Creds, Keep: w.Keep, Subject: w.Subject, Seq: w.Seq, Epoch: w.Epoch}
	if w.Message != nil {
		m, err := w.Message.Message()
		if err != nil {
			return Event{}, err
		}
		ev.Message = &m
	}
	if w.Change != nil {
		c, err := w.Change.Change()
		if err != nil {
			return Event{}, err
		}
		ev.Change = &c
	}
	return ev, nil
}

// decodeEventFast reads an event written by AppendEvent, marked or not. It
// reports false, having read nothing, for anything it does not read
// exactly as encoding/json would.
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
		case "credentials":
			return sc.Strings(&ev.Credentials)
		case "keep":
			return sc.String(&ev.Keep)
		case "subject":
			return sc.String(&ev.Subject)
		case "seq":
			return sc.Int(&ev.Seq)
		case "epoch":
			return sc.Int(&ev.Epoch)
		case "message":
			if ev.Message != nil {
				return false // encoding/json would merge the two
			}
			m, ok := readMessage(&sc)
			ev.Message = &m
			return ok
		case "change":
			if ev.Change != nil {
				return false
			}
			c, ok := readChange(&sc)
			ev.Change = &c
			return ok
		}
		return false
	})
	return ev, ok && sc.Done()
}

// readMessage reads the message object chat.Message.AppendEventJSON
// writes for a message just stored: the original fields, rev, and a
// reply and mentions. One with more (reactions, an edit, a deletion) is
// left to encoding/json.
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
		case "rev":
			return sc.Int(&m.Rev)
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
		case "mentions":
			return m.Mentions == nil && sc.Strings(&m.Mentions) && len(m.Mentions) > 0
		case "mentions_room":
			return !m.MentionsRoom && sc.True(&m.MentionsRoom)
		case "reply_to":
			if m.ReplyTo != nil {
				return false
			}
			m.ReplyTo = new(chat.Reply)
			return readReply(sc, m.ReplyTo)
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
	m.Rev = max(m.Rev, m.Seq)
	return m, true
}

// readReply reads a message object's reply_to.
func readReply(sc *wirejson.Scanner, r *chat.Reply) bool {
	return sc.Object(func(key []byte) bool {
		switch string(key) {
		case "seq":
			return sc.Int(&r.Seq)
		case "author":
			return sc.String(&r.Author)
		case "excerpt":
			return sc.String(&r.Excerpt)
		case "deleted":
			return !r.Deleted && sc.True(&r.Deleted)
		}
		return false
	})
}

// readChange reads the change object chat.Change.AppendJSON writes.
func readChange(sc *wirejson.Scanner) (chat.Change, bool) {
	var c chat.Change
	var ts []byte
	var kind string
	ok := sc.Object(func(key []byte) bool {
		switch string(key) {
		case "room":
			return sc.String(&c.Room)
		case "seq":
			return sc.Int(&c.Seq)
		case "kind":
			return sc.String(&kind)
		case "target":
			return sc.Int(&c.Target)
		case "author":
			return sc.String(&c.Author)
		case "content":
			return sc.String(&c.Content)
		case "mentions":
			return c.Mentions == nil && sc.Strings(&c.Mentions) && len(c.Mentions) > 0
		case "mentions_room":
			return !c.MentionsRoom && sc.True(&c.MentionsRoom)
		case "emoji":
			return sc.String(&c.Emoji)
		case "client_id":
			return sc.String(&c.ClientID)
		case "timestamp":
			s, ok := sc.Raw()
			ts = s
			return ok
		}
		return false
	})
	if !ok {
		return c, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return c, false
	}
	c.Kind, c.Timestamp = chat.ChangeKind(kind), t.UTC()
	return c, true
}
