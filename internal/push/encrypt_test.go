package push

import (
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"testing"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The example of RFC 8291, Appendix A: fixed keys and salt, and the body
// they must give, byte for byte.
func TestEncryptRFC8291Example(t *testing.T) {
	asPrivate, err := ecdh.P256().NewPrivateKey(b64(t, "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := base64.RawURLEncoding.EncodeToString(asPrivate.PublicKey().Bytes()),
		"BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"; got != want {
		t.Fatalf("application server public key %s, want %s", got, want)
	}
	sub := Subscription{
		Endpoint: "https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV",
		P256dh:   "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
		Auth:     "BTBZMqHH6r4Tts7J_aSIgg",
	}
	tg, err := sub.parse()
	if err != nil {
		t.Fatal(err)
	}
	body, err := encrypt([]byte("When I grow up, I want to be a watermelon"), tg.key, tg.authCode,
		asPrivate, b64(t, "DGv6ra1nlYgDCS1FRnbzlw"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
	if got := base64.RawURLEncoding.EncodeToString(body); got != want {
		t.Fatalf("body\n%s\nwant\n%s", got, want)
	}
}

func TestPaddingAndLimit(t *testing.T) {
	if MaxPayload != 3993 {
		t.Fatalf("MaxPayload = %d, want 3993 (RFC 8291, section 4)", MaxPayload)
	}
	for _, c := range []struct{ n, pad int }{
		{0, 255}, {1, 254}, {255, 0}, {256, 255}, {3839, 0}, {3840, 153}, {MaxPayload, 0},
	} {
		if got := padding(c.n); got != c.pad {
			t.Errorf("padding(%d) = %d, want %d", c.n, got, c.pad)
		}
		if total := c.n + 1 + padding(c.n); total%padBlock != 0 && total != maxRecord {
			t.Errorf("payload of %d: record of %d bytes", c.n, total)
		}
	}
	sub := Subscription{
		Endpoint: "https://push.example.net/x",
		P256dh:   "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
		Auth:     "BTBZMqHH6r4Tts7J_aSIgg",
	}
	tg, err := sub.parse()
	if err != nil {
		t.Fatal(err)
	}
	body, err := seal(make([]byte, MaxPayload), tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) != recordSize {
		t.Fatalf("the largest payload makes a body of %d bytes, want %d", len(body), recordSize)
	}
	if _, err := seal(make([]byte, MaxPayload+1), tg); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("a payload past the limit: %v, want ErrPayloadTooLarge", err)
	}
}
