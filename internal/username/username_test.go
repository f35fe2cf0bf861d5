package username_test

import (
	"testing"

	"parley/internal/username"
)

func TestKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"alice", "Alice"},
		{"alice", "ALICE"},
		{"alice", "ａｌｉｃｅ"},    // fullwidth
		{"alice", "𝐚𝐥𝐢𝐜𝐞"},    // mathematical bold
		{"strasse", "Straße"}, // full case folding
		{"ǆ", "ǅ"},            // a title-case digraph
		{"ﬁ", "fi"},           // a ligature
		{"é", "e\u0301"},      // composed or not
		{"bob.smith+1", "BOB.SMITH+1"},
	} {
		if ka, kb := username.Key(tc.a), username.Key(tc.b); ka != kb {
			t.Errorf("Key(%q) = %q, Key(%q) = %q; want one key", tc.a, ka, tc.b, kb)
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"alice", "аlice"}, // a Cyrillic а: refused at sign-up, not folded
		{"alice", "alice2"},
		{"a_b", "a-b"},
	} {
		if username.Key(tc.a) == username.Key(tc.b) {
			t.Errorf("Key(%q) = Key(%q); want different keys", tc.a, tc.b)
		}
	}
}
