package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"parley/internal/chat"
	"parley/internal/push"
	"parley/internal/store"
)

// Web Push (docs/API.md, Push notifications): the browser subscribes with the server's
// VAPID public key and hands its subscription over; a mention or a direct
// message is then pushed to the person's devices, after --push-delay, if
// they have not read it meanwhile. The sending path only offers a
// committed message to a bounded queue (offerPush); who is notified is
// decided by one goroutine (pushLoop), and the requests are the push
// sender's.

// pushQueueSize bounds the messages waiting for their recipients to be
// worked out; past it a message notifies nobody, and is counted.
const pushQueueSize = 1024

// pushExcerpt bounds a notification's body, in characters.
const pushExcerpt = 200

// pushOn reports whether this server pushes.
func (s *Server) pushOn() bool { return s.opt.Push != nil && s.opt.PushKeys != nil }

// offerPush hands a message just committed by this process to the push
// loop, if it may notify anyone: a cheap test, and a send that never
// waits. Only the process that committed a message offers it, so that a
// message is pushed once however many processes serve its room.
func (s *Server) offerPush(m *chat.Message) {
	if s.pushes == nil || !pushConcerns(m) {
		return
	}
	select {
	case s.pushes <- *m:
	default:
		s.metrics.pushDropped.Inc()
	}
}

// pushLoop works out who is notified of each offered message, until the
// server shuts down.
func (s *Server) pushLoop() {
	defer close(s.pushDone)
	for {
		select {
		case m := <-s.pushes:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := s.pushMessage(ctx, &m); err != nil {
				s.log.Warn("push: recipients of a message", "room", m.Room, "seq", m.Seq, "err", err)
			}
			cancel()
		case <-s.shutdown:
			return
		}
	}
}

// pushMessage schedules m's notifications: for each subscribed user it
// concerns, one delayed batch (their devices) whose check, when due,
// drops it if they have read m or may no longer read its room.
func (s *Server) pushMessage(ctx context.Context, m *chat.Message) error {
	everyone := m.MentionsRoom || mayBeDirect(m.Room)
	cs, err := s.opt.Store.PushCandidates(ctx, m.Room, m.Seq, everyone, 0)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return nil
	}
	payload, err := pushPayloadOf(m, cs[0].Kind == chat.RoomDirect)
	if err != nil {
		return err
	}
	now := s.opt.Now()
	for _, c := range cs {
		place := chat.Place{Kind: c.Kind, Exists: true, Member: c.Member}
		if c.LastRead >= m.Seq || !notifies(c.User, place, c.Level, m, now) {
			continue
		}
		subs, err := s.opt.Store.PushSubscriptions(ctx, c.User.ID)
		if err != nil {
			return err
		}
		if len(subs) == 0 {
			continue
		}
		msgs := make([]push.Message, 0, len(subs))
		for _, sub := range subs {
			// A device stored before --push-hosts left its push
			// service out gets nothing (its test notification says so).
			if s.opt.Push.Check(sub.Subscription) == nil {
				msgs = append(msgs, push.Message{Subscription: sub.Subscription, Payload: payload, Topic: pushTopic(m.Room)})
			}
		}
		if len(msgs) == 0 {
			continue
		}
		if err := s.opt.Push.EnqueueAfter(s.opt.PushDelay, s.stillWanted(c.User, m), msgs...); err != nil {
			if errors.Is(err, push.ErrClosed) {
				return nil
			}
			s.log.Warn("push: notification not scheduled", "room", m.Room, "seq", m.Seq, "err", err)
		}
	}
	return nil
}

// stillWanted is the check of a delayed notification: nothing already
// read is notified, nor anything in a room the user may no longer read or
// has muted since.
func (s *Server) stillWanted(u chat.User, m *chat.Message) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		st := s.opt.Store
		read, _, err := st.ReadMarker(ctx, u.ID, m.Room)
		if err != nil || read >= m.Seq {
			return false, err
		}
		place, err := st.RoomPlace(ctx, m.Room, u.ID)
		if err != nil {
			return false, err
		}
		level, err := st.Level(ctx, u.ID, m.Room)
		if err != nil {
			return false, err
		}
		return notifies(u, place, level, m, s.opt.Now()), nil
	}
}

// pushPayload is what the service worker reads (static/sw.js).
type pushPayload struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	URL   string `json:"url"`
	Room  string `json:"room,omitempty"`
	Seq   int64  `json:"seq,omitempty"`
	// Tag collapses a device's notifications: one per room.
	Tag string `json:"tag"`
}

// pushPayloadOf is m's notification: who said it where, and the start of
// what they said, well under push.MaxPayload (a room name, a user name and
// 200 characters of at most 4 bytes each).
func pushPayloadOf(m *chat.Message, direct bool) ([]byte, error) {
	title := m.Author + " in #" + m.Room
	if direct {
		title = m.Author
	}
	return json.Marshal(pushPayload{
		Title: title, Body: excerpt(m.Content, pushExcerpt),
		URL:  "/chats/" + m.Room + "/?at=" + strconv.FormatInt(m.Seq, 10),
		Room: m.Room, Seq: m.Seq, Tag: "room-" + m.Room,
	})
}

// excerpt is s cut to at most n characters, with "…" where it was cut.
func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}

// pushTopic names a room to the push service (RFC 8030, Topic): a
// notification it still holds for an offline device is replaced by the
// room's next one. A hash, so that the push service learns no room name.
func pushTopic(room string) string {
	h := sha256.Sum256([]byte("parley room " + room))
	return base64.RawURLEncoding.EncodeToString(h[:24])
}

// ---------------------------------------------------------------------
// Who is pushed: chat.Notifies, the one rule of notifications (the user
// stream's and the browser's too), for a user who may read the room
// (chat.Can).

// pushConcerns reports whether m may notify anyone at all: the test on
// the sending path, which must cost nothing for most messages. Only
// mentions and direct conversations notify (chat.Notifies).
func pushConcerns(m *chat.Message) bool {
	return len(m.Mentions) > 0 || m.MentionsRoom || mayBeDirect(m.Room)
}

// mayBeDirect reports whether room may be a direct conversation, by its
// name alone: every direct conversation's name starts with "dm-", and
// no other new room's may (store.OpenDirect). The room's kind, read with
// the candidates, decides.
func mayBeDirect(room string) bool { return strings.HasPrefix(room, store.DirectPrefix) }

// notifies decides whether u, at place in m's room with level, is
// notified of m.
func notifies(u chat.User, place chat.Place, level chat.Level, m *chat.Message, now time.Time) bool {
	if chat.Can(u.Actor(), place, chat.ActRead, chat.Target{}, now) != nil {
		return false
	}
	return chat.Notifies(level, u.Name, m, place.Kind == chat.RoomDirect)
}

// ---------------------------------------------------------------------
// The API.

// pushOff answers a push route on a server that does not push.
func (s *Server) pushOff(w http.ResponseWriter, r *http.Request) bool {
	if s.pushOn() {
		return false
	}
	s.apiError(w, r, chat.Errorf(chat.ENotFound, "Push notifications are off on this server."))
	return true
}

// handleAPIPushKey answers the VAPID public key the browser subscribes
// with (GET /api/v1/push/key).
func (s *Server) handleAPIPushKey(w http.ResponseWriter, r *http.Request, _ chat.User) {
	if s.pushOff(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"public_key": s.opt.PushKeys.PublicKey()})
}

// subscriptionRequest is a PushSubscription as toJSON() gives it.
type subscriptionRequest struct {
	Endpoint       string   `json:"endpoint"`
	ExpirationTime *float64 `json:"expirationTime"`
	Keys           struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// apiDevice is a subscribed device as the API shows it. The endpoint is
// the caller's own, needed to remove it.
type apiDevice struct {
	Endpoint    string     `json:"endpoint"`
	UserAgent   string     `json:"user_agent"`
	CreatedAt   time.Time  `json:"created_at"`
	LastSuccess *time.Time `json:"last_success"`
}

func deviceOf(p store.PushSubscription) apiDevice {
	d := apiDevice{Endpoint: p.Endpoint, UserAgent: p.UserAgent, CreatedAt: p.CreatedAt}
	if !p.LastSuccess.IsZero() {
		d.LastSuccess = &p.LastSuccess
	}
	return d
}

// handleAPIPushSubscribe stores the caller's device (POST
// /api/v1/push/subscriptions): 201 and the device.
func (s *Server) handleAPIPushSubscribe(w http.ResponseWriter, r *http.Request, u chat.User) {
	if s.pushOff(w, r) {
		return
	}
	var req subscriptionRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	sub := push.Subscription{Endpoint: req.Endpoint, P256dh: req.Keys.P256dh, Auth: req.Keys.Auth}
	if err := s.opt.Push.Check(sub); err != nil {
		msg := strings.TrimPrefix(err.Error(), push.ErrBadSubscription.Error()+": ")
		s.apiError(w, r, chat.Errorf(chat.EInvalid, "Not a push subscription this server can use: %s.", msg))
		return
	}
	p, err := s.opt.Store.SavePushSubscription(r.Context(), u.ID, sub, deviceLabel(r.UserAgent()))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, deviceOf(p))
}

// pushSubscriptions returns the caller's devices; with push off, or the
// store failing, it answers the request and ok is false.
func (s *Server) pushSubscriptions(w http.ResponseWriter, r *http.Request, u chat.User) (subs []store.PushSubscription, ok bool) {
	if s.pushOff(w, r) {
		return nil, false
	}
	subs, err := s.opt.Store.PushSubscriptions(r.Context(), u.ID)
	if err != nil {
		s.apiError(w, r, err)
		return nil, false
	}
	return subs, true
}

// handleAPIPushDevices lists the caller's devices (GET
// /api/v1/push/subscriptions).
func (s *Server) handleAPIPushDevices(w http.ResponseWriter, r *http.Request, u chat.User) {
	subs, ok := s.pushSubscriptions(w, r, u)
	if !ok {
		return
	}
	devices := make([]apiDevice, len(subs))
	for i, p := range subs {
		devices[i] = deviceOf(p)
	}
	writeJSON(w, http.StatusOK, map[string][]apiDevice{"devices": devices})
}

// handleAPIPushUnsubscribe removes one of the caller's devices by its
// endpoint (DELETE /api/v1/push/subscriptions): 204, or 404 if the
// caller has no device there.
func (s *Server) handleAPIPushUnsubscribe(w http.ResponseWriter, r *http.Request, u chat.User) {
	if s.pushOff(w, r) {
		return
	}
	var req struct {
		Endpoint string `json:"endpoint"`
	}
	if !s.readJSON(w, r, &req) {
		return
	}
	if req.Endpoint == "" {
		s.apiError(w, r, chat.Errorf(chat.EInvalid, "Say which device: its endpoint."))
		return
	}
	ok, err := s.opt.Store.DeletePushSubscription(r.Context(), u.ID, req.Endpoint)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if !ok {
		s.apiError(w, r, chat.Errorf(chat.ENotFound, "No device of yours has that endpoint."))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleAPIPushTest sends a test notification to each of the caller's
// devices now, and says how each fared (POST /api/v1/push/test).
func (s *Server) handleAPIPushTest(w http.ResponseWriter, r *http.Request, u chat.User) {
	subs, ok := s.pushSubscriptions(w, r, u)
	if !ok {
		return
	}
	if len(subs) == 0 {
		s.apiError(w, r, chat.Errorf(chat.ENotFound, "You have no device that takes push notifications: enable them on this device first."))
		return
	}
	// Each test costs a send (--send-limit): it makes requests to every
	// device's push service.
	if ok, wait := s.sends.allow(r.Context(), u.Name); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
		s.apiError(w, r, chat.Errorf(chat.ERateLimited, "You are sending too fast; wait a moment."))
		return
	}
	payload, err := json.Marshal(pushPayload{Title: "Parley", Body: "Test notification: push notifications reach this device.",
		URL: "/", Tag: "test"})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.sendTest(r.Context(), u, subs, payload))
}

// testResult is how a test notification fared on the caller's devices.
type testResult struct {
	Devices int `json:"devices"`
	Sent    int `json:"sent"`
	Gone    int `json:"gone"`
	Failed  int `json:"failed"`
}

// pushTestTimeout bounds a test notification: the answer must come well
// within the server's write timeout.
const pushTestTimeout = 20 * time.Second

// sendTest sends payload to every device at once and counts the answers.
func (s *Server) sendTest(ctx context.Context, u chat.User, subs []store.PushSubscription, payload []byte) testResult {
	ctx, cancel := context.WithTimeout(ctx, pushTestTimeout)
	defer cancel()
	errs := make([]error, len(subs))
	var wg sync.WaitGroup
	for i, p := range subs {
		wg.Go(func() {
			errs[i] = s.opt.Push.Send(ctx, push.Message{Subscription: p.Subscription, Payload: payload, TTL: time.Minute})
		})
	}
	wg.Wait()
	res := testResult{Devices: len(subs)}
	for _, err := range errs {
		switch {
		case err == nil:
			res.Sent++
		case errors.Is(err, push.ErrGone):
			res.Gone++
		default:
			res.Failed++
			// A network error names the whole endpoint, a capability: log
			// what went wrong without it.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			s.log.Info("push: test notification not sent", "user", u.Name, "err", err)
		}
	}
	return res
}

// deviceLabel names a browser from its User-Agent, for the list of one's
// devices: "Firefox on Android".
func deviceLabel(ua string) string {
	browser := "Browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Chromium/", "Chromium"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
}

// ---------------------------------------------------------------------
// The service worker and the manifest.

// handleServiceWorker serves static/sw.js at /sw.js: a worker controls the
// pages under the path it is served from, so it is served at the root,
// and never from a cache, so that a new version is installed at once.
func (s *Server) handleServiceWorker(w http.ResponseWriter, r *http.Request) {
	s.serveAsset(w, r, "static/sw.js", "text/javascript; charset=utf-8", func(h http.Header) {
		h.Set("Service-Worker-Allowed", "/")
	})
}

// handleManifest serves the web app manifest that makes Parley
// installable.
func (s *Server) handleManifest(w http.ResponseWriter, r *http.Request) {
	s.serveAsset(w, r, "static/manifest.webmanifest", "application/manifest+json", nil)
}

func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request, name, contentType string, more func(http.Header)) {
	b, err := assets.ReadFile(name)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	if more != nil {
		more(h)
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}
