package store

import "context"

// BulkInsert appends n messages by author to room in one statement, for
// building large rooms in tests and benchmarks quickly. It skips the checks
// and bookkeeping of InsertMessage except the room's seq.
func (s *Store) BulkInsert(ctx context.Context, room, author string, n int) error {
	t := now()
	return s.inTx(ctx, func(tx txn) error {
		if err := s.ensureRoom(ctx, tx, room); err != nil {
			return err
		}
		var last int64
		if err := tx.queryRow(ctx, "SELECT last_seq FROM rooms WHERE name = ?", room).Scan(&last); err != nil {
			return err
		}
		var err error
		if s.engine == EnginePostgres {
			_, err = tx.exec(ctx, `
				INSERT INTO messages (room, seq, author, content, created_at)
				SELECT ?, ? + i, ?, 'bulk message number ' || i, ? FROM generate_series(1, CAST(? AS BIGINT)) AS i`,
				room, last, author, s.ts(t), n)
		} else {
			_, err = tx.exec(ctx, `
				WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?)
				INSERT INTO messages (room, seq, author, content, created_at)
				SELECT ?, ? + i, ?, 'bulk message number ' || i, ? FROM c`,
				n, room, last, author, s.ts(t))
		}
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, "UPDATE rooms SET last_seq = last_seq + ?, last_activity = ? WHERE name = ?", n, s.ts(t), room)
		return err
	})
}
