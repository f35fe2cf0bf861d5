package chat

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// EncodeJSON is encoding/json's Marshal with HTML escaping off, as every
// JSON Parley sends is written (AppendJSONString says why).
func EncodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// AppendJSON appends the message object as the original protocol has it
// (docs/PROTOCOL.md): the bytes encoding/json writes for its WireMessage
// with none of Parley's fields, without reflection and without
// encoding/json checking them again, as it does what a MarshalJSON
// returns. Messages are encoded once per broadcast, but many times a
// second. A socket without parley.v1 gets this object, and nothing more.
func (m Message) AppendJSON(b []byte) []byte {
	return append(m.appendFields(b, false, true), '}')
}

// AppendFullJSON appends the message object with Parley's fields: rev
// always, and edited, deleted, reply_to, mentions, mentions_room and
// reactions when they are set. A deleted message has no content. It is
// what parley.v1 sockets and the API get.
func (m Message) AppendFullJSON(b []byte) []byte {
	return m.appendFull(b, true)
}

// AppendEventJSON is AppendFullJSON without rev when it is the message's
// own seq, as it is for every message just stored: so the event of a new
// message is the bytes AppendJSON writes, and processes of the last
// version read it as they did. Readers take a missing rev for the seq.
func (m Message) AppendEventJSON(b []byte) []byte {
	return m.appendFull(b, m.Rev > m.Seq)
}

// appendFields appends the original object's fields, but for its closing
// brace: with rev after seq if rev, and without content unless
// withContent.
func (m Message) appendFields(b []byte, rev, withContent bool) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, m.ID, 10)
	b = append(b, `,"room":`...)
	b = AppendJSONString(b, m.Room)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, m.Seq, 10)
	if rev {
		b = append(b, `,"rev":`...)
		b = strconv.AppendInt(b, m.CurrentRev(), 10)
	}
	b = append(b, `,"author":`...)
	b = AppendJSONString(b, m.Author)
	if withContent {
		b = append(b, `,"content":`...)
		b = AppendJSONString(b, m.Content)
	}
	b = append(b, `,"timestamp":"`...)
	b = m.Timestamp.UTC().AppendFormat(b, TimestampFormat)
	b = append(b, '"')
	if m.ClientID != "" {
		b = append(b, `,"client_id":`...)
		b = AppendJSONString(b, m.ClientID)
	}
	return b
}

func (m Message) appendFull(b []byte, rev bool) []byte {
	b = m.appendFields(b, rev, !m.Deleted)
	if !m.Edited.IsZero() {
		b = append(b, `,"edited":"`...)
		b = m.Edited.UTC().AppendFormat(b, TimestampFormat)
		b = append(b, '"')
	}
	if m.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	if r := m.ReplyTo; r != nil {
		b = append(b, `,"reply_to":{"seq":`...)
		b = strconv.AppendInt(b, r.Seq, 10)
		b = append(b, `,"author":`...)
		b = AppendJSONString(b, r.Author)
		if r.Excerpt != "" {
			b = append(b, `,"excerpt":`...)
			b = AppendJSONString(b, r.Excerpt)
		}
		if r.Deleted {
			b = append(b, `,"deleted":true`...)
		}
		b = append(b, '}')
	}
	if len(m.Mentions) > 0 {
		b = append(b, `,"mentions":`...)
		b = appendJSONStrings(b, m.Mentions)
	}
	if m.MentionsRoom {
		b = append(b, `,"mentions_room":true`...)
	}
	if len(m.Reactions) > 0 {
		b = append(b, `,"reactions":[`...)
		for i, r := range m.Reactions {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"emoji":`...)
			b = AppendJSONString(b, r.Emoji)
			b = append(b, `,"count":`...)
			b = strconv.AppendInt(b, int64(r.Count), 10)
			b = append(b, `,"users":`...)
			b = appendJSONStrings(b, r.Users)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONStrings appends list as a JSON array of strings; nil as [].
func appendJSONStrings(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, s)
	}
	return append(b, ']')
}

// WireChange is the change object (docs/PROTOCOL.md, Room events) as it
// is decoded (AppendJSON encodes it).
type WireChange struct {
	Room         string   `json:"room"`
	Seq          int64    `json:"seq"`
	Kind         string   `json:"kind"`
	Target       int64    `json:"target"`
	Author       string   `json:"author"`
	Content      string   `json:"content,omitempty"`
	Mentions     []string `json:"mentions,omitempty"`
	MentionsRoom bool     `json:"mentions_room,omitempty"`
	Emoji        string   `json:"emoji,omitempty"`
	Timestamp    string   `json:"timestamp"`
	ClientID     string   `json:"client_id,omitempty"`
}

// Change returns the change w holds.
func (w *WireChange) Change() (Change, error) {
	ts, err := time.Parse(time.RFC3339Nano, w.Timestamp)
	if err != nil {
		return Change{}, err
	}
	return Change{Room: w.Room, Seq: w.Seq, Kind: ChangeKind(w.Kind), Target: w.Target, Author: w.Author,
		Content: w.Content, Mentions: w.Mentions, MentionsRoom: w.MentionsRoom, Emoji: w.Emoji,
		Timestamp: ts.UTC(), ClientID: w.ClientID}, nil
}

// AppendJSON appends the change object: the bytes encoding/json writes
// for its WireChange, without reflection.
func (c Change) AppendJSON(b []byte) []byte {
	b = append(b, `{"room":`...)
	b = AppendJSONString(b, c.Room)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, c.Seq, 10)
	b = append(b, `,"kind":`...)
	b = AppendJSONString(b, string(c.Kind))
	b = append(b, `,"target":`...)
	b = strconv.AppendInt(b, c.Target, 10)
	b = append(b, `,"author":`...)
	b = AppendJSONString(b, c.Author)
	if c.Content != "" {
		b = append(b, `,"content":`...)
		b = AppendJSONString(b, c.Content)
	}
	if len(c.Mentions) > 0 {
		b = append(b, `,"mentions":`...)
		b = appendJSONStrings(b, c.Mentions)
	}
	if c.MentionsRoom {
		b = append(b, `,"mentions_room":true`...)
	}
	if c.Emoji != "" {
		b = append(b, `,"emoji":`...)
		b = AppendJSONString(b, c.Emoji)
	}
	b = append(b, `,"timestamp":"`...)
	b = c.Timestamp.UTC().AppendFormat(b, TimestampFormat)
	b = append(b, '"')
	if c.ClientID != "" {
		b = append(b, `,"client_id":`...)
		b = AppendJSONString(b, c.ClientID)
	}
	return append(b, '}')
}

// MarshalJSON writes the change object (AppendJSON).
func (c Change) MarshalJSON() ([]byte, error) {
	return c.AppendJSON(make([]byte, 0, 160+len(c.Content))), nil
}

// UnmarshalJSON reads the change object.
func (c *Change) UnmarshalJSON(b []byte) error {
	var w WireChange
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var err error
	*c, err = w.Change()
	return err
}

// MarshalJSON writes a version as the versions answer lists it.
func (v Version) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 80+len(v.Content))
	b = append(b, `{"rev":`...)
	b = strconv.AppendInt(b, v.Rev, 10)
	b = append(b, `,"content":`...)
	b = AppendJSONString(b, v.Content)
	b = append(b, `,"timestamp":"`...)
	b = v.Timestamp.UTC().AppendFormat(b, TimestampFormat)
	return append(b, `"}`...), nil
}

// AppendJSONString appends s to b as a JSON string, escaped as
// encoding/json escapes it with HTML escaping off (EncodeJSON): ", \ and
// control characters; U+2028 and U+2029 (for JavaScript); and each byte of
// invalid UTF-8 as U+FFFD. <, > and & stay as they are: Parley's JSON goes
// to JSON.parse and to API clients as application/json, never into HTML,
// and a message full of them would otherwise grow sixfold.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0 // s[start:i] is still to copy
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
