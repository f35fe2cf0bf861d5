package pushtest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/push"
)

// Wait bounds every wait in this package. It is generous so that a slow
// machine running with -race does not fail; a passing test never waits for
// it.
const Wait = 10 * time.Second

// HangUp, as a status from a Service's responder, closes the connection
// without an answer: a network error for the sender.
const HangUp = -1

// Request is one request the Service received, read as the push service
// and the browser would.
type Request struct {
	N        int    // its place in the order of arrival, from 1
	Endpoint string // the full URL it was sent to
	Header   http.Header
	Body     []byte // as received
	// Payload is the decrypted payload; PayloadErr says why there is none
	// (an unknown endpoint, a body that does not decrypt).
	Payload    []byte
	PayloadErr error
	VAPID      VAPID
}

// VAPID is what the Authorization header of a request says (RFC 8292).
type VAPID struct {
	Key      string // k: the server's public key, base64url
	Audience string
	Subject  string
	Expiry   time.Time
	// Err is set when the header is malformed, the token is not ES256 or
	// its signature does not verify with Key.
	Err error
}

// Service is a push service on a loopback address: every endpoint it hands
// out (Subscribe) accepts messages, which it records and answers as its
// responder says.
type Service struct {
	// URL is the service's base URL, http://127.0.0.1:PORT.
	URL string

	srv *httptest.Server

	mu       sync.Mutex
	devices  map[string]*device // by path
	received []Request
	respond  func(Request) (int, http.Header)
	changed  chan struct{} // closed and replaced when a request arrives
}

type device struct {
	key  *ecdh.PrivateKey
	auth []byte
}

// NewService starts a push service that answers 201 Created until told
// otherwise; it stops when tb's test ends.
func NewService(tb testing.TB) *Service {
	s := &Service{
		devices: make(map[string]*device),
		changed: make(chan struct{}),
		respond: func(Request) (int, http.Header) { return http.StatusCreated, nil },
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// Subscribe makes a device, with its own key pair and auth secret, and
// returns its subscription, as PushSubscription.toJSON() would.
func (s *Service) Subscribe() push.Subscription {
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	path := "/push/" + rand.Text()
	s.mu.Lock()
	s.devices[path] = &device{key: key, auth: auth}
	s.mu.Unlock()
	enc := base64.RawURLEncoding
	return push.Subscription{
		Endpoint: s.URL + path,
		P256dh:   enc.EncodeToString(key.PublicKey().Bytes()),
		Auth:     enc.EncodeToString(auth),
	}
}

// Respond sets how the service answers: f gets each request once it is
// recorded and returns the status (or HangUp) and headers to answer with.
// f may block, holding the request open, until the test lets it go.
func (s *Service) Respond(f func(Request) (status int, header http.Header)) {
	s.mu.Lock()
	s.respond = f
	s.mu.Unlock()
}

// Requests returns the requests received so far.
func (s *Service) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.received...)
}

// Wait waits, up to Wait, until n requests have arrived, and returns them
// all.
func (s *Service) Wait(tb testing.TB, n int) []Request {
	tb.Helper()
	deadline := time.NewTimer(Wait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := len(s.received), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Requests()
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("push service: %d requests after %v, want %d", got, Wait, n)
		}
	}
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := Request{
		Endpoint: s.URL + r.URL.RequestURI(),
		Header:   r.Header.Clone(),
		Body:     body,
		VAPID:    readVAPID(r.Header.Get("Authorization")),
	}
	s.mu.Lock()
	d := s.devices[r.URL.Path]
	s.mu.Unlock()
	if d == nil {
		req.PayloadErr = fmt.Errorf("no subscription at %s", r.URL.Path)
	} else if r.Method != http.MethodPost {
		req.PayloadErr = fmt.Errorf("method %s, want POST", r.Method)
	} else {
		req.Payload, req.PayloadErr = Decrypt(body, d.key, d.auth)
	}

	s.mu.Lock()
	req.N = len(s.received) + 1
	s.received = append(s.received, req)
	close(s.changed)
	s.changed = make(chan struct{})
	respond := s.respond
	s.mu.Unlock()

	status, header := respond(req)
	if status == HangUp {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
}

// Decrypt reads an aes128gcm push message body as the browser holding key
// and auth does (RFC 8291, section 3.4; RFC 8188).
func Decrypt(body []byte, key *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the aes128gcm header")
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	idlen := int(body[20])
	if len(body) < 21+idlen {
		return nil, errors.New("body shorter than its key id")
	}
	keyid, record := body[21:21+idlen], body[21+idlen:]
	if rs < 18 || uint32(len(record)) > rs {
		return nil, fmt.Errorf("record of %d bytes with rs %d: Web Push takes one record", len(record), rs)
	}
	sender, err := ecdh.P256().NewPublicKey(keyid)
	if err != nil {
		return nil, fmt.Errorf("key id is not the sender's P-256 public key: %w", err)
	}
	shared, err := key.ECDH(sender)
	if err != nil {
		return nil, err
	}
	var info bytes.Buffer
	info.WriteString("WebPush: info\x00")
	info.Write(key.PublicKey().Bytes())
	info.Write(keyid)
	ikm, err := hkdf.Key(sha256.New, shared, auth, info.String(), 32)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, record, nil)
	if err != nil {
		return nil, fmt.Errorf("record does not decrypt: %w", err)
	}
	// The content, the delimiter 2 (the last record) and zero padding.
	end := len(plain) - 1
	for end >= 0 && plain[end] == 0 {
		end--
	}
	if end < 0 || plain[end] != 2 {
		return nil, errors.New("record has no final delimiter")
	}
	return plain[:end], nil
}

// readVAPID reads "vapid t=TOKEN, k=KEY" and checks the token's signature.
func readVAPID(header string) VAPID {
	var v VAPID
	scheme, params, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "vapid") {
		v.Err = fmt.Errorf("authorization %q is not vapid", header)
		return v
	}
	var token string
	for p := range strings.SplitSeq(params, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "t":
			token = value
		case "k":
			v.Key = value
		}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		v.Err = fmt.Errorf("token %q is not a JWT", token)
		return v
	}
	enc := base64.RawURLEncoding
	var head struct{ Alg, Typ string }
	var claims struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}
	h, err1 := enc.DecodeString(parts[0])
	c, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	pub, err4 := enc.DecodeString(v.Key)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		v.Err = fmt.Errorf("token or key not base64url: %w", err)
		return v
	}
	if err := errors.Join(json.Unmarshal(h, &head), json.Unmarshal(c, &claims)); err != nil {
		v.Err = fmt.Errorf("token not JSON: %w", err)
		return v
	}
	v.Audience, v.Subject, v.Expiry = claims.Aud, claims.Sub, time.Unix(claims.Exp, 0)
	if head.Alg != "ES256" {
		v.Err = fmt.Errorf("token alg %q, want ES256", head.Alg)
		return v
	}
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil {
		v.Err = fmt.Errorf("k is not a P-256 public key: %w", err)
		return v
	}
	if len(sig) != 64 {
		v.Err = fmt.Errorf("signature of %d bytes, want 64", len(sig))
		return v
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(key, digest[:], r, s) {
		v.Err = errors.New("token signature does not verify with k")
	}
	return v
}
