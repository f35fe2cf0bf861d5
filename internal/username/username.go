// Package username says when two usernames are one name: their keys, the
// name in Unicode's compatibility form (NFKC) and case-folded, are equal.
// "Alice", "ALICE" and "ａｌｉｃｅ" (fullwidth) are all "alice". Accounts
// are unique by key; a log-in by any spelling of the key finds the
// account.
//
// What keys do not catch: whole-script confusables, a name written
// entirely in letters of another script that look like Latin ones
// ("асе", all Cyrillic, beside "ace"). Names that mix scripts are refused
// at sign-up (chat.CheckUsername), which stops the common form of that
// trick, "аlice" with one Cyrillic letter.
package username

import (
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Key is name's key: NFKC, case-folded, NFKC again (folding can undo the
// normal form, as Unicode's NFKC_Casefold notes).
func Key(name string) string {
	// A Caser keeps state: one per call.
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(name)))
}
