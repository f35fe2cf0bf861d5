package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"parley/internal/broker"
	"parley/internal/chat"
	"parley/internal/hub"
)

// WebSocket settings.
const (
	// Subprotocol is offered by clients that take extension frames.
	Subprotocol = "parley.v1"
	// maxFrameBytes is the read limit; a larger frame closes with 1009.
	maxFrameBytes = 64 << 10
	pingInterval  = 30 * time.Second
	pingTimeout   = 20 * time.Second
	// floodStrikes is how many refused sends in a row close a socket
	// with 1008: the warnings were not heeded.
	floodStrikes = 30
	typingEvery  = time.Second
	// joinTimeout bounds entering the room: subscribing this process to
	// it and reading its latest seq.
	joinTimeout = 5 * time.Second
)

func (s *Server) handleWebSocket(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !chat.ValidRoomName(room) {
		s.refuseUpgrade(w, http.StatusNotFound, "not_found", "No such room.")
		return
	}
	u, from, err := s.authenticate(r)
	if err != nil {
		if httpStatus(err) >= 500 {
			s.log.Error("websocket auth", "err", err)
			s.refuseUpgrade(w, http.StatusServiceUnavailable, "unavailable", "Try again shortly.")
			return
		}
		s.refuseUpgrade(w, http.StatusUnauthorized, "unauthorized", "Log in first: a session cookie or a bearer token is needed.")
		return
	}
	if from == authCookie && !s.sameOrigin(r) {
		s.refuseUpgrade(w, http.StatusForbidden, "forbidden", "WebSocket from a foreign origin refused.")
		return
	}
	select {
	case <-s.shutdown:
		s.refuseUpgrade(w, http.StatusServiceUnavailable, "unavailable", "The server is shutting down.")
		return
	default:
	}
	release, status := s.takeSocket(u.Name)
	if status != 0 {
		s.refuseUpgrade(w, status, "too_many_sockets", "Too many open sockets; close some and try again.")
		return
	}
	defer release()
	if err := s.enterRoom(r.Context(), u, room); err != nil {
		s.log.Error("websocket enter room", "room", room, "err", err)
		s.refuseUpgrade(w, http.StatusServiceUnavailable, "unavailable", "The database is not answering; try again shortly.")
		return
	}
	// Enter the room before the upgrade is answered, so that the socket
	// receives every message committed after its upgrade completes; frames
	// wait in the queue until the writer starts. A broker or database that
	// does not answer (a Redis gone silent) gets the client a 503 in
	// bounded time, and the load balancer may send it elsewhere.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	jctx, jcancel := context.WithTimeout(ctx, joinTimeout)
	c, err := s.opt.Hub.Join(jctx, room, u.Name, offers(r, Subprotocol))
	jcancel()
	if err != nil {
		s.log.Error("websocket join", "room", room, "err", err)
		s.refuseUpgrade(w, http.StatusServiceUnavailable, "unavailable", "The room is not available now; try again shortly.")
		return
	}
	defer c.Leave()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{Subprotocol},
		// The origin was checked above, by rules the library does not know
		// (bearer-token clients may come from anywhere).
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered the client.
	}
	// However the socket ends, its file descriptor is released: a peer
	// that vanished without a close handshake leaves nothing behind.
	defer conn.CloseNow()
	conn.SetReadLimit(maxFrameBytes)
	s.conns.Add(1)
	defer s.conns.Done()

	c.OnSlow(func() { _ = conn.CloseNow() })
	sc := &socket{s: s, conn: conn, c: c, user: u, room: room}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		sc.writeLoop(ctx)
	}()
	sc.readLoop(ctx)
	switch sc.c.Reason() {
	case hub.ReasonPolicy, hub.ReasonShutdown:
		// The writer is saying goodbye: let it finish.
	default:
		// The peer is gone: stop the writer, even one blocked writing.
		cancel()
		_ = conn.CloseNow()
	}
	<-writerDone
	sc.ackWG.Wait() // messages still on their way are stored and published
}

// enterRoom records that u entered room (it exists from then on, and is in
// the user's room list). A socket reconnecting, or one of many of a bot,
// finds it recorded already, and costs no write.
func (s *Server) enterRoom(ctx context.Context, u chat.User, room string) error {
	return s.entered.do(u.ID, room, func() error { return s.opt.Store.TouchRoom(ctx, u.ID, room) })
}

// offers reports whether the upgrade request offers the subprotocol, as
// the one Accept will then choose.
func offers(r *http.Request, protocol string) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == protocol {
				return true
			}
		}
	}
	return false
}

// refuseUpgrade answers a WebSocket upgrade that is refused.
func (s *Server) refuseUpgrade(w http.ResponseWriter, status int, code, msg string) {
	s.metrics.upgradesRefused.WithLabelValues(code).Inc()
	writeAPIError(w, status, code, msg)
}

// takeSocket counts a socket against the caps, or returns the status that
// refuses it: 503 when the process is full, 429 when the user is.
func (s *Server) takeSocket(user string) (release func(), status int) {
	if n := s.sockets.Add(1); s.opt.MaxSockets > 0 && n > int64(s.opt.MaxSockets) {
		s.sockets.Add(-1)
		return nil, http.StatusServiceUnavailable
	}
	v, _ := s.userSockets.LoadOrStore(user, new(atomic.Int64))
	per := v.(*atomic.Int64)
	if n := per.Add(1); s.opt.UserSockets > 0 && n > int64(s.opt.UserSockets) {
		per.Add(-1)
		s.sockets.Add(-1)
		return nil, http.StatusTooManyRequests
	}
	return func() {
		if per.Add(-1) == 0 {
			s.userSockets.CompareAndDelete(user, per)
		}
		s.sockets.Add(-1)
	}, 0
}

// socket is one WebSocket connection: a reader (the handler's goroutine)
// and a writer draining the hub client's queue.
type socket struct {
	s    *Server
	conn *websocket.Conn
	c    *hub.Client
	user chat.User
	room string

	strikes    int
	lastTyping time.Time

	ackMu sync.Mutex
	acks  chan ackJob // created at the first message
	ackN  int         // messages queued or being settled
	ackWG sync.WaitGroup
}

// inFrame is any frame a client sends.
type inFrame struct {
	Command  string  `json:"command"`
	Message  *string `json:"message"`
	ClientID string  `json:"client_id"`
	Seq      int64   `json:"seq"`
	fetchRequest
}

// frameError is a client frame refused before it is acted on: the code,
// message and client_id of the error frame that answers it.
type frameError struct {
	Code     string
	Message  string
	ClientID string
}

// decodeFrame reads and checks one client frame: JSON, the fields' types, a
// command this socket knows (typing and read need extensions) and the
// fields that command needs. A refusal is always bad_request, and echoes
// the frame's client_id only when that is valid.
func decodeFrame(data []byte, extensions bool) (inFrame, *frameError) {
	var f inFrame
	if err := json.Unmarshal(data, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return inFrame{}, badFrame("Bad field: "+jsonProblem(err), f.ClientID)
		}
		// A syntax error, or JSON that is not an object (te.Field "").
		return inFrame{}, badFrame("The frame is not a JSON object.", "")
	}
	switch f.Command {
	case "fetch_messages":
	case "new_message":
		if f.Message == nil {
			return inFrame{}, badFrame("new_message needs a \"message\" string.", f.ClientID)
		}
	case "typing", "read":
		if !extensions {
			return inFrame{}, badFrame("Unknown command \""+f.Command+"\" (extensions need the parley.v1 subprotocol).", "")
		}
		if f.Command == "read" && f.Seq < 0 {
			return inFrame{}, badFrame("seq must be at least 0.", "")
		}
	case "":
		return inFrame{}, badFrame("The frame has no command.", f.ClientID)
	default:
		return inFrame{}, badFrame("Unknown command.", f.ClientID)
	}
	return f, nil
}

func badFrame(msg, clientID string) *frameError {
	if chat.CheckClientID(clientID) != nil {
		clientID = "" // not echoed: it is the thing that was wrong
	}
	return &frameError{Code: "bad_request", Message: msg, ClientID: clientID}
}

type messagesFrame struct {
	Command  string         `json:"command"`
	Before   *int64         `json:"before,omitempty"`
	After    *int64         `json:"after,omitempty"`
	Messages []chat.Message `json:"messages"`
	HasMore  bool           `json:"has_more"`
}

type errorFrame struct {
	Command  string `json:"command"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	ClientID string `json:"client_id,omitempty"`
}

func (sc *socket) readLoop(ctx context.Context) {
	for {
		typ, data, err := sc.conn.Read(ctx)
		if err != nil {
			return // closed, by either side; 1009 is sent by the library
		}
		sc.s.metrics.framesIn.Inc()
		if typ != websocket.MessageText {
			sc.sendError("bad_request", "Frames are JSON text.", "")
			continue
		}
		if !sc.handle(ctx, data) {
			return
		}
	}
}

// handle acts on one frame. It returns false when the socket must close.
func (sc *socket) handle(ctx context.Context, data []byte) bool {
	f, ferr := decodeFrame(data, sc.c.Extensions())
	if ferr != nil {
		sc.sendError(ferr.Code, ferr.Message, ferr.ClientID)
		return true
	}
	switch f.Command {
	case "fetch_messages":
		sc.fetch(ctx, f)
	case "new_message":
		return sc.newMessage(ctx, f)
	case "typing":
		if now := time.Now(); now.Sub(sc.lastTyping) >= typingEvery {
			sc.lastTyping = now
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_ = sc.s.opt.Hub.Publish(pctx, broker.Event{Room: sc.room, Kind: broker.KindTyping, User: sc.user.Name})
			cancel()
		}
	case "read":
		if err := sc.s.opt.Store.MarkRead(ctx, sc.user.ID, sc.room, f.Seq); err != nil {
			sc.s.log.Warn("mark read", "room", sc.room, "err", err)
		}
	}
	return true
}

func (sc *socket) fetch(ctx context.Context, f inFrame) {
	msgs, more, err := sc.s.fetch(ctx, sc.room, f.fetchRequest)
	if err != nil {
		sc.sendErr(err, "")
		return
	}
	sc.c.Send(hub.EncodeFrame(messagesFrame{Command: "messages", Before: f.Before, After: f.After,
		Messages: msgs, HasMore: more}))
}

func (sc *socket) newMessage(ctx context.Context, f inFrame) bool {
	// The author is the authenticated user; a "from" field is ignored.
	sub, _, err := sc.s.submit(ctx, sc.user, chat.NewMessage{Room: sc.room, Content: *f.Message, ClientID: f.ClientID})
	if err != nil {
		sc.sendErr(err, f.ClientID)
		if chat.ErrorCode(err) == chat.ERateLimited {
			sc.strikes++
			if sc.strikes >= floodStrikes {
				sc.s.metrics.wsErrors.WithLabelValues("flood_closed").Inc()
				sc.ackWG.Wait()             // the accepted ones are acknowledged first
				sc.c.Kick(hub.ReasonPolicy) // the writer flushes the warnings, then closes
				return false
			}
		}
		return true
	}
	sc.strikes = 0
	sc.settleLater(ackJob{sub: sub, clientID: f.ClientID})
	return true
}

// maxInFlight is how many of a socket's messages may wait for their commit
// at once. The reader goes on reading while they do, so one busy socket
// fills a batch, not one message per commit; past it the reader waits.
const maxInFlight = 16

// ackJob is a message of this socket on its way to the store.
type ackJob struct {
	sub      submission
	clientID string
}

// settleLater queues a submitted message for the socket's settler, which
// waits for the commits in order — so the socket's messages are published
// in the order they were sent — and is started only while there is work.
func (sc *socket) settleLater(j ackJob) {
	sc.ackMu.Lock()
	if sc.acks == nil {
		sc.acks = make(chan ackJob, maxInFlight)
	}
	start := sc.ackN == 0
	sc.ackN++
	sc.ackMu.Unlock()
	if start {
		sc.ackWG.Add(1)
		go sc.settler()
	}
	sc.acks <- j
}

func (sc *socket) settler() {
	defer sc.ackWG.Done()
	for {
		j := <-sc.acks
		m, created, err := sc.s.settle(j.sub)
		switch {
		case err != nil:
			sc.sendErr(err, j.clientID)
		case !created && sc.c.Passed(m.Seq):
			// A retry: the sender gets the stored message back — directly
			// if the room sent it already, else through the room, so that
			// it never arrives ahead of the messages before it.
			sc.c.Send(hub.MessageFrame(m))
		}
		sc.ackMu.Lock()
		sc.ackN--
		idle := sc.ackN == 0
		sc.ackMu.Unlock()
		if idle {
			return
		}
	}
}

// sendErr sends err as an error frame, in the protocol's codes.
func (sc *socket) sendErr(err error, clientID string) {
	code := chat.ErrorCode(err)
	switch code {
	case chat.EInvalid, chat.EConflict:
		code = "bad_request"
	case chat.ETooLong, chat.ERateLimited, chat.ENotFound:
	default:
		sc.s.log.Error("websocket command failed", "room", sc.room, "user", sc.user.Name, "err", err)
		code = "internal"
	}
	sc.sendError(code, chat.ErrorMessage(err), clientID)
}

func (sc *socket) sendError(code, msg, clientID string) {
	if chat.CheckClientID(clientID) != nil {
		clientID = "" // not echoed: it is the thing that was wrong
	}
	sc.s.metrics.wsErrors.WithLabelValues(code).Inc()
	sc.c.Send(hub.EncodeFrame(errorFrame{Command: "error", Code: code, Message: msg, ClientID: clientID}))
}

// writeLoop writes the client's queued frames until the socket ends. A
// kicked client is closed: at shutdown with 1001 after its queue is
// flushed, when too slow at once (it recovers with after).
func (sc *socket) writeLoop(ctx context.Context) {
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	var batch [][]byte
	for {
		select {
		case <-sc.c.Wake():
			batch = sc.c.Take(batch)
			if !sc.write(batch) {
				return
			}
		case <-sc.c.Done():
			switch reason := sc.c.Reason(); reason {
			case hub.ReasonShutdown, hub.ReasonPolicy:
				// Say what was queued (the flooder's warnings, the last
				// messages before a shutdown), then why the socket ends.
				batch = sc.c.Take(batch)
				sc.write(batch)
				if reason == hub.ReasonShutdown {
					_ = sc.conn.Close(websocket.StatusGoingAway, "server shutting down")
				} else {
					_ = sc.conn.Close(websocket.StatusPolicyViolation, "sending too fast")
				}
			case hub.ReasonSlow:
				sc.s.metrics.wsErrors.WithLabelValues("slow_closed").Inc()
				_ = sc.conn.CloseNow()
			default:
				_ = sc.conn.CloseNow()
			}
			return
		case <-ping.C:
			go func() {
				pctx, cancel := context.WithTimeout(ctx, pingTimeout)
				defer cancel()
				if err := sc.conn.Ping(pctx); err != nil && ctx.Err() == nil {
					_ = sc.conn.CloseNow()
				}
			}()
		case <-ctx.Done():
			return
		}
	}
}

// write writes frames in order. It sets no deadline of its own, which
// would cost a timer per write: a peer that stops reading fills its queue
// and is cut (OnSlow), a dead one fails its ping, and either way the
// connection is closed under the blocked write.
func (sc *socket) write(frames [][]byte) bool {
	for i, f := range frames {
		if err := sc.conn.Write(context.Background(), websocket.MessageText, f); err != nil {
			_ = sc.conn.CloseNow()
			return false
		}
		frames[i] = nil
	}
	sc.s.metrics.framesOut.Add(float64(len(frames)))
	return true
}
