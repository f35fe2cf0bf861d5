package pushtest

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

var b64 = base64.RawURLEncoding

// The browser's side of RFC 8291, Appendix A.
func TestDecryptRFC8291Example(t *testing.T) {
	d, _ := b64.DecodeString("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")
	key, err := ecdh.P256().NewPrivateKey(d)
	if err != nil {
		t.Fatal(err)
	}
	if got := b64.EncodeToString(key.PublicKey().Bytes()); got != "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4" {
		t.Fatalf("user agent public key %s", got)
	}
	auth, _ := b64.DecodeString("BTBZMqHH6r4Tts7J_aSIgg")
	body, _ := b64.DecodeString("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
	got, err := Decrypt(body, key, auth)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "When I grow up, I want to be a watermelon" {
		t.Fatalf("plaintext %q", got)
	}

	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-20] ^= 1
	if _, err := Decrypt(tampered, key, auth); err == nil {
		t.Fatal("a tampered body decrypted")
	}
	wrongAuth := append([]byte(nil), auth...)
	wrongAuth[0] ^= 1
	if _, err := Decrypt(body, key, wrongAuth); err == nil {
		t.Fatal("the body decrypted with another auth secret")
	}
	for _, short := range [][]byte{nil, body[:20], body[:60]} {
		if _, err := Decrypt(short, key, auth); err == nil {
			t.Fatalf("a body of %d bytes decrypted", len(short))
		}
	}
}

// token signs a VAPID token for head and claims with k.
func token(t *testing.T, k *ecdsa.PrivateKey, head, claims string) string {
	t.Helper()
	signed := b64.EncodeToString([]byte(head)) + "." + b64.EncodeToString([]byte(claims))
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + b64.EncodeToString(sig[:])
}

func TestReadVAPID(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.PublicKey.Bytes()
	otherPub, _ := other.PublicKey.Bytes()
	const head = `{"typ":"JWT","alg":"ES256"}`
	const claims = `{"aud":"https://push.example.net","exp":1900000000,"sub":"mailto:ops@example.net"}`
	good := token(t, k, head, claims)

	v := readVAPID("vapid t=" + good + ", k=" + b64.EncodeToString(pub))
	if v.Err != nil {
		t.Fatal(v.Err)
	}
	if v.Audience != "https://push.example.net" || v.Subject != "mailto:ops@example.net" || v.Expiry.Unix() != 1900000000 {
		t.Fatalf("read %+v", v)
	}

	parts := strings.Split(good, ".")
	forged := parts[0] + "." + b64.EncodeToString([]byte(strings.Replace(claims, "push.example", "evil.example", 1))) + "." + parts[2]
	for name, header := range map[string]string{
		"another key":  "vapid t=" + good + ", k=" + b64.EncodeToString(otherPub),
		"forged claim": "vapid t=" + forged + ", k=" + b64.EncodeToString(pub),
		"alg none":     "vapid t=" + token(t, k, `{"alg":"none"}`, claims) + ", k=" + b64.EncodeToString(pub),
		"bearer":       "Bearer " + good,
		"no key":       "vapid t=" + good,
		"not a JWT":    "vapid t=abc, k=" + b64.EncodeToString(pub),
		"empty":        "",
	} {
		if v := readVAPID(header); v.Err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
