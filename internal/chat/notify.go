package chat

import "strings"

// Level is how much of a room a user wants to hear about: its badge
// count, and which of its messages notify them (docs/API.md, Levels).
type Level string

// The levels. On the wire and in the database a level is its name.
const (
	// LevelEvery counts every unread message in the room's badge, and
	// notifies of mentions and direct messages. It is the default.
	LevelEvery Level = "every"
	// LevelMentions counts only the messages that mention the user, and
	// notifies of those and of direct messages.
	LevelMentions Level = "mentions"
	// LevelMuted counts nothing (a muted room's badge is dim) and never
	// notifies.
	LevelMuted Level = "muted"
)

// ParseLevel returns the level called name, or a *Error with code
// EInvalid. "" is the default, LevelEvery.
func ParseLevel(name string) (Level, error) {
	switch l := Level(name); l {
	case LevelEvery, LevelMentions, LevelMuted:
		return l, nil
	case "":
		return LevelEvery, nil
	}
	return "", Errorf(EInvalid, "A level is one of every, mentions or muted.")
}

// MentionsUser reports whether m mentions the user called name: by @name, or
// by @room, and m is not the user's own.
func (m *Message) MentionsUser(name string) bool {
	if m.Author == name {
		return false
	}
	if m.MentionsRoom {
		return true
	}
	for _, n := range m.Mentions {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// Notifies decides whether the new message m notifies the user called
// name, whose level in m's room is level; direct says the room is a
// direct conversation. It is the one rule of notifications — the live
// user stream's, the browser's, Web Push's: never for the user's own
// message, never in a muted room; otherwise for a message that mentions
// them (@name or @room) or any message of a direct conversation. A
// deleted message notifies no one. Whether the user has read it already
// is the caller's to check (a read marker at or past m.Seq).
func Notifies(level Level, name string, m *Message, direct bool) bool {
	if m == nil || m.Deleted || m.Author == name || level == LevelMuted {
		return false
	}
	return direct || m.MentionsUser(name)
}
