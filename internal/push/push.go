// Package push sends Web Push messages: the push service of each browser
// (Google's, Mozilla's, Apple's…) is told to wake the service worker of a
// subscribed device, with a payload only that device can read. Parley runs
// no relay of its own and pays no vendor: it holds its own VAPID key pair.
//
// The package knows nothing of users, rooms or the store. It takes
// subscriptions (an endpoint and the browser's two keys, as
// PushSubscription.toJSON() gives them) and payload bytes, and:
//
//   - makes, encodes and parses the VAPID key pair (RFC 8292), and defines
//     the KeyStore the database implements so that it is made once;
//   - encrypts each payload for its subscription (RFC 8291: ECDH on P-256,
//     HKDF-SHA-256 with the subscription's auth secret, one aes128gcm record
//     of RFC 8188) and signs a VAPID token for the push service's origin,
//     with the standard library only;
//   - sends from a bounded queue with a few workers, off the caller's path,
//     retrying what may succeed later, and reports subscriptions that are
//     gone so that their owner deletes them;
//   - holds delayed messages (one timer, one heap) that are sent only if a
//     check made when the delay is over still wants them: a mention is not
//     pushed if it was read meanwhile.
//
// # Limits
//
//   - A payload is at most MaxPayload (3993) bytes: the most one
//     aes128gcm record of 4096 bytes holds, the size every push service must
//     accept (RFC 8291, section 4). The plaintext is padded to a multiple of
//     256 bytes (short of the limit) so that the push service learns
//     little of its length.
//   - An endpoint is an https URL, or an http URL on a loopback address
//     (127.0.0.0/8, ::1, localhost) for tests. Redirects are not followed.
//     A Sender sends only to the hosts of Options.Hosts (ParseHosts,
//     DefaultHosts: the browsers' push services), so that a user cannot aim
//     its requests at a host of their choosing. Logs name an endpoint's
//     origin only; the rest of it is a capability.
//   - The queue (Options.QueueSize) and the jobs waiting for a delay or a
//     retry (Options.MaxWaiting) are bounded: past them a message is
//     dropped and counted, never waited for. Each job holds its payloads
//     and, once tried, its encrypted body (at most 4 KiB each).
//   - A message is tried at most Options.MaxAttempts times, within
//     Options.MaxRetryTime of its first attempt; each request has
//     Options.Timeout.
//
// # How it fails
//
//   - Enqueue and EnqueueAfter return an error, and keep nothing, for a bad
//     subscription or message (ErrBadSubscription, ErrBadMessage,
//     ErrPayloadTooLarge), a full queue (ErrQueueFull) or a closed Sender
//     (ErrClosed). They never block.
//   - A network error, a 429 (after its Retry-After) and a 5xx are retried
//     with exponential backoff and jitter; when attempts or time run out the
//     message is counted as failed and logged.
//   - A 404 or 410 means the subscription is gone: Options.Gone is called,
//     and the message is counted as gone. No retry.
//   - Any other answer outside 2xx (400, 401, 403, 413, a redirect…) is
//     logged with the start of the push service's answer, counted as
//     failed, and not retried: the same request would fail the same way.
//   - Close stops taking messages, drops what waits for a delay or a retry,
//     and sends what is queued until its context ends; then it cancels the
//     requests in flight and drops the rest.
//
// The VAPID key pair must not change: every subscription is bound to the
// public key it was made with, and a new key pair means every device must
// subscribe again.
package push

import (
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// MaxPayload is the largest payload, in bytes: a 4096-byte body less the
// aes128gcm header (86 bytes), the AEAD tag (16) and the padding
// delimiter (1).
const MaxPayload = 4096 - headerLen - tagLen - 1

// Errors that Enqueue, EnqueueAfter and Send wrap; decide with errors.Is.
var (
	ErrBadSubscription = errors.New("push: bad subscription")
	ErrBadMessage      = errors.New("push: bad message")
	ErrPayloadTooLarge = fmt.Errorf("push: payload larger than %d bytes", MaxPayload)
	ErrQueueFull       = errors.New("push: queue full, message dropped")
	ErrClosed          = errors.New("push: sender closed")
)

// Subscription is where and for whom a message is encrypted: the fields of
// a browser's PushSubscription.toJSON().
type Subscription struct {
	// Endpoint is the push service's URL for this device.
	Endpoint string `json:"endpoint"`
	// P256dh is the device's P-256 public key, uncompressed, base64url
	// (padding and the standard alphabet are accepted too).
	P256dh string `json:"p256dh"`
	// Auth is the device's 16-byte authentication secret, base64url.
	Auth string `json:"auth"`
}

// Validate reports whether s can be sent to: an endpoint this package
// accepts and two keys that decode to a valid P-256 point and a 16-byte
// secret. The error wraps ErrBadSubscription and says what is wrong.
func (s Subscription) Validate() error {
	_, err := s.parse()
	return err
}

// target is a subscription parsed once, when it is enqueued.
type target struct {
	sub      Subscription
	origin   string // the endpoint's scheme://host, the VAPID audience
	key      *ecdh.PublicKey
	authCode []byte
}

func (s Subscription) parse() (*target, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadSubscription, fmt.Sprintf(format, a...))
	}
	origin, err := endpointOrigin(s.Endpoint)
	if err != nil {
		return nil, bad("%v", err)
	}
	raw, err := decodeKey(s.P256dh)
	if err != nil {
		return nil, bad("p256dh is not base64: %v", err)
	}
	key, err := ecdh.P256().NewPublicKey(raw)
	if err != nil {
		return nil, bad("p256dh is not an uncompressed P-256 public key")
	}
	auth, err := decodeKey(s.Auth)
	if err != nil {
		return nil, bad("auth is not base64: %v", err)
	}
	if len(auth) != authLen {
		return nil, bad("auth is %d bytes, want %d", len(auth), authLen)
	}
	return &target{sub: s, origin: origin, key: key, authCode: auth}, nil
}

// endpointOrigin checks an endpoint and returns its origin.
func endpointOrigin(endpoint string) (string, error) {
	if endpoint == "" {
		return "", errors.New("no endpoint")
	}
	if len(endpoint) > 2048 {
		return "", errors.New("endpoint longer than 2048 bytes")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("endpoint is not a URL: %w", err)
	}
	if u.Host == "" || u.Opaque != "" {
		return "", errors.New("endpoint is not an absolute URL")
	}
	if u.User != nil {
		return "", errors.New("endpoint carries a user name or password")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "", errors.New("endpoint must be https (http only on a loopback address)")
	}
	return u.Scheme + "://" + u.Host, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// decodeKey decodes base64url as browsers write it, and also the padded and
// standard forms some clients send.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "+/") {
		return base64.RawStdEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// Urgency is a message's urgency (RFC 8030, section 5.3): a device saving
// its battery may deliver only the more urgent ones.
type Urgency string

// The urgencies of RFC 8030.
const (
	UrgencyVeryLow Urgency = "very-low"
	UrgencyLow     Urgency = "low"
	UrgencyNormal  Urgency = "normal"
	UrgencyHigh    Urgency = "high"
)

// Message is one payload for one subscription.
type Message struct {
	Subscription Subscription
	// Payload is what the service worker's push event reads, at most
	// MaxPayload bytes. The Sender keeps a copy.
	Payload []byte
	// TTL is how long the push service keeps the message for a device
	// that is offline; zero means Options.TTL. It is sent in whole seconds.
	TTL time.Duration
	// Urgency is sent when set.
	Urgency Urgency
	// Topic, when set, replaces a message with the same topic still held
	// by the push service for this subscription: at most 32 characters of
	// the base64url alphabet (RFC 8030, section 5.4).
	Topic string
}

// check validates m's own fields (not its subscription).
func (m *Message) check() error {
	if len(m.Payload) > MaxPayload {
		return fmt.Errorf("%w (%d bytes)", ErrPayloadTooLarge, len(m.Payload))
	}
	if m.TTL < 0 {
		return fmt.Errorf("%w: negative TTL", ErrBadMessage)
	}
	switch m.Urgency {
	case "", UrgencyVeryLow, UrgencyLow, UrgencyNormal, UrgencyHigh:
	default:
		return fmt.Errorf("%w: urgency %q is not very-low, low, normal or high", ErrBadMessage, m.Urgency)
	}
	if len(m.Topic) > 32 {
		return fmt.Errorf("%w: topic longer than 32 characters", ErrBadMessage)
	}
	for _, c := range m.Topic {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: topic %q has a character outside base64url", ErrBadMessage, m.Topic)
		}
	}
	return nil
}
