package store

import (
	"context"

	"parley/internal/chat"
)

// LastSeq returns the room's latest seq, 0 for a room that does not exist
// yet. With After it is the hub's view of the store.
func (s *Store) LastSeq(ctx context.Context, room string) (int64, error) {
	r, err := s.Room(ctx, room)
	if chat.ErrorCode(err) == chat.ENotFound {
		return 0, nil
	}
	return r.Messages, err
}

// After returns up to limit messages of room with seq > after, ascending,
// and whether more follow.
func (s *Store) After(ctx context.Context, room string, after int64, limit int) ([]chat.Message, bool, error) {
	return s.Messages(ctx, room, Page{After: after, FromStart: after == 0, Limit: limit})
}
