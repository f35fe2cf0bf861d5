package search

import (
	"slices"
	"unicode/utf8"
)

// The words of a text, as SQLite FTS5's unicode61 tokenizer with
// remove_diacritics 2 sees them: a word is a run of token characters
// (letters, digits, private-use and, as SQLite's tables have it, code points
// its Unicode version leaves unassigned); every other character separates
// words. Each character folds alone: to lower case, without its diacritic,
// or to nothing (a combining mark). A run whose characters all fold to
// nothing is no word. The tables in unicode61_table.go are read out of the
// SQLite linked into Parley, code point by code point
// (TestUnicode61Table), so PostgreSQL's lexemes, the query's words and the
// highlighting agree with SQLite's index exactly.

// token is a word of a text: its bytes text[start:end] and its folded form.
type token struct {
	start, end int
	folded     string
}

// maxLexemeRunes bounds a word as PostgreSQL stores it (a lexeme has at
// most 2,046 bytes). A query's word has at most MaxQueryLength characters,
// so a stored word cut to one more than that still matches, as a whole word
// or as a prefix, exactly the query words the whole word matches.
const maxLexemeRunes = MaxQueryLength + 1

// tokens calls f for each word of s, in order, until f returns false.
func tokens(s string, f func(token) bool) {
	var buf []byte
	start := -1
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				r = 0 // not UTF-8: a separator
			}
		}
		if isTokenChar(r) {
			if start < 0 {
				start = i
				buf = buf[:0]
			}
			if fr := fold(r); fr != 0 {
				buf = utf8.AppendRune(buf, fr)
			}
		} else if start >= 0 {
			if len(buf) > 0 && !f(token{start: start, end: i, folded: string(buf)}) {
				return
			}
			start = -1
		}
		i += size
	}
	if start >= 0 && len(buf) > 0 {
		f(token{start: start, end: len(s), folded: string(buf)})
	}
}

// words returns the folded words of s.
func words(s string) []string {
	var w []string
	tokens(s, func(t token) bool {
		w = append(w, t.folded)
		return true
	})
	return w
}

func isTokenChar(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
	}
	if r > utf8.MaxRune {
		return false
	}
	_, sep := slices.BinarySearchFunc(unicode61Separators, r, func(rr runeRange, r rune) int {
		switch {
		case rr.hi < r:
			return -1
		case rr.lo > r:
			return 1
		}
		return 0
	})
	return !sep
}

// fold returns what the token character r becomes in the index: 0 when it
// becomes nothing.
func fold(r rune) rune {
	if r < utf8.RuneSelf {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	if i, ok := slices.BinarySearchFunc(unicode61Folds, r, func(f runeFold, r rune) int { return int(f.from - r) }); ok {
		return unicode61Folds[i].to
	}
	return r
}

// runeRange is the code points lo to hi, both included.
type runeRange struct{ lo, hi rune }

// runeFold says that the code point from folds to to (0: to nothing).
type runeFold struct{ from, to rune }
