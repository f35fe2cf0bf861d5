package broker

import (
	"reflect"
	"testing"
	"time"

	"parley/internal/chat"
)

func sampleEvents() []Event {
	m := chat.Message{ID: 9, Room: "lobby", Seq: 4, Author: "zoë", Content: "hi there, 名前 😀",
		Timestamp: time.Date(2026, 11, 25, 22, 0, 0, 5000, time.UTC), ClientID: "c-1"}
	esc := m
	esc.Content = "<b>\"x\"</b>\n\u2028"
	return []Event{
		{Room: "lobby", Kind: KindMessage, Message: &m, Origin: "p-1"},
		{Room: "lobby", Kind: KindMessage, Message: &esc},
		{Room: "lobby", Kind: KindTyping, User: "ann", Origin: "p-2"},
		{Room: "lobby", Kind: KindPresence, Users: []string{"ann", "bob"}},
		{Room: "lobby", Kind: KindPresence},
		{Room: "lobby", Kind: KindUnknown},
	}
}

// Every event comes back as it was sent, by whichever way it is read.
func TestDecodeEventRoundTrip(t *testing.T) {
	for _, ev := range sampleEvents() {
		for _, payload := range [][]byte{ev.AppendJSON(nil), append([]byte(`{"via":"mark",`), ev.AppendJSON(nil)[1:]...)} {
			got, err := DecodeEvent(payload)
			if err != nil {
				t.Fatalf("%s: %v", payload, err)
			}
			if !reflect.DeepEqual(got, ev) {
				t.Errorf("%s: read %+v, want %+v", payload, got, ev)
			}
		}
	}
	// Escapes are left to encoding/json; plain strings are read by hand.
	if _, ok := decodeEventFast(sampleEvents()[1].AppendJSON(nil)); ok {
		t.Error("an escaped string was read by hand")
	}
	if _, ok := decodeEventFast(sampleEvents()[0].AppendJSON(nil)); !ok {
		t.Error("a plain message event was not read by hand")
	}
}

// A kind another process knows and this one does not reads as
// KindUnknown, by both readers, and is no error.
func TestDecodeEventUnknownKind(t *testing.T) {
	for _, s := range []string{
		`{"room":"lobby","kind":"reaction","user":"ann"}`,
		`{"via":"x","room":"lobby","kind":"reaction","user":"ann","data":["a"]}`,
		`{"room":"lobby","kind":"re\u0061ction","user":"ann"}`,
		`{"room":"lobby","kind":"","user":"ann"}`,
		`{"room":"lobby","kind":"Message","user":"ann"}`,
	} {
		ev, err := DecodeEvent([]byte(s))
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if ev.Kind != KindUnknown || ev.Room != "lobby" || ev.User != "ann" {
			t.Errorf("%s: read %+v", s, ev)
		}
	}
	for k, name := range map[Kind]string{KindMessage: "message", KindTyping: "typing", KindPresence: "presence",
		KindUnknown: "unknown", Kind(200): "unknown"} {
		if k.String() != name {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), name)
		}
		if k.Known() != (name != "unknown") {
			t.Errorf("Kind(%d).Known() = %v", k, k.Known())
		}
	}
}

// Whatever the bytes, DecodeEvent does not panic, and the hand reader
// either leaves them to encoding/json or reads what encoding/json reads.
func FuzzDecodeEvent(f *testing.F) {
	for _, ev := range sampleEvents() {
		f.Add(ev.AppendJSON(nil))
	}
	for _, s := range []string{`{"via":"x","room":"r","kind":"message","message":{"id":-0,"seq":01}}`,
		`{"Room":"r"}`, `{"room":"r","room":"s"}`, `{"message":null}`, `{"message":{},"message":{"id":2}}`,
		`{"data":[]}`, `{"data":["a",1]}`, `{"room":"\xff"}`, `{ "room":"r"}`, `{"room":"r"} `,
		`{"kind":"typing","kind":"edit"}`, `{"kind":null}`, `{"kind":7}`, `{"kind":"\u0074yping"}`, `{"via":1,"kind":"typing"}`,
		`{"message":{"id":123456789012345678,"timestamp":"2026-11-25T22:00:00.000005+01:00"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeEvent(b)
		fast, ok := decodeEventFast(b)
		if !ok {
			return
		}
		slow, err := decodeEventJSON(b)
		if err != nil {
			t.Fatalf("%q read by hand as %+v; encoding/json says %v", b, fast, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q read by hand as %+v; encoding/json reads %+v", b, fast, slow)
		}
	})
}
