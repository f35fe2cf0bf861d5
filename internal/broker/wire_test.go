package broker

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"parley/internal/chat"
)

func sampleEvents() []Event {
	m := chat.Message{ID: 9, Room: "lobby", Seq: 4, Rev: 4, Author: "zoë", Content: "hi there, 名前 😀",
		Timestamp: time.Date(2026, 11, 25, 22, 0, 0, 5000, time.UTC), ClientID: "c-1"}
	esc := m
	esc.Content = "<b>\"x\"</b>\n\u2028"
	reply := m
	reply.Seq, reply.Rev = 5, 5
	reply.ReplyTo = &chat.Reply{Seq: 4, Author: "zoë", Excerpt: "hi there…"}
	reply.Mentions, reply.MentionsRoom = []string{"ann", "bo.b"}, true
	gone := m
	gone.ReplyTo = &chat.Reply{Seq: 2, Author: "ann", Deleted: true}
	// Read back from the store: edited, with reactions; or deleted.
	state := m
	state.Rev, state.Edited = 9, m.Timestamp.Add(time.Minute)
	state.Reactions = []chat.Reaction{{Emoji: "👍", Count: 2, Users: []string{"ann", "bob"}}}
	tomb := chat.Message{ID: 9, Room: "lobby", Seq: 4, Rev: 10, Author: "zoë", Timestamp: m.Timestamp, Deleted: true}
	edit := chat.Change{Room: "lobby", Seq: 11, Kind: chat.ChangeEdit, Target: 4, Author: "zoë", Content: "fixed, @ann",
		Mentions: []string{"ann"}, Timestamp: m.Timestamp.Add(time.Hour), ClientID: "e-1"}
	react := chat.Change{Room: "lobby", Seq: 12, Kind: chat.ChangeReact, Target: 4, Author: "ann", Emoji: "🇫🇷",
		Timestamp: m.Timestamp.Add(time.Hour)}
	erased := chat.Change{Room: "lobby", Seq: 13, Kind: chat.ChangeEdit, Target: 4, Author: "zoë", Timestamp: m.Timestamp}
	private := m
	private.Room, private.Epoch = "secret", 3
	privateEdit := edit
	privateEdit.Room, privateEdit.Epoch = "secret", 3
	return []Event{
		{Room: "lobby", Kind: KindMessage, Message: &m, Origin: "p-1"},
		{Room: "lobby", Kind: KindMessage, Message: &esc},
		{Room: "lobby", Kind: KindMessage, Message: &reply, Origin: "p-1"},
		{Room: "lobby", Kind: KindMessage, Message: &gone},
		{Room: "lobby", Kind: KindMessage, Message: &state},
		{Room: "lobby", Kind: KindMessage, Message: &tomb},
		{Room: "lobby", Kind: KindChange, Change: &edit, Origin: "p-1"},
		{Room: "lobby", Kind: KindChange, Change: &react},
		{Room: "lobby", Kind: KindChange, Change: &erased},
		{Room: "lobby", Kind: KindTyping, User: "ann", Origin: "p-2"},
		{Room: "lobby", Kind: KindPresence, Users: []string{"ann", "bob"}},
		{Room: "lobby", Kind: KindPresence},
		{Kind: KindTyping, User: "ann", Origin: "p-3"}, // process-wide
		{Kind: KindRevoked, Credentials: []string{"0a1b", "ffee"}, Origin: "p-1"},
		{Kind: KindUserRevoked, User: "zoë", Keep: "0a1b"},
		{Kind: KindUserRevoked, User: "ann"},
		{Kind: KindUserChanged, User: "ann"},
		{Kind: KindRoomChanged, Subject: "lobby", User: "zoë", Origin: "p-1"},
		{Kind: KindRoomChanged, Subject: "secret"},
		{Kind: KindRead, User: "zoë", Subject: "lobby", Seq: 17, Origin: "p-1"},
		{Kind: KindRooms, User: "ann", Subject: "ops"},
		{Room: "lobby", Kind: KindUnknown},
		// Written under a room's access epoch, which travels beside the
		// entry and is its again once read; a member's removal's.
		{Room: "secret", Kind: KindMessage, Message: &private, Epoch: 3, Origin: "p-1"},
		{Room: "secret", Kind: KindChange, Change: &privateEdit, Epoch: 3},
		{Kind: KindRoomChanged, Subject: "secret", User: "zoë", Epoch: 4},
	}
}

// Every event comes back as it was sent, marked or not, by whichever way
// it is read.
func TestDecodeEventRoundTrip(t *testing.T) {
	for _, ev := range sampleEvents() {
		for _, payload := range [][]byte{AppendEvent(nil, ev, Mark{}), AppendEvent(nil, ev, NewMark())} {
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
	if _, ok := decodeEventFast(AppendEvent(nil, sampleEvents()[1], Mark{})); ok {
		t.Error("an escaped string was read by hand")
	}
	for _, m := range []Mark{{}, NewMark()} {
		for _, i := range []int{0, 2, 3, 6, 7, 8, 22, 23, 24} { // new messages and changes, epochs
			if _, ok := decodeEventFast(AppendEvent(nil, sampleEvents()[i], m)); !ok {
				t.Errorf("event %d (mark %q) was not read by hand: %s", i, m.open, AppendEvent(nil, sampleEvents()[i], m))
			}
		}
	}
	// Unmarked, every event is what encoding/json writes for it.
	for _, ev := range sampleEvents() {
		std, err := chat.EncodeJSON(ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendEvent(nil, ev, Mark{}); string(got) != string(std) {
			t.Errorf("wrote %s\nencoding/json writes %s", got, std)
		}
	}
}

// The wire is the one the last version wrote, byte for byte, so that
// processes of both versions read each other's events.
func TestWireAsBefore(t *testing.T) {
	m := chat.Message{ID: 9, Room: "lobby", Seq: 4, Rev: 4, Author: "ann", Content: "hi",
		Timestamp: time.Date(2026, 11, 25, 22, 0, 0, 5000, time.UTC), ClientID: "c-1"}
	for wire, ev := range map[string]Event{
		`{"room":"lobby","kind":"message","message":{"id":9,"room":"lobby","seq":4,"author":"ann","content":"hi","timestamp":"2026-11-25T22:00:00.000005Z","client_id":"c-1"},"origin":"p-1"}`: {
			Room: "lobby", Kind: KindMessage, Message: &m, Origin: "p-1"},
		`{"room":"lobby","kind":"typing","user":"ann","origin":"p-1"}`:           {Room: "lobby", Kind: KindTyping, User: "ann", Origin: "p-1"},
		`{"room":"lobby","kind":"presence","origin":"p-1","data":["ann","bob"]}`: {Room: "lobby", Kind: KindPresence, Origin: "p-1", Users: []string{"ann", "bob"}},
		`{"room":"lobby","kind":"presence","origin":"p-1"}`:                      {Room: "lobby", Kind: KindPresence, Origin: "p-1"},
		// This version's change event.
		`{"room":"lobby","kind":"change","change":{"room":"lobby","seq":5,"kind":"react","target":4,"author":"ann","emoji":"👍","timestamp":"2026-11-25T22:00:00.000005Z"}}`: {
			Room: "lobby", Kind: KindChange, Change: &chat.Change{Room: "lobby", Seq: 5, Kind: chat.ChangeReact, Target: 4,
				Author: "ann", Emoji: "👍", Timestamp: time.Date(2026, 11, 25, 22, 0, 0, 5000, time.UTC)}},
	} {
		if got := string(AppendEvent(nil, ev, Mark{})); got != wire {
			t.Errorf("wrote %s\nwant %s", got, wire)
		}
		for _, payload := range []string{wire, `{"via":"3VYV35QTFTRW77RQZ7EHBMUSJJ",` + wire[1:]} {
			got, err := DecodeEvent([]byte(payload))
			if err != nil || !reflect.DeepEqual(got, ev) {
				t.Errorf("%s: read %+v, %v; want %+v", payload, got, err, ev)
			}
		}
	}
}

// A mark is found where its publisher put it and nowhere else.
func TestHasMark(t *testing.T) {
	mine, theirs := NewMark(), NewMark()
	if mine == theirs {
		t.Fatal("two marks alike")
	}
	ev := sampleEvents()[0]
	for _, c := range []struct {
		payload []byte
		mark    Mark
		want    bool
	}{
		{AppendEvent(nil, ev, mine), mine, true},
		{AppendEvent(nil, ev, theirs), mine, false},
		{AppendEvent(nil, ev, Mark{}), mine, false},
		{AppendEvent(nil, ev, mine), Mark{}, false},
		{AppendEvent(nil, ev, Mark{}), Mark{}, false},
		{[]byte(mine.open), mine, true}, // a prefix check, not a decoder
		{[]byte(mine.open[:len(mine.open)-1]), mine, false},
		{nil, mine, false},
	} {
		if got := HasMark(string(c.payload), c.mark); got != c.want {
			t.Errorf("HasMark(%s, %q) = %v, want %v", c.payload, c.mark.open, got, c.want)
		}
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
		f.Add(AppendEvent(nil, ev, Mark{}))
		f.Add(AppendEvent(nil, ev, NewMark()))
	}
	for _, s := range []string{`{"via":"x","room":"r","kind":"message","message":{"id":-0,"seq":01}}`,
		`{"Room":"r"}`, `{"room":"r","room":"s"}`, `{"message":null}`, `{"message":{},"message":{"id":2}}`,
		`{"data":[]}`, `{"data":["a",1]}`, `{"room":"\xff"}`, `{ "room":"r"}`, `{"room":"r"} `,
		`{"kind":"typing","kind":"edit"}`, `{"kind":null}`, `{"kind":7}`, `{"kind":"\u0074yping"}`, `{"via":1,"kind":"typing"}`,
		`{"message":{"id":123456789012345678,"timestamp":"2026-11-25T22:00:00.000005+01:00"}}`,
		`{"message":{"seq":3,"rev":3,"mentions":[],"mentions_room":false}}`, `{"message":{"mentions":["a"],"mentions":["b"]}}`,
		`{"message":{"reply_to":{"seq":1,"deleted":true,"deleted":false}}}`, `{"change":{"kind":"edit","timestamp":"x"}}`,
		`{"change":{},"change":{"seq":1}}`, `{"kind":"change","change":{"mentions":null,"timestamp":"2026-11-25T22:00:00Z"}}`} {
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

// Whatever the event, what AppendEvent writes, marked or not, reads back
// as the event (as encoding/json would carry it: strings made valid UTF-8,
// the timestamp in UTC, no list for an empty one, a kind not Known as
// KindUnknown); unmarked, it is what encoding/json writes (HTML escaping
// off, chat.EncodeJSON); its mark, and no
// other, is found on it; and one whose strings need no escaping (and
// integers are not too long) is read by hand.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add("lobby", uint8(KindMessage), "", "p-1", "", true, int64(9), int64(4), "zoë", "hi, 名前 😀", int64(1764108000000005), "c-1", true)
	f.Add("lobby", uint8(KindMessage), "", "", "", true, int64(-1), int64(0), "a", "<b>\"x\"</b>\n\u2028", int64(-5), "", false)
	f.Add("", uint8(KindTyping), "ann", "p-2", "", false, int64(0), int64(0), "", "", int64(0), "", true)
	f.Add("r", uint8(KindPresence), "", "p-2", "ann\nbob\n<c>", false, int64(0), int64(0), "", "", int64(0), "", false)
	f.Add("r", uint8(KindPresence), "", "", "\n", false, int64(0), int64(0), "", "", int64(0), "", true)
	f.Add("\xff", uint8(200), "\x00", "\\", "\xfe", true, int64(1<<62), int64(-1<<62), "\u2029", "\t", int64(1<<40), "&", true)
	// The other kinds: a change (its own fuzzer fills it), and the
	// process-wide revocations.
	f.Add("lobby", uint8(KindChange), "", "p-1", "", false, int64(0), int64(0), "", "", int64(0), "", false)
	f.Add("", uint8(KindRevoked), "", "p-1", "", false, int64(0), int64(0), "", "", int64(0), "", true)
	f.Add("", uint8(KindUserRevoked), "zoë", "", "", false, int64(0), int64(0), "", "", int64(0), "", false)
	f.Add("", uint8(KindUserChanged), "zoë", "p-1", "", false, int64(0), int64(0), "", "", int64(0), "", false)
	f.Add("", uint8(KindRoomChanged), "zoë", "", "", false, int64(0), int64(0), "", "", int64(0), "", false)
	f.Fuzz(func(t *testing.T, room string, kind uint8, user, origin, users string, hasMessage bool,
		id, seq int64, author, content string, micros int64, clientID string, marked bool) {
		ev := Event{Room: room, Kind: Kind(kind), User: user, Origin: origin}
		if users != "" {
			ev.Users = strings.Split(users, "\n")
		}
		if hasMessage {
			// Years 1970 to 9999: what RFC 3339 can write.
			micros = max(micros, -micros-1) % 253402300800000000
			ev.Message = &chat.Message{ID: id, Room: room, Seq: seq, Author: author, Content: content,
				Timestamp: time.UnixMicro(micros), ClientID: clientID}
		}
		want := carried(t, ev)

		var m Mark
		if marked {
			m = NewMark()
		}
		payload := AppendEvent(nil, ev, m)
		got, err := DecodeEvent(payload)
		if err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: read %+v, want %+v", payload, got, want)
		}
		if !marked {
			std, err := chat.EncodeJSON(ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(payload) != string(std) {
				t.Fatalf("wrote %s\nencoding/json writes %s", payload, std)
			}
		}
		if HasMark(string(payload), m) != marked || HasMark(string(payload), NewMark()) || HasMark(string(payload), Mark{}) {
			t.Fatalf("%s: mark %q found where it is not, or not where it is", payload, m.open)
		}
		written := append([]string{room, user, origin}, ev.Users...)
		if hasMessage {
			written = append(written, author, content, clientID)
		}
		// The hand reader takes integers of up to 18 digits.
		const short = 999_999_999_999_999_999
		if plain(written...) && (!hasMessage || id >= -short && id <= short && seq >= -short && seq <= short) {
			if _, ok := decodeEventFast(payload); !ok {
				t.Fatalf("%s: plain, but not read by hand", payload)
			}
		}
	})
}

// carried returns ev as it reads after a trip through encoding/json.
func carried(t *testing.T, ev Event) Event {
	t.Helper()
	str := func(s string) string {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var out string
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := Event{Room: str(ev.Room), User: str(ev.User), Origin: str(ev.Origin)}
	if ev.Kind.Known() {
		want.Kind = ev.Kind
	}
	for _, u := range ev.Users {
		want.Users = append(want.Users, str(u))
	}
	if m := ev.Message; m != nil {
		want.Message = &chat.Message{ID: m.ID, Room: str(m.Room), Seq: m.Seq, Rev: max(m.Seq, 0), Author: str(m.Author),
			Content: str(m.Content), Timestamp: m.Timestamp.UTC(), ClientID: str(m.ClientID)}
	}
	return want
}

// plain reports whether encoding/json (HTML escaping off, as Parley
// writes) writes every s as it is, in quotes.
func plain(ss ...string) bool {
	for _, s := range ss {
		b, err := chat.EncodeJSON(s)
		if err != nil || string(b) != `"`+s+`"` {
			return false
		}
	}
	return true
}

// Whatever a change holds, its event is what encoding/json writes, reads
// back as the change (as encoding/json carries it), by hand when its
// strings need no escaping.
func FuzzChangeEventRoundTrip(f *testing.F) {
	f.Add("lobby", int64(5), "edit", int64(4), "zoë", "fixed <b>it</b>", "ann\nbob", true, "", int64(1764108000000005), "e-1")
	f.Add("r", int64(1), "react", int64(1), "ann", "", "", false, "👍🏽", int64(0), "")
	f.Add("\xff", int64(-1), "\x00", int64(1<<62), "\u2028", "\t", "\n", true, "\\", int64(-7), "&")
	f.Fuzz(func(t *testing.T, room string, seq int64, kind string, target int64, author, content, mentions string,
		mentionsRoom bool, emoji string, micros int64, clientID string) {
		micros = max(micros, -micros-1) % 253402300800000000
		c := chat.Change{Room: room, Seq: seq, Kind: chat.ChangeKind(kind), Target: target, Author: author, Content: content,
			MentionsRoom: mentionsRoom, Emoji: emoji, Timestamp: time.UnixMicro(micros), ClientID: clientID}
		if mentions != "" {
			c.Mentions = strings.Split(mentions, "\n")
		}
		ev := Event{Room: room, Kind: KindChange, Change: &c}
		payload := AppendEvent(nil, ev, Mark{})
		std, err := chat.EncodeJSON(ev)
		if err != nil {
			t.Fatal(err)
		}
		if string(payload) != string(std) {
			t.Fatalf("wrote %s\nencoding/json writes %s", payload, std)
		}
		got, err := DecodeEvent(payload)
		if err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		var want Event
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: read %+v, encoding/json reads %+v", payload, got.Change, want.Change)
		}
		const short = 999_999_999_999_999_999
		if plain(append([]string{room, kind, author, content, emoji, clientID}, c.Mentions...)...) &&
			seq >= -short && seq <= short && target >= -short && target <= short {
			if _, ok := decodeEventFast(payload); !ok {
				t.Fatalf("%s: plain, but not read by hand", payload)
			}
		}
	})
}
