package push_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"parley/internal/push"
	"parley/internal/push/pushtest"
)

func TestKeysKnownPair(t *testing.T) {
	// The application server's key pair of RFC 8291, Appendix A.
	k, err := push.ParseKeys("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.PublicKey(), "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"; got != want {
		t.Fatalf("public key %s, want %s", got, want)
	}
	if k.Text() != "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw" {
		t.Fatalf("Text() = %s, not what was parsed", k.Text())
	}
}

func TestKeysRoundTrip(t *testing.T) {
	k, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := base64.RawURLEncoding.DecodeString(k.PublicKey())
	if err != nil || len(pub) != 65 || pub[0] != 4 {
		t.Fatalf("public key %q is not a base64url uncompressed point (%v)", k.PublicKey(), err)
	}
	if len(k.Text()) != 43 {
		t.Fatalf("text form %d characters, want 43", len(k.Text()))
	}
	again, err := push.ParseKeys(k.Text())
	if err != nil {
		t.Fatal(err)
	}
	if again.PublicKey() != k.PublicKey() || again.Text() != k.Text() {
		t.Fatal("parsing the text form gave another key pair")
	}
	other, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	if other.Text() == k.Text() {
		t.Fatal("two generated key pairs are the same")
	}
	for _, shown := range []string{k.String(), fmt.Sprint(k), fmt.Sprintf("%v", k)} {
		if strings.Contains(shown, k.Text()) {
			t.Fatalf("printing the keys shows the private key: %s", shown)
		}
	}
}

func TestParseKeysRejects(t *testing.T) {
	for _, c := range []struct{ name, text string }{
		{"empty", ""},
		{"not base64", "not a key!"},
		{"short", base64.RawURLEncoding.EncodeToString(make([]byte, 31))},
		{"long", base64.RawURLEncoding.EncodeToString(make([]byte, 33))},
		{"zero", base64.RawURLEncoding.EncodeToString(make([]byte, 32))},
		{"the group order", "_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE"},
		{"past the order", "__________________________________________8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := push.ParseKeys(c.text)
			if !errors.Is(err, push.ErrBadKeys) {
				t.Fatalf("ParseKeys(%q) = %v, %v; want ErrBadKeys", c.text, k, err)
			}
		})
	}
}

// memKeys is a KeyStore in memory, atomic under its lock.
type memKeys struct {
	mu    sync.Mutex
	value string
	calls int
}

func (m *memKeys) VAPIDKeys(_ context.Context, candidate string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.value == "" {
		m.value = candidate
	}
	return m.value, nil
}

func TestKeyStoreContract(t *testing.T) {
	pushtest.RunKeyStore(t, func(*testing.T) push.KeyStore { return &memKeys{} })
}

type failingKeys struct{ value string }

func (f failingKeys) VAPIDKeys(context.Context, string) (string, error) {
	if f.value != "" {
		return f.value, nil
	}
	return "", errors.New("database is down")
}

func TestLoadKeysFailures(t *testing.T) {
	if _, err := push.LoadKeys(t.Context(), failingKeys{}); err == nil || !strings.Contains(err.Error(), "database is down") {
		t.Fatalf("a failing store: %v", err)
	}
	if _, err := push.LoadKeys(t.Context(), failingKeys{value: "garbage"}); !errors.Is(err, push.ErrBadKeys) {
		t.Fatalf("a store holding garbage: %v, want ErrBadKeys", err)
	}
	// A stored pair is taken as it is.
	stored, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	ks := &memKeys{value: stored.Text()}
	got, err := push.LoadKeys(t.Context(), ks)
	if err != nil {
		t.Fatal(err)
	}
	if got.PublicKey() != stored.PublicKey() {
		t.Fatal("LoadKeys did not return the stored key pair")
	}
}
