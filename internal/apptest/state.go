package apptest

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"parley/internal/chat"
)

// RoomState is a room as a parley.v1 client knows it, built as
// docs/PROTOCOL.md says a client builds it: messages by seq, each in its
// current state, from new_message frames and history answers (a message
// replaces the one held unless that one's rev is higher) and change
// frames (a change applies only if its seq is above its message's rev);
// a reply's quote follows the message it answers when that is held.
type RoomState struct {
	Msgs map[int64]chat.Message
	// Seen are the seqs of every entry seen, messages and changes.
	Seen map[int64]bool
}

// NewRoomState returns an empty view.
func NewRoomState() *RoomState {
	return &RoomState{Msgs: make(map[int64]chat.Message), Seen: make(map[int64]bool)}
}

// Frame applies a server frame: new_message, change, or a messages
// answer; others change nothing.
func (s *RoomState) Frame(f Frame) {
	switch f.Command {
	case "new_message":
		s.Message(f.Msg())
	case "change":
		if f.Change != nil {
			s.Change(*f.Change)
		}
	case "messages":
		for _, m := range f.Messages {
			s.Message(m)
		}
		for _, c := range f.Changes {
			s.Change(c)
		}
	}
}

// Message takes a message in its current state.
func (s *RoomState) Message(m chat.Message) {
	s.Seen[m.Seq] = true
	if held, ok := s.Msgs[m.Seq]; ok && held.CurrentRev() > m.CurrentRev() {
		return
	}
	m.Rev = m.CurrentRev()
	s.Msgs[m.Seq] = m
}

// Change applies a change to the message it names, if it is held and the
// change is newer than it.
func (s *RoomState) Change(c chat.Change) {
	s.Seen[c.Seq] = true
	m, ok := s.Msgs[c.Target]
	if !ok || c.Seq <= m.CurrentRev() {
		return
	}
	m.Rev = c.Seq
	switch c.Kind {
	case chat.ChangeEdit:
		m.Content, m.Edited, m.Mentions, m.MentionsRoom = c.Content, c.Timestamp, c.Mentions, c.MentionsRoom
		s.quote(c.Target, &chat.Reply{Seq: c.Target, Author: m.Author, Excerpt: chat.Excerpt(c.Content)})
	case chat.ChangeDelete:
		m = chat.Message{ID: m.ID, Room: m.Room, Seq: m.Seq, Rev: c.Seq, Author: m.Author, Timestamp: m.Timestamp, Deleted: true}
		s.quote(c.Target, &chat.Reply{Seq: c.Target, Author: m.Author, Deleted: true})
	case chat.ChangeReact:
		i := slices.IndexFunc(m.Reactions, func(r chat.Reaction) bool { return r.Emoji == c.Emoji })
		rs := slices.Clone(m.Reactions)
		if i < 0 {
			rs = append(rs, chat.Reaction{Emoji: c.Emoji})
			i = len(rs) - 1
		}
		if !slices.Contains(rs[i].Users, c.Author) {
			rs[i].Users = append(slices.Clone(rs[i].Users), c.Author)
			rs[i].Count++
		}
		m.Reactions = rs
	case chat.ChangeUnreact:
		rs := slices.Clone(m.Reactions)
		for i := range rs {
			if j := slices.Index(rs[i].Users, c.Author); rs[i].Emoji == c.Emoji && j >= 0 {
				rs[i].Users = slices.Delete(slices.Clone(rs[i].Users), j, j+1)
				rs[i].Count--
				if rs[i].Count == 0 {
					rs = slices.Delete(rs, i, i+1)
				}
				break
			}
		}
		if len(rs) == 0 {
			rs = nil
		}
		m.Reactions = rs
	}
	s.Msgs[c.Target] = m
}

// quote shows r in every held reply to the message r quotes.
func (s *RoomState) quote(target int64, r *chat.Reply) {
	for seq, m := range s.Msgs {
		if m.ReplyTo != nil && m.ReplyTo.Seq == target && !m.Deleted {
			m.ReplyTo = r
			s.Msgs[seq] = m
		}
	}
}

// Last is the highest seq seen.
func (s *RoomState) Last() int64 {
	var last int64
	for seq := range s.Seen {
		last = max(last, seq)
	}
	return last
}

// Gapless reports whether every seq from 1 to the highest was seen.
func (s *RoomState) Gapless() bool {
	return int64(len(s.Seen)) == s.Last()
}

// Diff describes how two views differ in the messages both hold from seq
// from on, or "" if they are the same.
func (s *RoomState) Diff(o *RoomState, from int64) string {
	var b strings.Builder
	seqs := slices.Sorted(maps.Keys(s.Msgs))
	for _, seq := range slices.Sorted(maps.Keys(o.Msgs)) {
		if !slices.Contains(seqs, seq) {
			seqs = append(seqs, seq)
		}
	}
	for _, seq := range seqs {
		if seq < from {
			continue
		}
		a, okA := s.Msgs[seq]
		c, okC := o.Msgs[seq]
		if okA != okC || !sameMessage(a, c) {
			fmt.Fprintf(&b, "seq %d:\n  %+v\n  %+v\n", seq, a, c)
		}
	}
	return b.String()
}

func sameMessage(a, b chat.Message) bool {
	if !a.Timestamp.Equal(b.Timestamp) || !a.Edited.Equal(b.Edited) {
		return false
	}
	a.Timestamp, a.Edited = b.Timestamp, b.Edited
	if len(a.Reactions) == 0 && len(b.Reactions) == 0 {
		a.Reactions, b.Reactions = nil, nil
	}
	if len(a.Mentions) == 0 && len(b.Mentions) == 0 {
		a.Mentions, b.Mentions = nil, nil
	}
	return reflect.DeepEqual(a, b)
}
