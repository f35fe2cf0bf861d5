package web

import (
	"encoding/json"
	"net/url"
	"path"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"parley/internal/chat"
)

// protocolCodes are the error codes of docs/PROTOCOL.md (Error codes).
var protocolCodes = map[string]bool{
	"bad_request": true, "too_long": true, "rate_limited": true, "not_found": true, "internal": true,
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"command":"new_message","message":"hi","client_id":"c-1"}`,
		`{"message":"hi","from":"somebody","command":"new_message"}`,
		`{"command":"new_message","message":"a","message":"b"}`,
		`{"command":"fetch_messages","after":3,"limit":50}`,
		`{"command":"read","seq":7}`,
		`{"command":"typing"}`,
		`{"command":"new_message","message":7,"client_id":"c-2"}`,
		`{"COMMAND":"new_message","Message":"x","command":"dance"}`,
		`{"command":"new_message","message":"\ud800","client_id":"\u0000"}`,
		`[1]`, `null`, `"x"`, `{`, `{"before":{"x":1}}`, `{"limit":1e400}`,
		`{"command":"new_message","message":"re","reply_to":12,"client_id":"r"}`,
		`{"command":"edit_message","seq":3,"message":"fixed","client_id":"e-1"}`,
		`{"command":"edit_message","seq":3}`,
		`{"command":"delete_message","seq":3}`,
		`{"command":"react","seq":3,"emoji":"👍","client_id":"x"}`,
		`{"command":"unreact","seq":-3,"emoji":"👍"}`,
		`{"command":"fetch_versions","seq":0}`,
		`{"command":"fetch_messages","around":40,"limit":9}`,
		`{"command":"react","seq":3.0,"emoji":7}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, extensions bool) {
		// The hand reader reads what encoding/json reads, or declines.
		if fast, ok := decodeFrameFast(data); ok {
			if slow, ferr := decodeFrameJSON(data); ferr != nil || !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%q: read by hand as %+v; encoding/json reads %+v, %+v", data, fast, slow, ferr)
			}
		}
		fr, ferr := decodeFrame(data, extensions)
		if ferr != nil {
			if !protocolCodes[ferr.Code] {
				t.Fatalf("%q: code %q is not in the protocol", data, ferr.Code)
			}
			if ferr.Message == "" || strings.ContainsFunc(ferr.Message, unicode.IsControl) || !utf8.ValidString(ferr.Message) {
				t.Fatalf("%q: message %q", data, ferr.Message)
			}
			if chat.CheckClientID(ferr.ClientID) != nil {
				t.Fatalf("%q: echoes invalid client_id %q", data, ferr.ClientID)
			}
			if !reflect.DeepEqual(fr, inFrame{}) {
				t.Fatalf("%q: refused, yet returned %+v", data, fr)
			}
			return
		}
		switch fr.Command {
		case "fetch_messages":
		case "new_message":
			if fr.Message == nil {
				t.Fatalf("%q: new_message without a message", data)
			}
		case "typing", "read", "edit_message", "delete_message", "react", "unreact", "fetch_versions":
			if !extensions {
				t.Fatalf("%q: %s accepted without extensions", data, fr.Command)
			}
			if fr.Command == "read" && fr.Seq < 0 || fr.Command == "fetch_versions" && fr.Seq < 1 {
				t.Fatalf("%q: seq %d", data, fr.Seq)
			}
			if fr.Command == "edit_message" && fr.Message == nil {
				t.Fatalf("%q: edit_message without a message", data)
			}
		default:
			t.Fatalf("%q: command %q accepted", data, fr.Command)
		}
		// Extensions only add commands.
		if !extensions {
			if fr2, ferr := decodeFrame(data, true); ferr != nil || !reflect.DeepEqual(fr, fr2) {
				t.Fatalf("%q: accepted without extensions, but with them %+v, %+v", data, fr2, ferr)
			}
		}
		// What was read writes back and reads again as the same frame.
		b, err := json.Marshal(fr)
		if err != nil {
			t.Fatalf("%q: %+v does not encode: %v", data, fr, err)
		}
		again, ferr := decodeFrame(b, extensions)
		if ferr != nil || !reflect.DeepEqual(fr, again) {
			t.Fatalf("%q decodes as %+v, re-encoded %s decodes as %+v, %+v", data, fr, b, again, ferr)
		}
	})
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{
		"/chats/lobby/", "/", "", "//evil.example", "/\\evil.example", "https://evil.example",
		"/\t/evil.example", "/x\x01", "/x\u0085", "/%2F%2Fevil.example", "/.//evil.example", "/..//evil.example",
		"/@evil.example", "/?next=//evil.example", "/#//evil.example", "/x:y", "/ /evil.example",
	} {
		f.Add(s)
	}
	base, _ := url.Parse("https://parley.example/login/?next=x")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got != "/" && got != next {
			t.Fatalf("safeNext(%q) = %q, neither the input nor /", next, got)
		}
		if got == "/" {
			return
		}
		if len(got) < 2 || got[0] != '/' || got[1] == '/' || got[1] == '\\' {
			t.Fatalf("safeNext(%q) = %q does not start with one slash and a path character", next, got)
		}
		if strings.Contains(got, "\\") || strings.ContainsFunc(got, unicode.IsControl) {
			t.Fatalf("safeNext(%q) = %q holds a backslash or a control character", next, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
			t.Fatalf("safeNext(%q) = %q parses as %#v, %v", next, got, u, err)
		}
		// Followed by a browser from a page of this site, it stays here.
		if r := base.ResolveReference(u); r.Scheme != "https" || r.Host != "parley.example" || r.User != nil {
			t.Fatalf("safeNext(%q) = %q leads to %s", next, got, r)
		}
		// As http.Redirect sends it: the path cleaned, the rest kept.
		path, rest, _ := strings.Cut(got, "?")
		if r, err := base.Parse(cleanLikeRedirect(path) + sep(rest) + rest); err != nil || r.Host != "parley.example" {
			t.Fatalf("safeNext(%q) = %q redirects to %v, %v", next, got, r, err)
		}
	})
}

func sep(rest string) string {
	if rest == "" {
		return ""
	}
	return "?"
}

// cleanLikeRedirect cleans a path as http.Redirect does before it writes
// the Location header: path.Clean, keeping a trailing slash.
func cleanLikeRedirect(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && !strings.HasSuffix(c, "/") {
		c += "/"
	}
	return c
}

// BenchmarkDecodeFrame reads the frame clients send most, by hand (the
// way decodeFrame takes) and with encoding/json (its fallback).
func BenchmarkDecodeFrame(b *testing.B) {
	data := []byte(`{"command":"new_message","message":"hi there, how are you?","client_id":"c-7f3a"}`)
	b.Run("frame", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ferr := decodeFrame(data, false); ferr != nil {
				b.Fatal(ferr)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ferr := decodeFrameJSON(data); ferr != nil {
				b.Fatal(ferr)
			}
		}
	})
}
