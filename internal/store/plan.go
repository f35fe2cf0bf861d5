package store

import (
	"fmt"
	"strings"
	"time"

	"parley/internal/chat"
)

// The rules of changes, shared by both engines' batch writers: each
// writer reads what a change needs (the message it changes, the
// reaction it adds or removes) under the batch's room locks, and these
// functions decide whether the change is applied and what it leaves.
// SQLite reads the state again for each change, seeing the batch's own
// writes; PostgreSQL reads it once for the whole batch and keeps it in
// these structs as the changes apply.

// msgState is a message as a batch's changes see it: as stored, then as
// each change leaves it.
type msgState struct {
	found        bool
	id           int64
	author       string
	content      string
	created      time.Time
	edited       time.Time // zero: never edited
	deleted      bool
	deletedAt    time.Time // set by a deletion in the batch
	rev          int64
	reactions    int // reactions present
	mentions     []string
	mentionsRoom bool
	// emoji counts the users of each emoji present, read before a
	// reaction is added (MaxReactionKinds); nil until then.
	emoji map[string]int

	// What the batch did to it.
	changed    bool // the row is to be written
	erased     bool // deleted by this batch: its versions, reactions and mentions go
	versions   []chat.Version
	remention  bool // its mentions are to be written again
	mentionIDs []int64
}

// reactionState is one user's reaction of one emoji to one message.
type reactionState struct {
	known   bool // a row exists
	present bool
	seq     int64 // the change that made it so
	changed bool  // the row is to be written
}

// errNoMessage is a change to a seq that holds no message of the room.
func errNoMessage(seq int64) error {
	return chat.Errorf(chat.ENotFound, "This room has no message %d.", seq)
}

var errDeleted = chat.Errorf(chat.ENotFound, "That message was deleted.")

// decide checks c against the message it changes (t) and, for a
// reaction, the user's reaction (r). It returns the seq of the stored
// change that already does what c asks (an emoji already added or
// removed, a message already deleted), an error for a change the rules
// refuse, or 0 and nil for a change to apply.
func decide(c *chat.NewChange, t *msgState, r *reactionState, now time.Time) (int64, error) {
	if !t.found {
		return 0, errNoMessage(c.Target)
	}
	switch c.Kind {
	case chat.ChangeEdit:
		if t.deleted {
			return 0, errDeleted
		}
		if !chat.MayEdit(c.Author, t.author) {
			return 0, chat.Errorf(chat.EForbidden, "Only its author can edit a message.")
		}
		if !chat.EditOpen(t.created, now, c.EditWindow) {
			return 0, chat.Errorf(chat.EForbidden, "This message can no longer be edited: messages can be edited for %s after they are sent.",
				windowText(c.EditWindow))
		}
	case chat.ChangeDelete:
		if !chat.MayDelete(c.Author, t.author, c.AnyAuthor) {
			return 0, chat.Errorf(chat.EForbidden, "Only its author, a moderator or the room's owner may delete a message.")
		}
		if t.deleted {
			// Nothing changes a deleted message: its last change is
			// the deletion.
			return t.rev, nil
		}
	case chat.ChangeReact:
		if t.deleted {
			return 0, errDeleted
		}
		if r.present {
			return r.seq, nil
		}
		if t.emoji[c.Emoji] == 0 && len(t.emoji) >= chat.MaxReactionKinds {
			return 0, chat.Errorf(chat.EInvalid, "This message has %d different reactions already; add one of those.", chat.MaxReactionKinds)
		}
	case chat.ChangeUnreact:
		if t.deleted {
			return 0, errDeleted
		}
		if !r.present {
			if r.known {
				return r.seq, nil
			}
			return 0, chat.Errorf(chat.ENotFound, "You have not reacted with %s to this message.", c.Emoji)
		}
	}
	return 0, nil
}

// windowText writes an edit window as people say it.
func windowText(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		if d == time.Hour {
			return "an hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

// apply applies c, which decide let through, with seq at now, to t and
// r, and returns the change as stored. mentions are the users an edit's
// content mentions, room whether it mentions @room.
func apply(c *chat.NewChange, seq int64, now time.Time, t *msgState, r *reactionState, mentions []string, room bool) chat.Change {
	ch := chat.Change{Room: c.Room, Seq: seq, Kind: c.Kind, Target: c.Target, Author: c.Author,
		Emoji: c.Emoji, Timestamp: now, ClientID: c.ClientID}
	t.rev, t.changed = seq, true
	switch c.Kind {
	case chat.ChangeEdit:
		if t.edited.IsZero() {
			// The first edit keeps the original as the first version.
			t.versions = append(t.versions, chat.Version{Rev: c.Target, Content: t.content, Timestamp: t.created})
		}
		t.versions = append(t.versions, chat.Version{Rev: seq, Content: c.Content, Timestamp: now})
		t.content, t.edited = c.Content, now
		t.mentions, t.mentionsRoom, t.remention = mentions, room, true
		ch.Content, ch.Mentions, ch.MentionsRoom = c.Content, mentions, room
	case chat.ChangeDelete:
		t.deleted, t.erased, t.deletedAt = true, true, now
		t.content, t.mentions, t.mentionsRoom, t.reactions = "", nil, false, 0
		t.versions, t.remention, t.emoji = nil, false, nil
	case chat.ChangeReact:
		r.present, r.seq, r.known, r.changed = true, seq, true, true
		t.reactions++
		if t.emoji != nil {
			t.emoji[c.Emoji]++
		}
	case chat.ChangeUnreact:
		r.present, r.seq, r.changed = false, seq, true
		t.reactions--
		if t.emoji != nil {
			if t.emoji[c.Emoji]--; t.emoji[c.Emoji] <= 0 {
				delete(t.emoji, c.Emoji)
			}
		}
	}
	return ch
}

// replyTo checks the message a new message answers and returns what the
// reply shows of it.
func replyTo(seq int64, t *msgState) (*chat.Reply, error) {
	if !t.found {
		return nil, errNoMessage(seq)
	}
	if t.deleted {
		return nil, chat.Errorf(chat.ENotFound, "The message you reply to was deleted.")
	}
	return &chat.Reply{Seq: seq, Author: t.author, Excerpt: chat.Excerpt(t.content)}, nil
}

// mentionsOf parses content's mentions and resolves them with users,
// which maps the names that are users' to their ids (chat.ParseMentions).
// It returns the names mentioned, their ids, and whether @room is.
func mentionsOf(parsed []chat.Mention, room bool, users map[string]int64) ([]string, []int64, bool) {
	names := chat.ResolveMentions(parsed, func(n string) bool { _, ok := users[n]; return ok })
	ids := make([]int64, len(names))
	for i, n := range names {
		ids[i] = users[n]
	}
	return names, ids, room
}

// parseMentions is chat.ParseMentions for content that may hold one: a
// message without an @ costs one scan for it.
func parseMentions(content string) ([]chat.Mention, bool) {
	if strings.IndexByte(content, '@') < 0 {
		return nil, false
	}
	return chat.ParseMentions(content)
}

// joinNames stores a list of names in one column (names have no spaces);
// NULL for none.
func joinNames(names []string) any {
	if len(names) == 0 {
		return nil
	}
	return strings.Join(names, " ")
}

// splitNames reads what joinNames stored.
func splitNames(s *string) []string {
	if s == nil || *s == "" {
		return nil
	}
	return strings.Fields(*s)
}

// nullTime is t, or NULL for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// nullString is s, or NULL for "".
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
