package store

import (
	"context"
	"database/sql"
	"time"
)

// checkpointer copies the SQLite write-ahead log back into the database
// file in the background, on a connection of its own. Left to the writer
// (SQLite's automatic checkpoint), that copy and its sync to disk would run
// inside a commit, with every sender of the batch waiting. A PASSIVE
// checkpoint takes no lock that the writer or the readers wait for.
//
// The writer still checkpoints by itself once the log passes the
// wal_autocheckpoint it is opened with: under sustained load the log can
// only be rewound to its start by the writer, and that bounds its size.
type checkpointer struct {
	db     *sql.DB
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

const checkpointInterval = 200 * time.Millisecond

func newCheckpointer(db *sql.DB) *checkpointer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c
}

// notify tells the checkpointer that the log has grown. It never blocks.
func (c *checkpointer) notify() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		// An error (the database busy, closing) only means the log waits
		// for the next checkpoint.
		_, _ = c.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
		// Each checkpoint syncs the database file; one every
		// checkpointInterval is enough to keep the log short.
		t := time.NewTimer(checkpointInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// close stops the checkpointer and closes its connection. SQLite
// checkpoints the log once more when the last connection closes.
func (c *checkpointer) close() error {
	c.cancel()
	<-c.done
	return c.db.Close()
}
