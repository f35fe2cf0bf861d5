package cluster_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"parley/internal/apptest"
	"parley/internal/chat"
	"parley/internal/store/storetest"
)

// Three parley processes, as child processes; process 0 is killed with
// SIGKILL in the middle of the stream. Every message its clients had
// acknowledged is in the history; its clients reconnect to process 1,
// recover with fetch_messages after, send again what was not
// acknowledged, and in the end every socket has seen all 300 messages once,
// in order.
func TestKillOneProcess(t *testing.T) {
	redisURL := sharedRedis(t)
	db := storetest.PostgresDSN(t)
	srvs := make([]*apptest.Server, 3)
	for i := range srvs {
		srvs[i] = apptest.StartProcess(t, apptest.Options{DB: db, Args: serverArgs(redisURL)})
	}
	room := roomName()
	names, tokens := users(t, srvs[1], 5)
	socks := spread(t, srvs, room, names, tokens, 12)
	// Sockets 9 (on process 0) and 10 (on 1) only listen.
	var senders, onKilled []*sock
	for i, s := range socks {
		if i != 9 && i != 10 {
			senders = append(senders, s)
		}
		if i%3 == 0 {
			onKilled = append(onKilled, s)
		}
	}
	const perSender = 30

	// Two thirds of the stream at most before the kill is checked; the
	// rest after, so that the survivors' messages follow whatever the
	// killed process committed and could not publish.
	checked := make(chan struct{})
	st := startHeldStream(t, senders, perSender, 5*time.Millisecond, func(_ *stream, s *sock, r result) bool {
		// The socket's process died: reconnect to another, recover,
		// and send the unacknowledged message again.
		if !errors.Is(r.err, errClosed) || !slices.Contains(onKilled, s) {
			return false
		}
		if err := s.reconnect(srvs[1]); err != nil {
			t.Errorf("%s: reconnect: %v", s.name, err)
			return false
		}
		return true
	}, checked, 2*perSender/3)
	st.waitAcks(100, longWait)
	srvs[0].Kill()
	killedAt := st.acks.Load()

	// What the killed process's clients had acknowledged when it died is
	// in the history that the other processes read.
	for _, s := range onKilled {
		apptest.Wait(t, ackWait, s.name+" to see its socket close", func() bool { return !s.connectedTo(srvs[0]) })
	}
	var acks []chat.Message
	for _, s := range onKilled {
		acks = append(acks, s.ackedMsgs()...)
	}
	hist := history(t, srvs[2], tokens[0], room)
	for _, m := range acks {
		if m.Seq > int64(len(hist)) || hist[m.Seq-1].ID != m.ID || hist[m.Seq-1].Content != m.Content {
			t.Errorf("acknowledged message %d (seq %d, %q) is not in the history", m.ID, m.Seq, m.Content)
		}
	}
	if len(acks) == 0 {
		t.Fatal("the killed process's clients had nothing acknowledged: the kill came too early to test anything")
	}
	if err := socks[9].reconnect(srvs[1]); err != nil {
		t.Fatalf("%s: reconnect: %v", socks[9].name, err)
	}
	close(checked)

	st.wait()
	total := len(senders) * perSender
	waitAll(t, socks, total)
	t.Logf("killed process 0 after %d of %d acknowledged; its clients had %d acknowledged; %d sends had trouble",
		killedAt, total, len(acks), st.troubles.Load())

	checkNothingLost(t, srvs[2], tokens[0], room, socks, wantKeys(senders, perSender))
}
