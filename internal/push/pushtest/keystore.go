package pushtest

import (
	"context"
	"sync"
	"testing"

	"parley/internal/push"
)

// RunKeyStore runs the contract every push.KeyStore passes. newStore is
// called once per case and returns an empty store. The callers that race
// to make the keys share that one value: a store over a database pool
// serves them on several connections, as several processes would be.
func RunKeyStore(t *testing.T, newStore func(t *testing.T) push.KeyStore) {
	t.Run("KeepsTheFirst", func(t *testing.T) {
		ks := newStore(t)
		ctx := t.Context()
		a, b := mustGenerate(t), mustGenerate(t)
		got, err := ks.VAPIDKeys(ctx, a.Text())
		if err != nil {
			t.Fatal(err)
		}
		if got != a.Text() {
			t.Fatalf("an empty store returned another value than the candidate")
		}
		got, err = ks.VAPIDKeys(ctx, b.Text())
		if err != nil {
			t.Fatal(err)
		}
		if got != a.Text() {
			t.Fatalf("a second candidate replaced the stored keys")
		}
	})

	t.Run("MadeOnceAtOnce", func(t *testing.T) {
		const n = 8
		ks := newStore(t)
		// Every caller waits at the gate, so that they start together on an
		// empty store, as processes starting at once would.
		var ready, gate sync.WaitGroup
		ready.Add(n)
		gate.Add(1)
		keys := make([]*push.Keys, n)
		errs := make([]error, n)
		var done sync.WaitGroup
		for i := range n {
			done.Go(func() {
				ready.Done()
				gate.Wait()
				keys[i], errs[i] = push.LoadKeys(context.Background(), ks)
			})
		}
		ready.Wait()
		gate.Done()
		done.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if keys[i].PublicKey() != keys[0].PublicKey() {
				t.Fatalf("callers 0 and %d ended with different key pairs", i)
			}
		}
		again, err := push.LoadKeys(t.Context(), ks)
		if err != nil {
			t.Fatal(err)
		}
		if again.Text() != keys[0].Text() {
			t.Fatalf("a later LoadKeys returned another key pair")
		}
	})
}

func mustGenerate(t *testing.T) *push.Keys {
	t.Helper()
	k, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
