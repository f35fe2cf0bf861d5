package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A message's content starts with a marker that names the run, the
// publisher, the message's number and its scheduled send time (nanoseconds
// after the run's start):
//
//	~L<run>.<publisher>.<n>.<due>~xxxx…
//
// It needs no escaping in JSON or text, so a receiver finds it in any frame
// of any protocol without decoding the frame, and can tell this run's
// messages from anybody else's.

// newRunID returns a short random run name.
func newRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// appendContent appends the content of message n of publisher pub, due at
// due after the start, padded to size bytes.
func appendContent(dst []byte, run string, pub, n int, due time.Duration, size int) []byte {
	start := len(dst)
	dst = append(dst, "~L"...)
	dst = append(dst, run...)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(pub), 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(due), 10)
	dst = append(dst, '~')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// marker is one message found in a frame.
type marker struct {
	pub, n int
	due    time.Duration
}

// scanMarkers calls f for every marker of run in frame. A frame may hold
// several (a history page, or a plain server batching lines).
func scanMarkers(frame []byte, prefix []byte, f func(marker)) {
	for {
		i := bytes.Index(frame, prefix)
		if i < 0 {
			return
		}
		frame = frame[i+len(prefix):]
		var vals [3]int64
		ok := true
		for k := range vals {
			v, rest, good := parseUint(frame)
			if !good || len(rest) == 0 || (k < 2 && rest[0] != '.') || (k == 2 && rest[0] != '~') {
				ok = false
				break
			}
			vals[k], frame = v, rest[1:]
		}
		if ok {
			f(marker{pub: int(vals[0]), n: int(vals[1]), due: time.Duration(vals[2])})
		}
	}
}

func parseUint(b []byte) (int64, []byte, bool) {
	var v int64
	i := 0
	for i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	return v, b[i:], i > 0
}

// markerPrefix is what every marker of run starts with.
func markerPrefix(run string) []byte { return []byte("~L" + run + ".") }

// appendSendFrame appends the frame that sends content in the protocol.
func appendSendFrame(dst []byte, proto string, content []byte, clientID, user string) []byte {
	switch proto {
	case "plain":
		return append(dst, content...)
	case "original":
		// As the original application's JavaScript client sends it.
		dst = append(dst, `{"message":"`...)
		dst = append(dst, content...)
		dst = append(dst, `","command":"new_message","from":"`...)
		dst = append(dst, user...)
		return append(dst, `"}`...)
	}
	dst = append(dst, `{"command":"new_message","message":"`...)
	dst = append(dst, content...)
	dst = append(dst, `","client_id":"`...)
	dst = append(dst, clientID...)
	return append(dst, `"}`...)
}

// account is one user the run created, with its bearer token.
type account struct {
	name, token string
}

// createAccounts signs n users up on the server and gets each a token.
// Plain servers need none. kind tells the run's sets of accounts apart
// ("u" for the sockets', "s" for the user streams').
//
// The server limits token requests per client address (a burst of 30):
// the accounts are spread over loopback source addresses, accountsPerAddr
// to each, so that a run may have thousands.
func createAccounts(ctx context.Context, cfg config, run, kind string, n int) ([]account, error) {
	if cfg.Proto == "plain" {
		return []account{{name: "load-" + run}}, nil
	}
	accts := make([]account, n)
	errs := make([]error, n)
	clients := make([]*http.Client, (n+accountsPerAddr-1)/accountsPerAddr)
	for k := range clients {
		clients[k] = clientFrom(net.IPv4(127, 1, byte(k/250), byte(1+k%250)))
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4) // password hashing is slow on purpose
	for i := range accts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			name := fmt.Sprintf("load%s%s%d", run, kind, i)
			pw := "load-password-" + run
			accts[i].name = name
			cred := map[string]string{"username": name, "password": pw}
			c := clients[i/accountsPerAddr]
			if err := postJSONWith(ctx, c, httpBase(cfg.URL)+"/api/v1/signup", "", cred, http.StatusCreated, nil); err != nil {
				errs[i] = fmt.Errorf("signup %s: %w", name, err)
				return
			}
			var tok struct{ Token string }
			if err := postJSONWith(ctx, c, httpBase(cfg.URL)+"/api/v1/tokens", "", cred, http.StatusCreated, &tok); err != nil {
				errs[i] = fmt.Errorf("token %s: %w", name, err)
				return
			}
			accts[i].token = tok.Token
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return accts, nil
}

// accountsPerAddr is how many accounts get their tokens from one source
// address: within the server's burst of token requests per address.
const accountsPerAddr = 25

// clientFrom is an HTTP client whose connections come from the loopback
// address ip.
func clientFrom(ip net.IP) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 30 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// postJSONAuth posts body as JSON, with a bearer token (none if empty),
// and decodes the answer into out if it has the status want.
func postJSONAuth(ctx context.Context, url, token string, body any, want int, out any) error {
	return postJSONWith(ctx, httpClient, url, token, body, want, out)
}

// postJSONWith is postJSONAuth through the client c.
func postJSONWith(ctx context.Context, c *http.Client, url, token string, body any, want int, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	// #nosec G704 -- the URL is the server under test, from the operator's -url.
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return doJSON(c, req, want, out)
}

func getJSON(ctx context.Context, url, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return doJSON(httpClient, req, http.StatusOK, out)
}

func doJSON(c *http.Client, req *http.Request, want int, out any) error {
	resp, err := c.Do(req) // #nosec G704 -- as in postJSONWith: the server under test
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// dial opens the socket spec says: a room socket (a parley.v1 one when
// the run sends reactions, which only those get), or a user stream.
func dial(ctx context.Context, cfg config, spec sockSpec) (*wsConn, error) {
	h := http.Header{}
	if spec.acct.token != "" {
		h.Set("Authorization", "Bearer "+spec.acct.token)
	}
	switch {
	case spec.stream:
		u, _ := url.Parse(spec.base)
		return wsDial(ctx, "ws://"+u.Host+"/ws/user/", h, "parley.v1")
	case cfg.Send == "reactions":
		return wsDial(ctx, cfg.wsURL(spec.base, spec.room), h, "parley.v1")
	}
	return wsDial(ctx, cfg.wsURL(spec.base, spec.room), h)
}

// reactionEmoji are what a reaction storm's publishers add and remove.
var reactionEmoji = []string{"👍", "🎉", "❤️", "😂", "👀", "🚀", "🙏", "🤔"}

// appendReactFrame appends reaction number n of a publisher on message
// seq: publishers add an emoji, then remove it, then add the next, so that
// every one changes the message (one user's second add of an emoji would
// take no seq, and reach no one but its sender). The marker, in the
// client_id, comes back in every socket's change frame.
func appendReactFrame(dst []byte, seq int64, n int, marker []byte) []byte {
	cmd := "react"
	if n%2 == 1 {
		cmd = "unreact"
	}
	dst = append(dst, `{"command":"`...)
	dst = append(dst, cmd...)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `,"emoji":"`...)
	dst = append(dst, reactionEmoji[(n/2)%len(reactionEmoji)]...)
	dst = append(dst, `","client_id":"`...)
	dst = append(dst, marker...)
	return append(dst, `"}`...)
}

// seedMessage posts the message a room's reactions go to, and returns its
// seq.
func seedMessage(ctx context.Context, cfg config, room string, acct account) (int64, error) {
	var m struct{ Seq int64 }
	body := map[string]string{"content": "react to this message"}
	// #nosec G704 -- the server under test, from the operator's -url.
	err := postJSONAuth(ctx, httpBase(cfg.URL)+"/api/v1/rooms/"+room+"/messages", acct.token, body, http.StatusCreated, &m)
	return m.Seq, err
}

// dialError is a refused upgrade: the server answered with status.
type dialError struct {
	status int
	err    error
}

func (e *dialError) Error() string {
	return fmt.Sprintf("upgrade refused with %d: %v", e.status, e.err)
}
func (e *dialError) Unwrap() error { return e.err }

// roomName is the name of the run's room i.
func roomName(run string, i int) string { return fmt.Sprintf("load-%s-%d", run, i) }
