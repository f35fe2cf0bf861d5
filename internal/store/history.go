package store

import (
	"context"

	"parley/internal/chat"
)

// LastSeq returns the room's latest seq (its latest message or change),
// 0 for a room that does not exist yet. With Log it is the hub's view of
// the store.
func (s *Store) LastSeq(ctx context.Context, room string) (int64, error) {
	r, err := s.Room(ctx, room)
	if chat.ErrorCode(err) == chat.ENotFound {
		return 0, nil
	}
	return r.LastSeq, err
}
