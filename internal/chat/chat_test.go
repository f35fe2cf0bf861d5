package chat_test

import (
	"strings"
	"testing"

	"parley/internal/chat"
)

func TestValidUsername(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"alice", true},
		{"a", true},
		{"bob.smith+test@example_1-2", true},
		{"Zoë", true},
		{"名前", true},
		{"٣٤", true}, // Arabic-Indic digits are digits
		{strings.Repeat("é", chat.MaxUsernameLength), true},
		{"", false},
		{strings.Repeat("é", chat.MaxUsernameLength+1), false},
		{"with space", false},
		{"semi;colon", false},
		{"slash/", false},
		{"tab\t", false},
		{"nul\x00", false},
		{"emoji😀", false},
		{"bad\xffutf8", false},
		{"Ⅻ", false}, // a letter-like number, not a decimal digit
	} {
		if got := chat.ValidUsername(tc.name); got != tc.ok {
			t.Errorf("ValidUsername(%q) = %v, want %v", tc.name, got, tc.ok)
		}
		if err := chat.CheckUsername(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckUsername(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		} else if err != nil && chat.ErrorCode(err) != chat.EInvalid {
			t.Errorf("CheckUsername(%q) code %q, want invalid", tc.name, chat.ErrorCode(err))
		}
	}
}

// Names that mix scripts no one writing system mixes are refused at
// sign-up: the look-alikes of another name ("аlice" with a Cyrillic а).
// ValidUsername, which log-in uses, still takes them: an account made
// before the rule keeps working.
func TestMixedScriptsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"alice", true},
		{"аlice", false},    // Cyrillic а, then Latin
		{"αlice", false},    // Greek α
		{"Ρaul", false},     // Greek capital rho
		{"иван", true},      // all Cyrillic
		{"ιωάννης", true},   // all Greek
		{"дима_2024", true}, // Cyrillic with ASCII digits and _
		{"yuki山田", true},    // Latin with Han
		{"たなか太郎", true},     // Hiragana with Han
		{"kim김", true},      // Latin with Hangul
		{"山田ivan", true},
		{"ivanи", false},
		{"aリβ", false}, // Latin, Katakana and Greek
		{"Zoë", true},  // a combining mark counts for no script
		{"ｓａｍ", true},  // fullwidth Latin is Latin (its key is "sam")
	} {
		err := chat.CheckUsername(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckUsername(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if !chat.ValidUsername(tc.name) {
			t.Errorf("ValidUsername(%q) = false; log-in must still find such names", tc.name)
		}
	}
}

func TestValidRoomName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"lobby", true},
		{"A-z_09", true},
		{"-", true},
		{strings.Repeat("r", chat.MaxRoomNameLength), true},
		{"", false},
		{strings.Repeat("r", chat.MaxRoomNameLength+1), false},
		{"two words", false},
		{"dot.room", false},
		{"../etc", false},
		{"caf\u00e9", false},
		{"room\x00", false},
		{"room/", false},
	} {
		if got := chat.ValidRoomName(tc.name); got != tc.ok {
			t.Errorf("ValidRoomName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
		if err := chat.CheckRoomName(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckRoomName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestCleanContent(t *testing.T) {
	long := strings.Repeat("ü", chat.MaxContentLength)
	for _, tc := range []struct {
		in, out string
		code    string
	}{
		{"hi", "hi", ""},
		{"  hi there \n", "hi there", ""},
		{"\u00a0x\u3000", "x", ""}, // Unicode spaces are trimmed too
		{long, long, ""},
		{" " + long + " ", long, ""},
		{"", "", chat.EInvalid},
		{" \t\r\n ", "", chat.EInvalid},
		{"\xff", "", chat.EInvalid},
		{"a\x00b", "", chat.EInvalid}, // PostgreSQL's text cannot hold NUL
		{long + "x", "", chat.ETooLong},
		{strings.Repeat("x", chat.MaxContentLength+1), "", chat.ETooLong},
	} {
		got, err := chat.CleanContent(tc.in)
		if code := chat.ErrorCode(err); code != tc.code {
			t.Errorf("CleanContent(%.20q…) error %v, want code %q", tc.in, err, tc.code)
			continue
		}
		if got != tc.out {
			t.Errorf("CleanContent(%.20q…) = %.20q…, want %.20q…", tc.in, got, tc.out)
		}
	}
}

func TestCheckClientID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"", true},
		{"c-7f3a", true},
		{"with space and ünïcode", true},
		{strings.Repeat("x", chat.MaxClientIDLength), true},
		{strings.Repeat("x", chat.MaxClientIDLength+1), false},
		{"tab\t", false},
		{"nl\n", false},
		{"del\x7f", false},
		{"nul\x00", false},
		{"bad\xff", false},
	} {
		err := chat.CheckClientID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("CheckClientID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		} else if err != nil && chat.ErrorCode(err) != chat.EInvalid {
			t.Errorf("CheckClientID(%q) code %q, want invalid", tc.id, chat.ErrorCode(err))
		}
	}
}

func TestCheckNewMessage(t *testing.T) {
	m := chat.NewMessage{Room: "lobby", Author: "alice", Content: "  hello  ", ClientID: "c1"}
	if err := chat.CheckNewMessage(&m); err != nil {
		t.Fatal(err)
	}
	if m.Content != "hello" {
		t.Errorf("content %q, want it trimmed", m.Content)
	}
	for _, bad := range []chat.NewMessage{
		{Room: "no room", Content: "x"},
		{Room: "lobby", Content: "  "},
		{Room: "lobby", Content: "x", ClientID: "a\nb"},
	} {
		if err := chat.CheckNewMessage(&bad); chat.ErrorCode(err) != chat.EInvalid {
			t.Errorf("CheckNewMessage(%+v) = %v, want invalid", bad, err)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct {
		password string
		ok       bool
	}{
		{"analytical engine", true},
		{"correct horse battery", true},
		{"longenough", true},
		{strings.Repeat("x", chat.MaxPasswordLength), true},
		{"short", false},
		{"1234567", false},
		{strings.Repeat("x", chat.MaxPasswordLength+1), false},
		// The most common passwords, whatever their case.
		{"password", false},
		{"Password", false},
		{"PASSWORD1", false},
		{"12345678", false},
		{"iloveyou", false},
		{"trustno1", false},
		{"qwertyuiop", false},
		// The list's own notes are not passwords.
		{"#!comment:", true},
	} {
		err := chat.CheckPassword(tc.password)
		if (err == nil) != tc.ok {
			t.Errorf("CheckPassword(%q) = %v, want ok=%v", tc.password, err, tc.ok)
		} else if err != nil && chat.ErrorCode(err) != chat.EInvalid {
			t.Errorf("CheckPassword(%q) code %q, want invalid", tc.password, chat.ErrorCode(err))
		}
	}
	if msg := chat.ErrorMessage(chat.CheckPassword("password")); !strings.Contains(msg, "common") {
		t.Errorf("a common password is refused with %q, which does not say why", msg)
	}
}

func TestCommonPasswordList(t *testing.T) {
	// A few thousand entries, as the list's header says: a list that fails
	// to load would pass every password.
	n := 0
	for _, p := range []string{"123456", "password", "letmein", "monkey", "dragon", "sunshine", "football", "princess"} {
		if chat.CommonPassword(p) {
			n++
		}
	}
	if n != 8 {
		t.Fatalf("only %d of 8 of the most common passwords are on the list", n)
	}
}

func TestSuggestRoomName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"My Room!", "my-room"},
		{"lobby", "lobby"},
		{"Lobby", "lobby"},
		{"Design_Review-2", "design_review-2"},
		{"  spaces  around ", "spaces-around"},
		{"a - b", "a-b"},
		{"Café au lait", "cafe-au-lait"},
		{"Straße", "strasse"},
		{"Łódź", "lodz"},
		{"C++ & Go", "c-go"},
		{"#general", "general"},
		{"chats/general/", "chats-general"},
		{"名前", ""},
		{"!!!", ""},
		{"", ""},
		{"bad\xffutf8", "bad-utf8"},
		{strings.Repeat("ab ", 40), strings.TrimRight(strings.Repeat("ab-", 22)[:chat.MaxRoomNameLength], "-")},
	} {
		got := chat.SuggestRoomName(tc.in)
		if got != tc.want {
			t.Errorf("SuggestRoomName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got != "" && !chat.ValidRoomName(got) {
			t.Errorf("SuggestRoomName(%q) = %q, which is not a valid name", tc.in, got)
		}
	}
}
