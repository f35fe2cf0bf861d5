// Package auth hashes passwords with argon2id and makes the random secrets
// behind session cookies and API tokens. Only hashes of either are stored.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's costs. The defaults follow OWASP's recommendation
// for argon2id (19 MiB, 2 passes, 1 lane): a guess costs an attacker real
// memory, and a log-in costs the server about 20 ms.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultParams are the costs new hashes use.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// hashing admits as many argon2id computations at once as there are
// processors. More would not finish sooner (each is pure CPU), but each
// holds its Memory for its whole run: a burst of log-ins would otherwise
// cost memory in proportion to the burst (19 MiB each), which the runtime
// then keeps.
var hashing = make(chan struct{}, runtime.GOMAXPROCS(0))

func idKey(password, salt []byte, p Params, n uint32) []byte {
	hashing <- struct{}{}
	defer func() { <-hashing }()
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, n)
}

// HashPassword returns an argon2id hash of password in the PHC string
// format: $argon2id$v=19$m=19456,t=2,p=1$SALT$KEY.
func HashPassword(password string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := idKey([]byte(password), salt, p, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// ErrMalformedHash is returned for a stored hash Parley cannot read.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// CheckPassword reports whether password matches hash, in constant time.
func CheckPassword(password, hash string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformedHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, ErrMalformedHash
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return false, ErrMalformedHash
	}
	want, err := enc.DecodeString(parts[5])
	// The bounds keep a bad stored hash from costing unbounded work.
	if err != nil || len(want) == 0 || len(want) > 1024 || p.Memory > 1<<20 || p.Time > 16 || p.Threads == 0 {
		return false, ErrMalformedHash
	}
	got := idKey([]byte(password), salt, p, uint32(len(want))) // #nosec G115 -- at most 1024, checked above
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NewSecret returns a random secret for a session cookie or an API token:
// 32 bytes from the system's CSPRNG, base64url without padding.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// SecretHash is what the store keeps of a secret. The secrets are random
// and long, so a fast hash is enough: there is nothing to guess.
func SecretHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
