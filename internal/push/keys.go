package push

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Keys is the server's VAPID key pair (RFC 8292): a P-256 ECDSA key that
// signs a token on every request, so that a push service accepts messages
// for a subscription only from the server the browser subscribed with.
type Keys struct {
	private *ecdsa.PrivateKey
	text    string // base64url of the private scalar
	public  string // base64url of the uncompressed point
}

// GenerateKeys makes a new key pair.
func GenerateKeys() (*Keys, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("push: VAPID key pair: %w", err)
	}
	return newKeys(k)
}

func newKeys(k *ecdsa.PrivateKey) (*Keys, error) {
	priv, err := k.Bytes()
	if err != nil {
		return nil, fmt.Errorf("push: VAPID private key: %w", err)
	}
	pub, err := k.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("push: VAPID public key: %w", err)
	}
	enc := base64.RawURLEncoding
	return &Keys{private: k, text: enc.EncodeToString(priv), public: enc.EncodeToString(pub)}, nil
}

// ErrBadKeys is wrapped by ParseKeys's errors.
var ErrBadKeys = errors.New("push: bad VAPID private key")

// ParseKeys reads a key pair from the form Text returns: the private
// scalar, 32 bytes, in base64url without padding (43 characters). It is the
// form other Web Push tools print (web-push generate-vapid-keys), so a key
// pair made by one of them can be taken over.
func ParseKeys(text string) (*Keys, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(text), "="))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url: %v", ErrBadKeys, err)
	}
	if len(raw) != 32 {
		return nil, fmt.Errorf("%w: %d bytes, want 32", ErrBadKeys, len(raw))
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKeys, err)
	}
	return newKeys(k)
}

// Text returns the private key in the form ParseKeys reads, for storage.
// It is a secret.
func (k *Keys) Text() string { return k.text }

// PublicKey returns the public key as the browser's
// pushManager.subscribe({applicationServerKey}) takes it: the uncompressed
// P-256 point (65 bytes), base64url without padding (87 characters).
func (k *Keys) PublicKey() string { return k.public }

// String returns the public key only, so that a logged Keys shows no
// secret.
func (k *Keys) String() string { return "VAPID " + k.public }

// KeyStore keeps the VAPID key pair where every process of one Parley finds
// it (a settings row in the database).
type KeyStore interface {
	// VAPIDKeys returns the stored key pair, in the text form of
	// Keys.Text. If none is stored it stores candidate and returns it.
	//
	// It must be atomic: when several processes call it at once on an
	// empty store, one candidate is stored and every call returns that
	// one (in SQL: INSERT … ON CONFLICT DO NOTHING, then SELECT, or the
	// same in one transaction). A stored value is never replaced.
	VAPIDKeys(ctx context.Context, candidate string) (string, error)
}

// LoadKeys returns the key pair of ks, made and stored on the first call
// ever. A stored value that does not parse is an error, not a reason to make
// a new pair: that would silently cut off every subscription.
func LoadKeys(ctx context.Context, ks KeyStore) (*Keys, error) {
	candidate, err := GenerateKeys()
	if err != nil {
		return nil, err
	}
	text, err := ks.VAPIDKeys(ctx, candidate.Text())
	if err != nil {
		return nil, fmt.Errorf("push: VAPID keys: %w", err)
	}
	if text == candidate.Text() {
		return candidate, nil
	}
	k, err := ParseKeys(text)
	if err != nil {
		return nil, fmt.Errorf("push: the stored VAPID keys: %w", err)
	}
	return k, nil
}

// vapidHeader is the fixed JOSE header of every token.
var vapidHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256"}`))

// authorization returns the Authorization header of a request to a push
// service at origin (RFC 8292, section 3): "vapid t=TOKEN, k=PUBLIC KEY",
// the token an ES256 JWT with the audience, its expiry and the contact.
func (k *Keys) authorization(origin, contact string, exp time.Time) (string, error) {
	claims, err := json.Marshal(struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}{origin, exp.Unix(), contact})
	if err != nil {
		return "", err
	}
	signed := vapidHeader + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, k.private, digest[:])
	if err != nil {
		return "", fmt.Errorf("push: VAPID signature: %w", err)
	}
	// JWS wants r and s as two 32-byte big-endian integers (RFC 7518, 3.4).
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return "vapid t=" + signed + "." + base64.RawURLEncoding.EncodeToString(sig[:]) + ", k=" + k.public, nil
}

// checkContact checks the VAPID subject: a mailto: or https: URI
// (RFC 8292, section 2.1), which push services use to reach an operator
// whose server misbehaves. Apple's refuses every token whose subject has
// no domain it can resolve (403 BadJwtToken), so "mailto:root@localhost"
// is refused here, where the error is clear.
func checkContact(c string) error {
	bad := func(why string) error {
		return fmt.Errorf("push: contact %q: %s", c, why)
	}
	var host string
	if addr, ok := strings.CutPrefix(c, "mailto:"); ok {
		local, domain, ok := strings.Cut(addr, "@")
		if !ok || local == "" {
			return bad("want mailto:NAME@DOMAIN")
		}
		host = domain
	} else if strings.HasPrefix(c, "https://") {
		u, err := url.Parse(c)
		if err != nil {
			return bad(err.Error())
		}
		host = u.Hostname()
	} else {
		return bad("want a mailto: or https: URI")
	}
	if !strings.Contains(strings.Trim(host, "."), ".") || strings.ContainsAny(host, " /?#") {
		return bad("want a domain push services can resolve")
	}
	return nil
}
