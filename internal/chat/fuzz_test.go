package chat_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"parley/internal/chat"
)

// The rules of docs/API.md (names) and docs/PROTOCOL.md (messages)
// written a second way, as regular expressions, for the fuzzers to compare
// against. The username's length, in characters, is counted apart:
// {1,150} over a Unicode class makes a regular expression too slow to
// fuzz with.
var (
	usernameChars = regexp.MustCompile(`^[\p{L}\p{Nd}@.+_-]+$`)
	roomNameRule  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func FuzzValidUsername(f *testing.F) {
	for _, s := range []string{"alice", "", "a b", "Zoë", "名前", "x\x00", "\xff", "a@b.c+d-e_f", "Ⅻ", "٣", "😀",
		strings.Repeat("é", 150), strings.Repeat("é", 151)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ok := chat.ValidUsername(name)
		want := usernameChars.MatchString(name) && utf8.RuneCountInString(name) <= chat.MaxUsernameLength
		if ok != want {
			t.Fatalf("ValidUsername(%q) = %v, the rule says %v", name, ok, want)
		}
		// CheckUsername, for new accounts, also refuses mixed scripts,
		// which ValidUsername, for log-ins, takes.
		err := chat.CheckUsername(name)
		if err == nil && !ok || err != nil && ok && !strings.Contains(chat.ErrorMessage(err), "mix letters of different scripts") {
			t.Fatalf("CheckUsername(%q) = %v, but ValidUsername says %v", name, err, ok)
		}
		if err != nil && chat.ErrorCode(err) != chat.EInvalid {
			t.Fatalf("CheckUsername(%q) code %q, want invalid", name, chat.ErrorCode(err))
		}
		if ok && strings.ContainsAny(name, " \t\r\n\x00/\\<>&\"'") {
			t.Fatalf("ValidUsername accepts %q, which holds a character that needs escaping", name)
		}
	})
}

func FuzzValidRoomName(f *testing.F) {
	for _, s := range []string{"lobby", "", "-", "a b", "a\nb", "../x", "é", strings.Repeat("r", 64), strings.Repeat("r", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ok := chat.ValidRoomName(name)
		if want := roomNameRule.MatchString(name); ok != want {
			t.Fatalf("ValidRoomName(%q) = %v, the rule says %v", name, ok, want)
		}
		if err := chat.CheckRoomName(name); (err == nil) != ok || (err != nil && chat.ErrorCode(err) != chat.EInvalid) {
			t.Fatalf("CheckRoomName(%q) = %v, but ValidRoomName says %v", name, err, ok)
		}
	})
}

func FuzzCleanContent(f *testing.F) {
	for _, s := range []string{"hi", "", " ", "  hi  ", "\xff", "\u00a0x\u3000", "a\x00b", "\u200b", "\r\n",
		strings.Repeat("ü", 4000), " " + strings.Repeat("ü", 4000) + " ", strings.Repeat("x", 4001)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := chat.CleanContent(in)
		trimmed := strings.TrimSpace(in)
		if err != nil {
			if out != "" {
				t.Fatalf("CleanContent(%q) returned %q with error %v", in, out, err)
			}
			switch code := chat.ErrorCode(err); {
			case code == chat.ETooLong:
				if !utf8.ValidString(in) || utf8.RuneCountInString(trimmed) <= chat.MaxContentLength {
					t.Fatalf("CleanContent(%q): too_long for %d characters", in, utf8.RuneCountInString(trimmed))
				}
			case code == chat.EInvalid:
				if utf8.ValidString(in) && trimmed != "" && !strings.ContainsRune(in, 0) {
					t.Fatalf("CleanContent(%q): invalid for valid, non-blank content: %v", in, err)
				}
			default:
				t.Fatalf("CleanContent(%q): code %q", in, code)
			}
			return
		}
		switch {
		case out != trimmed:
			t.Fatalf("CleanContent(%q) = %q, want %q", in, out, trimmed)
		case out == "":
			t.Fatalf("CleanContent(%q) is empty", in)
		case !utf8.ValidString(out):
			t.Fatalf("CleanContent(%q) = %q is not UTF-8", in, out)
		case utf8.RuneCountInString(out) > chat.MaxContentLength:
			t.Fatalf("CleanContent(%q) has %d characters", in, utf8.RuneCountInString(out))
		case strings.ContainsRune(out, 0):
			t.Fatalf("CleanContent(%q) keeps a NUL, which PostgreSQL text cannot store", in)
		}
		again, err := chat.CleanContent(out)
		if err != nil || again != out {
			t.Fatalf("CleanContent is not idempotent on %q: %q, %v", out, again, err)
		}
		// What is stored must come back from the wire as it went in.
		b, _ := json.Marshal(out)
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != out {
			t.Fatalf("content %q does not survive JSON: %q, %v", out, back, err)
		}
	})
}

func FuzzCheckClientID(f *testing.F) {
	for _, s := range []string{"", "c-7f3a", "a b", "tab\t", "\x7f", "\x00", "\xff", "ü", "\u2028",
		strings.Repeat("x", 64), strings.Repeat("x", 65), strings.Repeat("ü", 64), strings.Repeat("ü", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := chat.CheckClientID(id)
		if err != nil {
			if chat.ErrorCode(err) != chat.EInvalid {
				t.Fatalf("CheckClientID(%q) code %q, want invalid", id, chat.ErrorCode(err))
			}
			if strings.Contains(chat.ErrorMessage(err), id) && id != "" {
				t.Fatalf("CheckClientID(%q) echoes the id in its message", id)
			}
			return
		}
		if utf8.RuneCountInString(id) > chat.MaxClientIDLength || !utf8.ValidString(id) {
			t.Fatalf("CheckClientID accepts %q (%d characters)", id, utf8.RuneCountInString(id))
		}
		for _, r := range id {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("CheckClientID accepts %q with control character %U", id, r)
			}
		}
		// An accepted id is echoed in error frames: it must come back
		// from JSON exactly as it was sent.
		b, _ := json.Marshal(id)
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != id {
			t.Fatalf("client_id %q does not survive JSON: %q, %v", id, back, err)
		}
	})
}

// AppendJSON writes what encoding/json writes for the message's wire
// form with HTML escaping off (EncodeJSON), byte for byte, whatever its
// strings hold, and it reads back.
func FuzzMessageJSON(f *testing.F) {
	for _, s := range []string{"hello", "", "<b>&amp;</b>", "quote \" back \\ slash", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"\u2028\u2029", "\xff\xfe", "a\xc3", "Zoë 名前 😀", "\ufffd", "</script>"} {
		f.Add(s, s+"!", int64(42), "c-1")
	}
	f.Fuzz(func(t *testing.T, author, content string, seq int64, clientID string) {
		m := chat.Message{ID: seq * 3, Room: "lobby", Seq: seq, Author: author, Content: content,
			Timestamp: time.Unix(seq%(1<<40), seq%1e9).In(time.FixedZone("X", 3600)), ClientID: clientID}
		want, err := chat.EncodeJSON(chat.WireMessage{ID: m.ID, Room: m.Room, Seq: m.Seq, Author: m.Author, Content: m.Content,
			Timestamp: m.Timestamp.UTC().Format(chat.TimestampFormat), ClientID: m.ClientID})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want)
		}
		var back chat.Message
		if err := json.Unmarshal(want, &back); err != nil {
			t.Fatal(err)
		}
		if (utf8.ValidString(content) && back.Content != content) || back.Seq != seq ||
			!back.Timestamp.Equal(m.Timestamp.Truncate(time.Microsecond)) {
			t.Fatalf("read back %+v from %s", back, want)
		}
	})
}

// FuzzSuggestRoomName: whatever is typed, the suggestion is a valid,
// lower-case room name or nothing, and suggesting again changes nothing.
func FuzzSuggestRoomName(f *testing.F) {
	for _, s := range []string{"My Room!", "lobby", "Café", "名前", "", "a - b", "\xff", strings.Repeat("ab ", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := chat.SuggestRoomName(name)
		if got == "" {
			return
		}
		if !roomNameRule.MatchString(got) || got != strings.ToLower(got) {
			t.Fatalf("SuggestRoomName(%q) = %q, not a valid lower-case name", name, got)
		}
		if again := chat.SuggestRoomName(got); again != got {
			t.Fatalf("SuggestRoomName(%q) = %q, and again %q", name, got, again)
		}
	})
}
