package chat

import (
	"bytes"
	"encoding/json"
	"strconv"
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

// AppendJSON appends the message object (docs/PROTOCOL.md) to b: the bytes
// encoding/json writes for it (MarshalJSON), without reflection and
// without encoding/json checking them again, as it does what a
// MarshalJSON returns. Messages are encoded once per broadcast, but many
// times a second.
func (m Message) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, m.ID, 10)
	b = append(b, `,"room":`...)
	b = AppendJSONString(b, m.Room)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, m.Seq, 10)
	b = append(b, `,"author":`...)
	b = AppendJSONString(b, m.Author)
	b = append(b, `,"content":`...)
	b = AppendJSONString(b, m.Content)
	b = append(b, `,"timestamp":"`...)
	b = m.Timestamp.UTC().AppendFormat(b, TimestampFormat)
	b = append(b, '"')
	if m.ClientID != "" {
		b = append(b, `,"client_id":`...)
		b = AppendJSONString(b, m.ClientID)
	}
	return append(b, '}')
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
