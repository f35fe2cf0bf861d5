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
		{Room: "lobby", Kind: KindPresence, Data: []string{"ann", "bob"}},
		{Room: "lobby", Kind: KindPresence},
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

// Whatever the bytes, the hand reader either leaves them to encoding/json
// or reads what encoding/json reads.
func FuzzDecodeEvent(f *testing.F) {
	for _, ev := range sampleEvents() {
		f.Add(ev.AppendJSON(nil))
	}
	for _, s := range []string{`{"via":"x","room":"r","kind":"message","message":{"id":-0,"seq":01}}`,
		`{"Room":"r"}`, `{"room":"r","room":"s"}`, `{"message":null}`, `{"message":{},"message":{"id":2}}`,
		`{"data":[]}`, `{"data":["a",1]}`, `{"room":"\xff"}`, `{ "room":"r"}`, `{"room":"r"} `,
		`{"message":{"id":123456789012345678,"timestamp":"2026-11-25T22:00:00.000005+01:00"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
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
