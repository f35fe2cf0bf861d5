package store_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"parley/internal/chat"
	"parley/internal/push"
	"parley/internal/push/pushtest"
	"parley/internal/store"
	"parley/internal/store/storetest"
)

// The store keeps the VAPID key pair as push.KeyStore asks, on both
// engines.
func TestVAPIDKeyStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		pushtest.RunKeyStore(t, func(t *testing.T) push.KeyStore { return storetest.SQLite(t) })
	})
	t.Run("postgres", func(t *testing.T) {
		pushtest.RunKeyStore(t, func(t *testing.T) push.KeyStore { return storetest.Postgres(t) })
	})
}

// Two processes starting at once on one empty PostgreSQL database migrate
// it and end with one key pair.
func TestVAPIDKeysMadeOnceAcrossProcesses(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	const n = 2
	keys := make([]*push.Keys, n)
	errs := make([]error, n)
	var ready, gate, done sync.WaitGroup
	ready.Add(n)
	gate.Add(1)
	for i := range n {
		done.Go(func() {
			ctx := context.Background()
			s, err := store.Open(ctx, dsn)
			if err != nil {
				errs[i] = err
				ready.Done()
				return
			}
			defer s.Close()
			ready.Done()
			gate.Wait()
			if errs[i] = s.Migrate(ctx); errs[i] == nil {
				keys[i], errs[i] = push.LoadKeys(ctx, s)
			}
		})
	}
	ready.Wait()
	gate.Done()
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	if keys[0].Text() != keys[1].Text() {
		t.Fatal("the two processes made different key pairs")
	}
}

func TestPushSubscriptions(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		svc := pushtest.NewService(t)
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		phone, laptop := svc.Subscribe(), svc.Subscribe()
		if _, err := s.SavePushSubscription(ctx, alice.ID, phone, "Firefox on Android"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SavePushSubscription(ctx, alice.ID, laptop, "Chrome on Linux"); err != nil {
			t.Fatal(err)
		}
		subs, err := s.PushSubscriptions(ctx, alice.ID)
		if err != nil || len(subs) != 2 {
			t.Fatalf("alice's devices: %+v, %v", subs, err)
		}
		got := []string{subs[0].Endpoint, subs[1].Endpoint}
		if !slices.Contains(got, phone.Endpoint) || !slices.Contains(got, laptop.Endpoint) {
			t.Fatalf("alice's devices %v", got)
		}
		for _, p := range subs {
			if p.UserID != alice.ID || p.UserAgent == "" || p.CreatedAt.IsZero() || !p.LastSuccess.IsZero() {
				t.Errorf("device %+v", p)
			}
		}

		// Bob signs in on alice's laptop and subscribes it: it is his now.
		if _, err := s.SavePushSubscription(ctx, bob.ID, laptop, "Chrome on Linux"); err != nil {
			t.Fatal(err)
		}
		if subs, _ := s.PushSubscriptions(ctx, alice.ID); len(subs) != 1 || subs[0].Endpoint != phone.Endpoint {
			t.Fatalf("alice's devices after bob took the laptop: %+v", subs)
		}

		// Alice cannot delete bob's device; bob can.
		if ok, err := s.DeletePushSubscription(ctx, alice.ID, laptop.Endpoint); ok || err != nil {
			t.Fatalf("alice deleted bob's device: %v, %v", ok, err)
		}
		if ok, err := s.DeletePushSubscription(ctx, bob.ID, laptop.Endpoint); !ok || err != nil {
			t.Fatalf("bob's delete: %v, %v", ok, err)
		}

		at := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
		if err := s.PushSucceeded(ctx, phone.Endpoint, at); err != nil {
			t.Fatal(err)
		}
		if subs, _ := s.PushSubscriptions(ctx, alice.ID); len(subs) != 1 || !subs[0].LastSuccess.Equal(at) {
			t.Fatalf("last success: %+v", subs)
		}
		if err := s.DeletePushEndpoint(ctx, phone.Endpoint); err != nil {
			t.Fatal(err)
		}
		if subs, _ := s.PushSubscriptions(ctx, alice.ID); len(subs) != 0 {
			t.Fatalf("a gone endpoint is still there: %+v", subs)
		}
		_, err = s.SavePushSubscription(ctx, 999999, phone, "")
		wantCode(t, err, chat.ENotFound)

		// Past MaxPushSubscriptions, the oldest device is forgotten.
		first := svc.Subscribe()
		if _, err := s.SavePushSubscription(ctx, bob.ID, first, ""); err != nil {
			t.Fatal(err)
		}
		for range store.MaxPushSubscriptions {
			if _, err := s.SavePushSubscription(ctx, bob.ID, svc.Subscribe(), ""); err != nil {
				t.Fatal(err)
			}
		}
		subs, _ = s.PushSubscriptions(ctx, bob.ID)
		if len(subs) != store.MaxPushSubscriptions || slices.ContainsFunc(subs, func(p store.PushSubscription) bool { return p.Endpoint == first.Endpoint }) {
			t.Fatalf("bob has %d devices, the first among them: want %d without it", len(subs), store.MaxPushSubscriptions)
		}
	})
}

// The candidates of a message are the subscribed users it mentions, and
// the subscribed members of its room when asked.
func TestPushCandidates(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		svc := pushtest.NewService(t)
		alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")
		mustUser(t, s, "dave") // mentioned, but without a device
		for _, u := range []chat.User{bob, carol} {
			if _, err := s.SavePushSubscription(ctx, u.ID, svc.Subscribe(), ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.InsertMessage(ctx, chat.NewMessage{Room: "lobby", Author: "carol", Content: "here"}); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkRead(ctx, carol.ID, "lobby", 1); err != nil {
			t.Fatal(err)
		}
		m, _, err := s.InsertMessage(ctx, chat.NewMessage{Room: "lobby", Author: alice.Name, Content: "hi @bob and @dave"})
		if err != nil {
			t.Fatal(err)
		}
		names := func(cs []store.PushCandidate) []string {
			var out []string
			for _, c := range cs {
				out = append(out, c.User.Name)
			}
			return out
		}
		cs, err := s.PushCandidates(ctx, "lobby", m.Seq, false, 0)
		if err != nil || !slices.Equal(names(cs), []string{"bob"}) || cs[0].Member || !cs[0].Mentioned {
			t.Fatalf("mentioned candidates %+v, %v", cs, err)
		}
		cs, err = s.PushCandidates(ctx, "lobby", m.Seq, true, 0)
		if err != nil || !slices.Equal(names(cs), []string{"bob", "carol"}) {
			t.Fatalf("all candidates %+v, %v", cs, err)
		}
		if c := cs[1]; !c.Member || c.LastRead != 1 || c.Mentioned {
			t.Fatalf("carol's standing %+v", c)
		}
		if cs, _ := s.PushCandidates(ctx, "lobby", m.Seq, true, 1); len(cs) != 1 {
			t.Fatalf("limit 1: %d candidates", len(cs))
		}
	})
}
