// Package chat is Parley's domain: users, rooms and messages, the rules that
// say which names and contents are valid, and the error vocabulary every other
// package speaks. It does no I/O and imports only the standard library.
package chat

import (
	_ "embed"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of names and messages (docs/PROTOCOL.md, docs/API.md).
const (
	MaxUsernameLength = 150
	MinPasswordLength = 8
	// MaxPasswordLength bounds the work a single hash may cost.
	MaxPasswordLength = 1024
	MaxRoomNameLength = 64
	MaxContentLength  = 4000
	MaxClientIDLength = 64
	// MaxFetchLimit is the largest page fetch_messages and the API return.
	MaxFetchLimit = 100
)

// User is an account.
type User struct {
	ID   int64
	Name string
	// Role is what the account may do beyond its own rooms: the one
	// source of truth (users.role).
	Role Role
	// Deactivated accounts cannot log in; their sessions and tokens are
	// gone.
	Deactivated bool
	CreatedAt   time.Time
}

// Actor is the user as access (Can, CanAdmin) sees them.
func (u User) Actor() Actor { return Actor{ID: u.ID, Role: u.Role} }

// Room is a chat room. A room exists once someone posts its first
// message, or its creator confirms it (docs/API.md, POST /api/v1/rooms);
// entering or viewing one makes nothing.
type Room struct {
	Name string `json:"name"`
	// Messages is the number of messages in the room, deleted ones left
	// out.
	Messages int64 `json:"messages"`
	// LastActivity is when the room's latest message was sent (or, for
	// a room without one, when it was made).
	LastActivity time.Time `json:"last_activity"`
	// LastSeq is the seq of the room's latest entry: its latest message
	// or change.
	LastSeq int64 `json:"-"`
	// Kind says who may enter: public, private or direct.
	Kind RoomKind `json:"kind"`
	// Topic is a line of text about the room; "" for none.
	Topic string `json:"topic,omitempty"`
	// Archived rooms are read-only.
	Archived bool `json:"archived,omitempty"`
}

// Message is a stored chat message, in its current state.
type Message struct {
	ID        int64
	Room      string
	Seq       int64
	Author    string
	Content   string
	Timestamp time.Time
	ClientID  string

	// Rev is the seq of the last change applied to the message, its own
	// seq if none: a client applies a change only if its seq is above the
	// message's rev. The store and the decoders set it; 0 reads as the
	// seq (CurrentRev).
	Rev int64
	// Edited is when the content was last edited; zero if never.
	Edited time.Time
	// Deleted marks a tombstone: the content is erased, the place kept.
	Deleted bool
	// ReplyTo is the message this one answers, or nil.
	ReplyTo *Reply
	// Mentions are the users the content mentions (@name), in order;
	// MentionsRoom says it mentions @room.
	Mentions     []string
	MentionsRoom bool
	// Reactions are the emoji on the message, in the order of their
	// first reaction.
	Reactions []Reaction

	// Epoch is its room's access epoch when the store wrote it (Place):
	// how the hub keeps it from a socket whose right to read the room was
	// checked before a change of who may. Never in a frame.
	Epoch int64
}

// CurrentRev is the message's Rev, or its seq when Rev is not set.
func (m Message) CurrentRev() int64 { return max(m.Rev, m.Seq) }

// TimestampFormat is how timestamps go on the wire: RFC 3339, UTC,
// microseconds, as the original application's Django serialisation had it.
const TimestampFormat = "2006-01-02T15:04:05.000000Z07:00"

// WireMessage is the message object (docs/PROTOCOL.md) as it is decoded
// (AppendJSON and AppendFullJSON encode it): a struct to decode it into as
// part of a larger value in one pass, which a Message's UnmarshalJSON
// would decode again.
type WireMessage struct {
	ID           int64          `json:"id"`
	Room         string         `json:"room"`
	Seq          int64          `json:"seq"`
	Rev          int64          `json:"rev,omitempty"`
	Author       string         `json:"author"`
	Content      string         `json:"content"`
	Timestamp    string         `json:"timestamp"`
	ClientID     string         `json:"client_id,omitempty"`
	Edited       string         `json:"edited,omitempty"`
	Deleted      bool           `json:"deleted,omitempty"`
	ReplyTo      *WireReply     `json:"reply_to,omitempty"`
	Mentions     []string       `json:"mentions,omitempty"`
	MentionsRoom bool           `json:"mentions_room,omitempty"`
	Reactions    []WireReaction `json:"reactions,omitempty"`
}

// WireReply is a message object's reply_to.
type WireReply struct {
	Seq     int64  `json:"seq"`
	Author  string `json:"author"`
	Excerpt string `json:"excerpt,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}

// WireReaction is one of a message object's reactions.
type WireReaction struct {
	Emoji string   `json:"emoji"`
	Count int      `json:"count"`
	Users []string `json:"users"`
}

// Message returns the message w holds.
func (w *WireMessage) Message() (Message, error) {
	ts, err := time.Parse(time.RFC3339Nano, w.Timestamp)
	if err != nil {
		return Message{}, err
	}
	m := Message{ID: w.ID, Room: w.Room, Seq: w.Seq, Author: w.Author, Content: w.Content,
		Timestamp: ts.UTC(), ClientID: w.ClientID, Rev: max(w.Rev, w.Seq), Deleted: w.Deleted,
		Mentions: w.Mentions, MentionsRoom: w.MentionsRoom}
	if w.Edited != "" {
		ed, err := time.Parse(time.RFC3339Nano, w.Edited)
		if err != nil {
			return Message{}, err
		}
		m.Edited = ed.UTC()
	}
	if w.ReplyTo != nil {
		m.ReplyTo = &Reply{Seq: w.ReplyTo.Seq, Author: w.ReplyTo.Author, Excerpt: w.ReplyTo.Excerpt, Deleted: w.ReplyTo.Deleted}
	}
	for _, r := range w.Reactions {
		m.Reactions = append(m.Reactions, Reaction(r))
	}
	return m, nil
}

// MarshalJSON writes the message object of docs/PROTOCOL.md with the
// fields Parley adds that are set, rev only when it is not the seq
// (AppendEventJSON): what an event carries. What clients get, rev
// always, is AppendFullJSON's.
func (m Message) MarshalJSON() ([]byte, error) {
	return m.AppendEventJSON(make([]byte, 0, 160+len(m.Content))), nil
}

// UnmarshalJSON reads the message object of docs/PROTOCOL.md.
func (m *Message) UnmarshalJSON(b []byte) error {
	var w WireMessage
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var err error
	*m, err = w.Message()
	return err
}

// NewMessage is a message about to be stored: what a user sent, checked.
type NewMessage struct {
	Room     string
	Author   string
	Content  string
	ClientID string
	// ReplyTo is the seq of the message it answers, 0 for none.
	ReplyTo int64
}

// ValidUsername reports whether name is 1–150 letters, digits and @.+-_,
// as Django's username rule.
func ValidUsername(name string) bool {
	if name == "" || utf8.RuneCountInString(name) > MaxUsernameLength || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if !isLetterOrDigit(r) && !strings.ContainsRune("@.+-_", r) {
			return false
		}
	}
	return true
}

// ValidRoomName reports whether name is 1–64 characters of A-Z a-z 0-9 _ -.
func ValidRoomName(name string) bool {
	if name == "" || len(name) > MaxRoomNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CheckUsername returns an invalid error that says what is wrong with name.
func CheckUsername(name string) error {
	switch {
	case name == "":
		return Errorf(EInvalid, "Enter a username.")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxUsernameLength:
		return Errorf(EInvalid, "A username has at most %d characters.", MaxUsernameLength)
	case !ValidUsername(name):
		return Errorf(EInvalid, "A username may contain only letters, digits and @ . + - _")
	case mixesScripts(name):
		return Errorf(EInvalid, "A username may not mix letters of different scripts, such as Latin and Cyrillic or Greek.")
	}
	return nil
}

// commonScripts are the scripts of most names, looked up first.
var commonScripts = []string{"Latin", "Cyrillic", "Greek", "Han", "Hiragana", "Katakana", "Hangul", "Arabic", "Hebrew"}

// mixedScripts are the mixes of scripts one writing system uses, which
// Unicode's "highly restrictive" profile (UTS #39, 5.2) allows: Latin
// with Japanese, Chinese or Korean.
var mixedScripts = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"},
	{"Latin", "Han", "Bopomofo"},
	{"Latin", "Han", "Hangul"},
}

// mixesScripts reports whether name holds letters or digits of scripts
// that no one writing system mixes, such as Latin with Cyrillic ("аlice",
// its first letter Cyrillic) or with Greek: a look-alike of another name.
// What every script shares (Unicode's Common and Inherited: ASCII digits,
// punctuation, combining marks) counts for none.
func mixesScripts(name string) bool {
	var seen []string
	for _, r := range name {
		script := scriptOf(r)
		if script != "" && !slices.Contains(seen, script) {
			seen = append(seen, script)
		}
	}
	if len(seen) <= 1 {
		return false
	}
	for _, mix := range mixedScripts {
		if !slices.ContainsFunc(seen, func(s string) bool { return !slices.Contains(mix, s) }) {
			return false
		}
	}
	return true
}

// scriptOf is the name of r's script, "" for Common and Inherited.
func scriptOf(r rune) string {
	if r < 0x80 {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return "Latin"
		}
		return ""
	}
	if unicode.Is(unicode.Common, r) || unicode.Is(unicode.Inherited, r) {
		return ""
	}
	for _, name := range commonScripts {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name // a rune is of one script: the map's order does not matter
		}
	}
	return "Unknown"
}

// CheckPassword returns an invalid error that says what is wrong with
// password: too short, too long, or one of the most common passwords,
// which are the first that anyone guessing tries.
func CheckPassword(password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLength:
		return Errorf(EInvalid, "A password has at least %d characters.", MinPasswordLength)
	case len(password) > MaxPasswordLength:
		return Errorf(EInvalid, "A password has at most %d bytes.", MaxPasswordLength)
	case CommonPassword(password):
		return Errorf(EInvalid, "This password is one of the most common ones, which are guessed first. Choose another.")
	}
	return nil
}

// commonPasswords is a list of the most common passwords, one a line; see
// its header for where it comes from.
//
//go:embed common-passwords.txt
var commonPasswords string

// CommonPassword reports whether password, ignoring case, is on the list
// of the most common passwords. The list is a few thousand short lines:
// reading it through costs microseconds, next to the tens of milliseconds
// that hashing a password takes.
func CommonPassword(password string) bool {
	if len(password) > 64 {
		return false // no line is this long
	}
	for line := range strings.Lines(commonPasswords) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "#!comment:") {
			continue
		}
		if strings.EqualFold(line, password) {
			return true
		}
	}
	return false
}

// NormalizeRoomName returns name as Parley keeps it: room names are one
// name whatever their case, so "General" is "general".
func NormalizeRoomName(name string) string { return strings.ToLower(name) }

// CheckRoomName returns an invalid error that says what is wrong with name.
func CheckRoomName(name string) error {
	if !ValidRoomName(name) {
		return Errorf(EInvalid, "A room name is 1 to %d characters of letters A–Z, digits, _ and -.", MaxRoomNameLength)
	}
	return nil
}

// SuggestRoomName returns a valid room name close to name, in lower case,
// to offer someone who typed an invalid one: "My Room!" gives "my-room",
// "Café au lait" gives "cafe-au-lait". Letters with accents lose them,
// and every run of other characters (spaces, punctuation, letters of
// other scripts) becomes one "-". It returns "" when nothing of name is
// left to make a name of. A valid name comes back lower-cased.
func SuggestRoomName(name string) string {
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, " ")
	}
	if ValidRoomName(name) {
		return strings.ToLower(name)
	}
	var b strings.Builder
	dash := false // a "-" is owed before the next character kept
	for _, r := range strings.ToLower(name) {
		s := foldLetter(r)
		if s == "" {
			dash = b.Len() > 0
			continue
		}
		if dash {
			b.WriteByte('-')
			dash = false
		}
		b.WriteString(s)
	}
	out := b.String()
	if len(out) > MaxRoomNameLength {
		out = strings.TrimRight(out[:MaxRoomNameLength], "-")
	}
	return out
}

// foldLetter is what r, a lower-case character, becomes in a suggested
// room name: itself if it may stand in one, an unaccented spelling of an
// accented Latin letter, or "" for a character that separates words. A
// "-" is a separator too, so that "a - b" gives "a-b".
func foldLetter(r rune) string {
	switch {
	case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_':
		return string(r)
	case r < 0x80:
		return ""
	}
	return latinFolds[r]
}

// latinFolds spells the accented Latin letters of Western and Central
// European languages without their accents.
var latinFolds = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ā': "a", 'ă': "a", 'ą': "a",
	'æ': "ae", 'ç': "c", 'ć': "c", 'č': "c", 'ď': "d", 'đ': "d", 'ð': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ē': "e", 'ė': "e", 'ę': "e", 'ě': "e",
	'ğ': "g", 'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ī': "i", 'į': "i", 'ı': "i",
	'ľ': "l", 'ĺ': "l", 'ł': "l", 'ñ': "n", 'ń': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'ō': "o", 'ő': "o", 'œ': "oe",
	'ŕ': "r", 'ř': "r", 'ś': "s", 'š': "s", 'ş': "s", 'ș': "s", 'ß': "ss",
	'ť': "t", 'ţ': "t", 'ț': "t", 'þ': "th",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ū': "u", 'ů': "u", 'ű': "u", 'ų': "u",
	'ý': "y", 'ÿ': "y", 'ź': "z", 'ż': "z", 'ž': "z",
}

// CleanContent trims content and checks its length: empty content is
// invalid, content over MaxContentLength characters is too_long.
func CleanContent(content string) (string, error) {
	if !utf8.ValidString(content) {
		return "", Errorf(EInvalid, "The message is not valid UTF-8.")
	}
	// PostgreSQL's text cannot hold NUL: refused here, it is the same
	// answer on every engine rather than an internal error on one.
	if strings.IndexByte(content, 0) >= 0 {
		return "", Errorf(EInvalid, "The message may not contain NUL characters.")
	}
	content = strings.TrimSpace(content)
	if content == "" {
		return "", Errorf(EInvalid, "The message is empty.")
	}
	if len(content) > MaxContentLength && utf8.RuneCountInString(content) > MaxContentLength {
		return "", Errorf(ETooLong, "A message has at most %d characters.", MaxContentLength)
	}
	return content, nil
}

// CheckClientID returns an error if id is longer than MaxClientIDLength or
// holds control characters; the empty id is valid and means "not idempotent".
func CheckClientID(id string) error {
	if !utf8.ValidString(id) {
		return Errorf(EInvalid, "client_id is not valid UTF-8.")
	}
	if len(id) > MaxClientIDLength && utf8.RuneCountInString(id) > MaxClientIDLength {
		return Errorf(EInvalid, "client_id has at most %d characters.", MaxClientIDLength)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return Errorf(EInvalid, "client_id may not contain control characters.")
		}
	}
	return nil
}

// CheckNewMessage validates and normalises m in place: its room's name
// lower-cased, its content trimmed.
func CheckNewMessage(m *NewMessage) error {
	if err := CheckRoomName(m.Room); err != nil {
		return err
	}
	m.Room = NormalizeRoomName(m.Room)
	content, err := CleanContent(m.Content)
	if err != nil {
		return err
	}
	m.Content = content
	if m.ReplyTo < 0 {
		return Errorf(EInvalid, "reply_to must be the seq of a message: a number of at least 1.")
	}
	return CheckClientID(m.ClientID)
}

func isLetterOrDigit(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r > 0x7f && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// MaxTopicLength is the most characters a room's topic has.
const MaxTopicLength = 200

// CleanTopic returns a room's topic trimmed, or an error if it is not
// one line of at most MaxTopicLength characters; "" clears the topic.
func CleanTopic(topic string) (string, error) {
	if !utf8.ValidString(topic) {
		return "", Errorf(EInvalid, "The topic is not valid UTF-8.")
	}
	topic = strings.TrimSpace(topic)
	for _, r := range topic {
		if unicode.IsControl(r) {
			return "", Errorf(EInvalid, "The topic is one line, without control characters.")
		}
	}
	if utf8.RuneCountInString(topic) > MaxTopicLength {
		return "", Errorf(ETooLong, "A topic has at most %d characters.", MaxTopicLength)
	}
	return topic, nil
}
