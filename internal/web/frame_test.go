package web

import (
	"strings"
	"testing"
	"time"

	"parley/internal/limit"
)

func TestDecodeFrame(t *testing.T) {
	for _, tc := range []struct {
		frame      string
		extensions bool
		// want is the refusal's message and echoed client_id; "" for a
		// frame that is accepted.
		msg, clientID string
	}{
		{`{"command":"fetch_messages"}`, false, "", ""},
		{`{"command":"fetch_messages","before":5,"limit":10}`, false, "", ""},
		{`{"command":"new_message","message":"hi","client_id":"c1","from":"mallory"}`, false, "", ""},
		{`{"command":"typing"}`, true, "", ""},
		{`{"command":"read","seq":3}`, true, "", ""},
		{`{"command":"read","seq":0}`, true, "", ""},
		{`null`, false, "The frame has no command.", ""},
		{`{}`, false, "The frame has no command.", ""},
		{`{"client_id":"c1"}`, false, "The frame has no command.", "c1"},
		{`{"command":"dance","client_id":"c2"}`, false, "Unknown command.", "c2"},
		{`{"command":"dance","client_id":"a\nb"}`, false, "Unknown command.", ""},
		{`{"command":"typing","client_id":"c3"}`, false, `Unknown command "typing" (extensions need the parley.v1 subprotocol).`, ""},
		{`{"command":"read","seq":3}`, false, `Unknown command "read" (extensions need the parley.v1 subprotocol).`, ""},
		{`{"command":"read","seq":-1}`, true, "seq must be at least 0.", ""},
		{`{"command":"new_message","client_id":"c4"}`, false, `new_message needs a "message" string.`, "c4"},
		{`{"command":"new_message","message":null,"client_id":"c4"}`, false, `new_message needs a "message" string.`, "c4"},
		{`{"command":"new_message","message":5,"client_id":"c5"}`, false, `Bad field: field "message" must be a string.`, "c5"},
		{`{"command":"new_message","client_id":"` + strings.Repeat("x", 65) + `","message":[]}`, false, `Bad field: field "message" must be a string.`, ""},
		{`{"command":"fetch_messages","limit":"10"}`, false, `Bad field: field "limit" must be a int.`, ""},
		{`{"command":"fetch_messages","before":1.5}`, false, `Bad field: field "before" must be a int64.`, ""},
		{`{"command":7}`, false, `Bad field: field "command" must be a string.`, ""},
		{`not json`, false, "The frame is not a JSON object.", ""},
		{`{"command":"fetch_messages"`, false, "The frame is not a JSON object.", ""},
		{`{"command":"fetch_messages"} {}`, false, "The frame is not a JSON object.", ""},
		{`[{"command":"fetch_messages"}]`, false, "The frame is not a JSON object.", ""},
		{`"fetch_messages"`, false, "The frame is not a JSON object.", ""},
		{``, false, "The frame is not a JSON object.", ""},
	} {
		f, ferr := decodeFrame([]byte(tc.frame), tc.extensions)
		if tc.msg == "" {
			if ferr != nil {
				t.Errorf("%s (extensions %v): refused: %+v", tc.frame, tc.extensions, ferr)
			}
			continue
		}
		if ferr == nil {
			t.Errorf("%s (extensions %v): accepted as %+v", tc.frame, tc.extensions, f)
			continue
		}
		if ferr.Code != "bad_request" || ferr.Message != tc.msg || ferr.ClientID != tc.clientID {
			t.Errorf("%s (extensions %v):\n got %+v\nwant {bad_request %s %s}", tc.frame, tc.extensions, *ferr, tc.msg, tc.clientID)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ next, want string }{
		{"/chats/lobby/", "/chats/lobby/"},
		{"/chats/?q=x#top", "/chats/?q=x#top"},
		{"/", "/"},
		{"", "/"},
		{"chats", "/"},
		{"https://evil.example/", "/"},
		{"//evil.example", "/"},
		{"/\\evil.example", "/"},
		{"/x\\y", "/"},
		{"\\\\evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/x\r\nSet-Cookie: a=b", "/"},
		{"/x\x00", "/"},
		{"/x\x7f", "/"},
		{"/x\x01", "/"},
		{"/x\u0085", "/"},
		{"javascript:alert(1)", "/"},
		{"/" + strings.Repeat("a", 2000), "/"},
	} {
		if got := safeNext(tc.next); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
}

// A socket's history allowance: a burst, then the rate, never more.
func TestHistoryBucket(t *testing.T) {
	var b bucket
	historyRate := limit.Rate{PerSecond: 10, Burst: 50}
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for i := range historyRate.Burst {
		if !b.take(now, historyRate) {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	if b.take(now, historyRate) {
		t.Fatal("a request past the burst passed")
	}
	step := time.Duration(float64(time.Second) / historyRate.PerSecond)
	if b.take(now.Add(step/2), historyRate) {
		t.Fatal("half a token's time gave a request")
	}
	if !b.take(now.Add(step), historyRate) || b.take(now.Add(step), historyRate) {
		t.Fatal("one token's time did not give exactly one request")
	}
	// A long pause fills the bucket to its burst, not past it.
	later := now.Add(time.Hour)
	for i := range historyRate.Burst {
		if !b.take(later, historyRate) {
			t.Fatalf("after a pause, request %d refused", i+1)
		}
	}
	if b.take(later, historyRate) {
		t.Fatal("a pause gave more than the burst")
	}
	var off bucket
	for range 1000 {
		if !off.take(now, limit.Rate{}) {
			t.Fatal("no limit refused a request")
		}
	}
}
