package chat

import (
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// A room's history is one log: every new message and every change to a
// message (an edit, a deletion, a reaction added or removed) is an entry
// with the room's next seq (docs/PROTOCOL.md, Room events).

// ChangeKind says what a Change does to its message.
type ChangeKind string

// The kinds of change. On the wire a kind is its name.
const (
	ChangeEdit    ChangeKind = "edit"
	ChangeDelete  ChangeKind = "delete"
	ChangeReact   ChangeKind = "react"
	ChangeUnreact ChangeKind = "unreact"
)

// Valid reports whether k is one of the kinds above.
func (k ChangeKind) Valid() bool {
	switch k {
	case ChangeEdit, ChangeDelete, ChangeReact, ChangeUnreact:
		return true
	}
	return false
}

// Limits of changes (docs/PROTOCOL.md, Room events).
const (
	// MaxEmojiLength and MaxEmojiBytes bound a reaction: the longest
	// emoji sequences (a kiss with two skin tones) are 10 code points.
	MaxEmojiLength = 16
	MaxEmojiBytes  = 64
	// MaxReactionKinds is how many different emoji one message may carry.
	MaxReactionKinds = 20
	// ExcerptLength is how many characters of a replied-to message a
	// reply quotes.
	ExcerptLength = 100
	// MaxMentions is how many different @names of one message are
	// looked up; later ones are plain text.
	MaxMentions = 50
	// RoomMention is the name of @room, which mentions everyone in the
	// room: no user is mentioned by it.
	RoomMention = "room"
)

// Change is one change to a message, as stored: an entry of its room's
// log with a seq of its own. Target is the changed message's seq.
type Change struct {
	Room   string
	Seq    int64
	Kind   ChangeKind
	Target int64
	// Author is who made the change.
	Author string
	// Content is an edit's new content: "" once its message was deleted
	// (a deletion erases it).
	Content string
	// Mentions and MentionsRoom are what an edit's content mentions.
	Mentions     []string
	MentionsRoom bool
	// Emoji is a reaction's.
	Emoji     string
	Timestamp time.Time
	ClientID  string
	// Epoch is as a Message's: never in a frame.
	Epoch int64
}

// Reply is the message a reply answers, as the reply shows it: read when
// the reply is sent or read, never stored with it, so that an edit or a
// deletion of the original shows at once.
type Reply struct {
	Seq    int64
	Author string
	// Excerpt is the first ExcerptLength characters of the original's
	// content, and "…" if there are more; "" when it was deleted.
	Excerpt string
	Deleted bool
}

// Reaction is one emoji on a message: how many reacted with it, and who,
// earliest first.
type Reaction struct {
	Emoji string
	Count int
	Users []string
}

// Version is one version of a message's content: Rev is the seq of the
// entry that wrote it (the message's own for the first), Timestamp when.
type Version struct {
	Rev       int64
	Content   string
	Timestamp time.Time
}

// Entry is one entry of a room's log: a new message (Message, in its
// current state when read back from the store) or a change (Change).
type Entry struct {
	Message *Message
	Change  *Change
}

// Seq is the entry's seq.
func (e Entry) Seq() int64 {
	if e.Message != nil {
		return e.Message.Seq
	}
	if e.Change != nil {
		return e.Change.Seq
	}
	return 0
}

// Epoch is the access epoch the entry was written under (Message.Epoch).
func (e Entry) Epoch() int64 {
	if p := e.epoch(); p != nil {
		return *p
	}
	return 0
}

// SetEpoch raises the entry's epoch to epoch, if it is lower.
func (e Entry) SetEpoch(epoch int64) {
	if p := e.epoch(); p != nil {
		*p = max(*p, epoch)
	}
}

// epoch is where the entry keeps its access epoch; nil for no entry.
func (e Entry) epoch() *int64 {
	switch {
	case e.Message != nil:
		return &e.Message.Epoch
	case e.Change != nil:
		return &e.Change.Epoch
	}
	return nil
}

// NewChange is a change a user asks for, checked by CheckNewChange.
type NewChange struct {
	Room   string
	Author string
	Kind   ChangeKind
	Target int64
	// Content is an edit's new content.
	Content string
	// Emoji is a reaction's.
	Emoji    string
	ClientID string
	// EditWindow is how long after its timestamp an author may edit a
	// message (--edit-window): 0 means editing is off.
	EditWindow time.Duration
	// AnyAuthor says, of a deletion, that its author may delete anyone's
	// message in the room (Can: a moderator, an admin, the room's owner).
	AnyAuthor bool
}

// CheckNewChange validates and normalises c in place: its room's name
// lower-cased, an edit's content trimmed.
func CheckNewChange(c *NewChange) error {
	if err := CheckRoomName(c.Room); err != nil {
		return err
	}
	c.Room = NormalizeRoomName(c.Room)
	if !c.Kind.Valid() {
		return Errorf(EInvalid, "Unknown change %q.", string(c.Kind))
	}
	if c.Target < 1 {
		return Errorf(EInvalid, "seq must name a message: a number of at least 1.")
	}
	switch c.Kind {
	case ChangeEdit:
		content, err := CleanContent(c.Content)
		if err != nil {
			return err
		}
		c.Content = content
		if c.EditWindow <= 0 {
			return Errorf(EForbidden, "Editing is turned off on this server.")
		}
	case ChangeReact, ChangeUnreact:
		if err := CheckEmoji(c.Emoji); err != nil {
			return err
		}
	}
	return CheckClientID(c.ClientID)
}

// CheckEmoji returns an invalid error unless s is one emoji as a reaction
// takes it: 1 to MaxEmojiLength characters and at most MaxEmojiBytes
// bytes, with no whitespace or control character, and at least one
// character beyond ASCII that is not a letter. So 👍, ❤️, 🇫🇷, 1️⃣ and 👩🏽‍💻
// are reactions, and "ok", "+1" or "é" are not.
func CheckEmoji(s string) error {
	if s == "" {
		return Errorf(EInvalid, "A reaction needs an emoji.")
	}
	if !utf8.ValidString(s) || len(s) > MaxEmojiBytes || utf8.RuneCountInString(s) > MaxEmojiLength {
		return Errorf(EInvalid, "A reaction is one emoji.")
	}
	symbol := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return Errorf(EInvalid, "A reaction is one emoji, without spaces.")
		}
		// Marks (variation selectors, accents) and the zero-width joiner
		// only join or adorn; the keycap's enclosing mark makes 1️⃣ one.
		if r >= utf8.RuneSelf && !unicode.IsLetter(r) && (r == '\u20e3' || !unicode.IsMark(r)) && r != '\u200d' {
			symbol = true
		}
	}
	if !symbol {
		return Errorf(EInvalid, "A reaction is one emoji, not text.")
	}
	return nil
}

// Excerpt is what a reply quotes of content: its first ExcerptLength
// characters, and "…" if there are more.
func Excerpt(content string) string {
	n := 0
	for i := range content {
		if n == ExcerptLength {
			return content[:i] + "…"
		}
		n++
	}
	return content
}

// isNameChar reports whether r may be part of a username: a letter, a
// digit or one of @ . + - _ (ValidUsername).
func isNameChar(r rune) bool {
	return isLetterOrDigit(r) || r == '@' || r == '.' || r == '+' || r == '-' || r == '_'
}

// Mention is one @name of a message's content: the names it may stand
// for, longest first. The first that is a user's name is the one
// mentioned; if none is, it is plain text.
type Mention []string

// ParseMentions finds the mentions in content (docs/PROTOCOL.md,
// Mentions). An @ starts a mention at the start of the content or after a
// character that cannot be part of a name, so that an e-mail address is
// none. The name runs on over letters, digits and @ . + - _ as far as
// they go; if no user has that name, the characters . + - _ @ at its end
// are punctuation, dropped one at a time until a user's name is left
// ("@bob." and "@bob," mention bob, and so does "@bob..."). @room
// (RoomMention, whatever follows it of those characters) mentions the
// room: room is true. At most MaxMentions different mentions are
// returned, in the order they appear.
func ParseMentions(content string) (mentions []Mention, room bool) {
	seen := make(map[string]bool)
	prevName := false // the character before is a name character
	for i := 0; i < len(content); {
		r, size := utf8.DecodeRuneInString(content[i:])
		if r != '@' || prevName {
			prevName = isNameChar(r)
			i += size
			continue
		}
		j, n := i+1, 0
		for j < len(content) && n < MaxUsernameLength {
			r, size := utf8.DecodeRuneInString(content[j:])
			if !isNameChar(r) {
				break
			}
			j += size
			n++
		}
		name := content[i+1 : j]
		i, prevName = j, true
		if name == "" {
			prevName = false
			continue
		}
		var m Mention
		for cand := name; cand != ""; cand = cand[:len(cand)-1] {
			if cand == RoomMention {
				room, m = true, nil
				break
			}
			if ValidUsername(cand) {
				m = append(m, cand)
			}
			if strings.IndexByte(".+-_@", cand[len(cand)-1]) < 0 {
				break
			}
		}
		if len(m) == 0 || seen[m[0]] {
			continue
		}
		seen[m[0]] = true
		mentions = append(mentions, m)
		if len(mentions) == MaxMentions {
			break
		}
	}
	return mentions, room
}

// MentionNames returns every name the mentions may stand for, for one
// lookup of which are users.
func MentionNames(mentions []Mention) []string {
	var names []string
	for _, m := range mentions {
		names = append(names, m...)
	}
	return names
}

// ResolveMentions returns the names the mentions stand for, given which
// names are users, in order, each once.
func ResolveMentions(mentions []Mention, isUser func(name string) bool) []string {
	var out []string
	for _, m := range mentions {
		for _, name := range m {
			if isUser(name) {
				if !slices.Contains(out, name) {
					out = append(out, name)
				}
				break
			}
		}
	}
	return out
}

// The rules of who may change what, where the message's author decides
// it (the store, which alone knows the author, asks them); who may act in
// a room at all is Can's (access.go).

// MayEdit reports whether actor may edit a message author wrote: only
// its author may, and no one else's words are changed, by anyone.
func MayEdit(actor, author string) bool { return actor == author }

// MayDelete reports whether actor may delete a message author wrote: its
// author, or anyone Can lets delete any message in the room (anyAuthor).
func MayDelete(actor, author string, anyAuthor bool) bool { return anyAuthor || actor == author }

// EditOpen reports whether a message sent at sent may still be edited at
// now, with an edit window of window (0: editing is off).
func EditOpen(sent, now time.Time, window time.Duration) bool {
	return window > 0 && now.Sub(sent) <= window
}
