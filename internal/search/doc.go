// Package search is Parley's message search: the query language, the SQL
// that answers a query on SQLite (FTS5) and on PostgreSQL (tsvector and
// GIN) with the same results, and the highlighting of matches. It holds no
// connection: the store runs what it builds.
//
// # The query language
//
// A query is words, phrases and operators, separated by spaces; a message
// matches when it matches all of them.
//
//	deploy failed        both words, anywhere, in any order
//	"new york"           these words, one after the other
//	deploy*              a word that starts with deploy (2 characters at least before the *)
//	-spam  -"foo bar"    leaves out messages with that word or phrase
//	from:alice           written by alice (also from:@alice); repeated: by any of them
//	in:lobby             in that room (also in:#lobby); repeated: in any of them
//	before:2026-12-06    written before that day began
//	after:2026-12-06     written after that day ended
//	on:2026-12-06        written that day
//	has:link             holds a link: http:// or https://, in any case
//	is:mention           mentions the searcher
//
// Days are UTC; today and yesterday may stand for a date. Given twice,
// before:, after: and on: keep the narrower range. Operator names may be
// written in any case (FROM:alice); user and room names are exact. A word
// with a colon that is not an operator, such as xyz:abc or a URL, is
// searched as words (xyz abc, one after the other). A phrase whose closing
// quote is missing runs to the end of the query. Characters that are not
// letters or digits, such as * ( ) ^ : & | ! \ and most emoji, separate
// words and are otherwise ignored: AND, OR, NOT and NEAR are searched as
// words, never obeyed. A query of operators alone is valid: from:alice
// lists alice's messages.
//
// A query has at most MaxQueryLength characters and MaxTerms words,
// phrases and operators; Parse refuses a longer one, and a bad operator
// value, with a chat.Error of code invalid whose message says what to
// write instead.
//
// # Matching
//
// A word matches whole words, ignoring case and diacritics: cafe, Café and
// CAFÉ are one word; cafés is another (nothing is stemmed). A word is what
// SQLite's unicode61 tokenizer with remove_diacritics 2 reads: a run of
// letters and digits. So foo-bar, foo_bar and 3.14 are two words each, and
// searching foo-bar finds them as the phrase "foo bar"; don't is don and t.
// Some consequences of unicode61 hold on both engines alike: ß is not ss,
// the ligature ﬁ is not f and i, a run of Chinese or Japanese characters
// is one word (東京タワー does not match 東京), and emoji are separators
// except those newer than SQLite's Unicode tables, which are letters
// (🤔 is searchable, 😀 is not).
//
// Nothing is stemmed, on purpose: SQLite's porter tokenizer and
// PostgreSQL's english configuration group different words (sky and skies
// match on PostgreSQL only, new and news on SQLite only) and PostgreSQL
// drops stop words, so stemmed searches would find different messages on
// the two engines (TestStemmingDiffers).
//
// # Engines
//
// SQLite: an external-content FTS5 table, messages_fts, over
// messages.content (the store's migrations/sqlite/0008_search.sql). New
// messages are indexed by SQLiteIndexNew, once in each transaction that
// inserts them; edits and deletions by triggers. Query.SQLite writes the words as FTS5 strings,
// each in double quotes, and joins the index to messages so that it hands
// out matches newest first.
//
// PostgreSQL: a tsvector column, messages.search_vector, with a GIN index
// (the store's migrations/postgres/0008_search.sql), that the statement
// inserting or editing a message fills with CAST($n AS tsvector) of
// Vector(content). Vector holds the words SQLite's index holds, at the
// same positions: it reads them with a copy of unicode61 whose tables are read out of the linked SQLite
// code point by code point (TestUnicode61Table; FuzzTokens compares whole
// texts). PostgreSQL's own to_tsvector would not agree with SQLite: its
// parser keeps e-mail addresses, URLs and hyphenated words whole, and what
// it takes for a letter depends on the database's locale. Query.Postgres
// writes the words as quoted lexemes cast to tsquery, which normalises
// nothing. A limit of a tsvector makes PostgreSQL differ in one corner: a
// word keeps its first 256 positions in a message, so a phrase after the
// 256th repetition of one of its words in one message is found on SQLite
// only (TestRepeatedWords). (Positions also stop at 16,383, past the
// longest message.)
//
// GIN hands out a word's matches in no order, so that PostgreSQL reads
// every match of a query's words to find its newest. Its index (the
// store's migrations/postgres/0013_search_blocks.sql) is built on the
// vector and three lexemes no word can be: the message's block of 65,536
// ids, its room and its author. A query's words are ANDed to in:'s rooms
// and from:'s authors, and Fragment.Windows asks the newest block first,
// then older windows of blocks, sized by what the ones before found,
// until the page is full: GIN itself skips to the block in each word's
// list. Excluded words are tested on the rows GIN keeps.
//
// Both: the caller says which rooms the searcher may read (Options), and
// what mentions them. Highlighting (Query.Highlight, Query.HighlightHTML)
// runs in Go from the query, by the same rules, so it marks the same words
// on both engines.
//
// On both engines from: is answered by an index on (author, room) (the
// store's migrations/ENGINE/0011_search_authors.sql), which hands out an
// author's messages in a room newest first, unless there are words, which
// the full-text index answers (on PostgreSQL with from:'s authors, above);
// the other operators filter its matches. A query that
// excludes a term it requires (plan -plan, "lunch plan" -plan) matches
// nothing, and is not sent to the engine, which would read every match of
// its words to find that out.
package search
