package store

import "context"

// BulkInsert appends n messages by author to room in one statement, for
// building large rooms in tests and benchmarks quickly. It skips the checks
// and bookkeeping of InsertMessage except the room's seq.
func (s *Store) BulkInsert(ctx context.Context, room, author string, n int) error {
	t := now()
	return s.write.inTx(ctx, func(tx querier) error {
		if _, err := s.ensureRoom(ctx, tx, room, 0); err != nil {
			return err
		}
		var last int64
		if err := tx.queryRow(ctx, "SELECT last_seq FROM rooms WHERE name = $1", room).Scan(&last); err != nil {
			return err
		}
		var err error
		if s.engine == EnginePostgres {
			_, err = tx.exec(ctx, `
				INSERT INTO messages (room, seq, author, content, created_at)
				SELECT $1, $2 + i, $3, 'bulk message number ' || i, $4 FROM generate_series(1, CAST($5 AS BIGINT)) AS i`,
				room, last, author, t, n)
		} else {
			_, err = tx.exec(ctx, `
				WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $1)
				INSERT INTO messages (room, seq, author, content, created_at)
				SELECT $2, $3 + i, $4, 'bulk message number ' || i, $5 FROM c`,
				n, room, last, author, t)
		}
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, "UPDATE rooms SET last_seq = last_seq + $1, last_activity = $2 WHERE name = $3", n, t, room)
		return err
	})
}

// MigrateTo applies the migrations up to version to, for tests of a
// migration on a database that an older version left.
func (s *Store) MigrateTo(ctx context.Context, to int64) error { return s.migrateTo(ctx, to) }

// Exec runs a statement as it is, for tests that build what an older
// version stored.
func (s *Store) Exec(ctx context.Context, query string, args ...any) error {
	_, err := s.write.exec(ctx, query, args...)
	return err
}
