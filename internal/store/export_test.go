package store

import (
	"context"
	"fmt"
	"time"
)

// BulkInsert appends n messages by author to room in one statement, for
// building large rooms in tests and benchmarks quickly. It skips the checks
// and bookkeeping of InsertMessage except the room's seq and message count.
func (s *Store) BulkInsert(ctx context.Context, room, author string, n int) error {
	t := now()
	return s.write.inTx(ctx, func(tx querier) error {
		if _, err := s.ensureRoom(ctx, tx, room, 0); err != nil {
			return err
		}
		var last, count int64
		if err := tx.queryRow(ctx, "SELECT last_seq, msg_count FROM rooms WHERE name = $1", room).Scan(&last, &count); err != nil {
			return err
		}
		var err error
		if s.engine == EnginePostgres {
			_, err = tx.exec(ctx, `
				INSERT INTO messages (room, seq, num, author, content, created_at, search_vector)
				SELECT $1, $2 + i, $3 + i, $4, 'bulk message number ' || i, $5,
					CAST('''bulk'':1 ''message'':2 ''number'':3 ''' || i || ''':4' AS tsvector)
				FROM generate_series(1, CAST($6 AS BIGINT)) AS i`,
				room, last, count, author, t, n)
		} else {
			_, err = tx.exec(ctx, `
				WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $1)
				INSERT INTO messages (room, seq, num, author, content, created_at)
				SELECT $2, $3 + i, $4 + i, $5, 'bulk message number ' || i, $6 FROM c`,
				n, room, last, count, author, t)
			if err == nil {
				// Indexed as the batch writer indexes (search.SQLiteIndexNew).
				_, err = tx.exec(ctx, "INSERT INTO messages_fts (rowid, content) SELECT id, content FROM messages WHERE room = $1 AND seq > $2",
					room, last)
			}
		}
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, "UPDATE rooms SET last_seq = last_seq + $1, msg_count = msg_count + $1, last_activity = $2 WHERE name = $3", n, t, room)
		return err
	})
}

// Count runs a query that counts rows, for tests that look at what is
// stored beyond what the Store's methods show.
func (s *Store) Count(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := s.read.queryRow(ctx, query, args...).Scan(&n)
	return n, err
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

// MigrateOnly applies the one migration numbered version, whatever came
// before it, for tests of a database migrated in another order: that of
// a version that had a later migration before an earlier one existed.
func (s *Store) MigrateOnly(ctx context.Context, version int64) error {
	ms, err := loadMigrations(s.engine)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.version == version {
			return s.write.inTx(ctx, func(tx querier) error { return s.applyMigration(ctx, tx, m) })
		}
	}
	return fmt.Errorf("no migration %d", version)
}

// FailedBatches is how many batches failed whole and were written again a
// change at a time.
func (s *Store) FailedBatches() int64 { return s.batches.failed.Load() }

// PreparedReads is how many statements the SQLite read pool keeps
// prepared; -1 on PostgreSQL.
func (s *Store) PreparedReads() int {
	d, ok := s.read.(*sqliteDB)
	if !ok {
		return -1
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.stmts)
}

// CommonWords reads again what Search takes for common words
// (search.Options.Common), as if the words it read were old.
func (s *Store) CommonWords(ctx context.Context) (map[string]bool, error) {
	s.common.mu.Lock()
	s.common.read = time.Time{}
	s.common.mu.Unlock()
	return s.commonWords(ctx)
}
