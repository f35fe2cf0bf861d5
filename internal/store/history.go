package store

import (
	"context"
	"encoding/json"
	"fmt"

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

// lastSeqsChunk is how many rooms one statement of LastSeqs reads.
const lastSeqsChunk = 500

// LastSeqs returns the latest seq of each of rooms that exists, in one
// statement for up to 500 rooms: the hub's periodic check of every room
// it holds. A room that does not exist yet is left out (its seq is 0).
func (s *Store) LastSeqs(ctx context.Context, rooms []string) (map[string]int64, error) {
	out := make(map[string]int64, len(rooms))
	query := "SELECT name, last_seq FROM rooms WHERE name IN (SELECT value FROM json_each($1))"
	if s.engine == EnginePostgres {
		query = "SELECT name, last_seq FROM rooms WHERE name = ANY($1::text[])"
	}
	for len(rooms) > 0 {
		chunk := rooms[:min(lastSeqsChunk, len(rooms))]
		rooms = rooms[len(chunk):]
		var arg any = chunk
		if s.engine != EnginePostgres {
			b, err := json.Marshal(chunk)
			if err != nil {
				return nil, fmt.Errorf("store: last seqs: %w", err)
			}
			arg = string(b)
		}
		type last struct {
			room string
			seq  int64
		}
		lasts, err := queryAll(ctx, s.read, "last seqs", func(r row) (l last, err error) {
			err = r.Scan(&l.room, &l.seq)
			return l, err
		}, query, arg)
		if err != nil {
			return nil, err
		}
		for _, l := range lasts {
			out[l.room] = l.seq
		}
	}
	return out, nil
}
