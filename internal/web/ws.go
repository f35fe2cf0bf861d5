package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"parley/internal/broker"
	"parley/internal/chat"
	"parley/internal/hub"
	"parley/internal/limit"
	"parley/internal/wirejson"
	"parley/internal/wsock"
)

// WebSocket settings.
const (
	// Subprotocol is offered by clients that take extension frames.
	Subprotocol = "parley.v1"
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
	room = chat.NormalizeRoomName(room)
	u, cred, ok := s.admitUpgrade(w, r)
	if !ok {
		return
	}
	if s.refuseWhileShuttingDown(w) {
		return
	}
	// A room the user may not read does not exist, before any upgrade.
	place, err := s.can(r.Context(), u, room, chat.ActRead, chat.Target{})
	switch chat.ErrorCode(err) {
	case "":
	case chat.ENotFound:
		s.refuseUpgrade(w, http.StatusNotFound, "not_found", "No such room.")
		return
	default:
		s.log.Error("websocket room place", "room", room, "err", err)
		s.refuseUpgrade(w, http.StatusServiceUnavailable, "unavailable", "The room is not available now; try again shortly.")
		return
	}
	if unmadeDirect(room, place) {
		// Anyone can work out the name two people's conversation will
		// have: nobody waits for it on a socket.
		s.refuseUpgrade(w, http.StatusNotFound, "not_found", "No such room.")
		return
	}
	sc := &socket{registered: registered{s: s, user: newSocketUser(u), cred: cred}, room: room}
	sc.sock = sc
	sc.place.Store(&place)
	sc.ctx, sc.cancel = context.WithCancel(context.Background())
	// From here on every way out ends the connection, whose end (Closed)
	// takes the socket out of its room and of the registry. It is made
	// before the socket is registered: a revocation may close it from
	// then on.
	sc.conn = s.opt.Transport.NewConn(sc)
	if !s.register(w, &sc.registered) {
		return
	}
	sc.member, err = s.join(r, sc, place.Epoch)
	if err != nil {
		sc.conn.Abort()
		s.refuseUpgrade(w, http.StatusServiceUnavailable, "unavailable", "The room is not available now; try again shortly.")
		return
	}
	s.upgrade(w, r, &sc.registered)
}

// join records that the socket's user entered its room, if the room
// exists (a socket never makes a room: its first message does), and joins
// the socket to it before the upgrade is answered, so that the socket
// receives every message committed after its upgrade completes; frames
// wait in its queue until its connection starts. A broker or database
// that does not answer (a Redis gone silent) gets the client a 503 in
// bounded time, and the load balancer may send it elsewhere.
//
// epoch is the room's access epoch the socket's place was read under.
func (s *Server) join(r *http.Request, sc *socket, epoch int64) (*hub.Member, error) {
	exists, entered, err := s.opt.Store.Enter(r.Context(), sc.user.ID, sc.room)
	if err != nil {
		s.log.Error("websocket enter room", "room", sc.room, "err", err)
		return nil, err
	}
	if entered {
		s.roomsChanged(sc.user.Name, sc.room)
	}
	sc.roomExists.Store(exists)
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	// A socket without the extensions is the original client's, or
	// speaks as it does: its live messages wait for its first history
	// answer (docs/PROTOCOL.md, The original client).
	ext := wsock.Offers(r, Subprotocol)
	m, err := s.opt.Hub.Join(ctx, hub.Joining{Room: sc.room, User: sc.user.Name, Extensions: ext, Hold: !ext, Sink: sc.conn,
		Epoch: epoch, Stale: func() {
			s.metrics.wsErrors.WithLabelValues("room_changed").Inc()
			sc.close(StatusRoomChanged, "room changed")
		}})
	if err != nil {
		s.log.Error("websocket join", "room", sc.room, "err", err)
	}
	return m, err
}

// admitUpgrade makes the checks every socket's upgrade passes before
// anything of its own: the request is a WebSocket upgrade, its
// credentials name a user, and a cookie's request comes from this site
// (a bearer token is not sent by a browser on its own). A refused
// request is answered, and ok is false.
func (s *Server) admitUpgrade(w http.ResponseWriter, r *http.Request) (u chat.User, cred credential, ok bool) {
	if !wsock.IsUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Sec-WebSocket-Version", "13")
		s.refuseUpgrade(w, http.StatusUpgradeRequired, "bad_request", "This address takes WebSocket (version 13) upgrades only.")
		return u, cred, false
	}
	u, cred, err := s.authenticate(r)
	if err != nil {
		if httpStatus(err) >= 500 {
			s.log.Error("websocket auth", "err", err)
			s.refuseUpgrade(w, http.StatusServiceUnavailable, "unavailable", "Try again shortly.")
			return u, cred, false
		}
		s.refuseUpgrade(w, http.StatusUnauthorized, "unauthorized", "Log in first: a session cookie or a bearer token is needed.")
		return u, cred, false
	}
	if cred.from == authCookie && !s.sameOrigin(r) {
		s.refuseUpgrade(w, http.StatusForbidden, "forbidden", "WebSocket from a foreign origin refused.")
		return u, cred, false
	}
	return u, cred, true
}

// refuseWhileShuttingDown refuses an upgrade once the server is shutting
// down, and says whether it did.
func (s *Server) refuseWhileShuttingDown(w http.ResponseWriter) bool {
	select {
	case <-s.shutdown:
		s.refuseUpgrade(w, http.StatusServiceUnavailable, "unavailable", "The server is shutting down.")
		return true
	default:
		return false
	}
}

// register adds a socket to the registry within the server's and the
// user's caps of sockets; a socket over a cap is aborted and its upgrade
// refused, and register returns false.
func (s *Server) register(w http.ResponseWriter, sc *registered) bool {
	switch s.sockets.add(sc, s.opt.MaxSockets, s.opt.UserSockets) {
	case http.StatusServiceUnavailable:
		sc.conn.Abort()
		s.refuseUpgrade(w, http.StatusServiceUnavailable, "too_many_sockets", "The server is full; try again shortly.")
		return false
	case http.StatusTooManyRequests:
		sc.conn.Abort()
		s.refuseUpgrade(w, http.StatusTooManyRequests, "too_many_sockets", "Too many open sockets; close some and try again.")
		return false
	}
	return true
}

// upgrade answers the upgrade of a registered socket and starts its
// connection; a failed upgrade (the client was answered) aborts it.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, sc *registered) {
	nc, first, err := wsock.Upgrade(w, r, Subprotocol)
	if err != nil {
		sc.conn.Abort()
		return
	}
	if err := sc.conn.Start(nc, first); err != nil {
		s.log.Error("websocket open", "err", err)
	}
}

// refuseUpgrade answers a WebSocket upgrade that is refused.
func (s *Server) refuseUpgrade(w http.ResponseWriter, status int, code, msg string) {
	s.metrics.upgradesRefused.WithLabelValues(code).Inc()
	writeAPIError(w, status, code, msg)
}

// registered is what the registry knows of a socket, a room socket's or
// a user stream's: its connection, its user and what opened it. A user
// stream has this alone (128 bytes), not a whole socket (320).
type registered struct {
	s    *Server
	conn *wsock.Conn
	user socketUser
	cred credential // what opened it; its end closes the socket
	// sock is the room socket this is of; nil for a user stream.
	sock   *socket
	expiry int32 // its index in the registry's expiries, or -1
	// revoked is set once the credential has ended: nothing the client
	// sends is acted on after.
	revoked atomic.Bool
}

// socket is one WebSocket of a user in a room: it turns the client's
// frames into commands and answers them. Its connection (the transport)
// and its membership of the room (the hub) are its own; it holds no
// goroutine while idle.
type socket struct {
	registered
	member *hub.Member
	room   string
	// roomExists says the room existed when the socket joined, or has
	// since: a message into a room that does not exist makes it, within
	// the user's room limit, and only such a message is checked for it.
	roomExists atomic.Bool
	// place is the user's place in the room (chat.Can), as the upgrade
	// read it; nil once a change of the room made it stale
	// (recheckRoom), until the next frame that needs it reads it again.
	// placeGen counts those changes.
	place    atomic.Pointer[chat.Place]
	placeGen atomic.Uint64
	ctx      context.Context // ends once the socket ended and its messages are settled
	cancel   context.CancelFunc

	// The reader's state: messages come one at a time.
	strikes    int
	lastTyping time.Time
	history    bucket // the socket's allowance of history requests

	readMu    sync.Mutex
	readSeq   int64       // the highest seq the client reported read
	readAt    int64       // when the marker was last written (unix ns)
	readTimer *time.Timer // a write is due

	ackMu   sync.Mutex
	ackIdle chan struct{} // made by waitAcks, closed when ackN drops to 0
	acks    chan ackJob   // created at the first message
	ackN    int           // messages queued or being settled
	onIdle  func()        // run when ackN drops to 0: the socket's end
}

// Message handles one message from the client (wsock.Handler).
func (sc *socket) Message(_ *wsock.Conn, binary bool, data []byte) {
	if binary {
		sc.sendError("bad_request", "Frames are JSON text.", "")
		return
	}
	sc.handle(sc.ctx, data)
}

// Closed ends the socket once its connection has ended (wsock.Handler):
// once the messages it sent are settled, it leaves its room and the
// registry, and its context ends.
func (sc *socket) Closed(*wsock.Conn) {
	sc.flushRead()
	sc.afterAcks(func() {
		sc.cancel()
		if sc.member != nil {
			sc.member.Leave()
		}
		sc.s.sockets.remove(&sc.registered)
	})
}

// close closes the socket with code after what it was sent, held messages
// included.
func (sc *registered) close(code int, reason string) {
	if sc.sock != nil && sc.sock.member != nil {
		sc.sock.member.Unhold()
	}
	sc.conn.Close(code, reason)
}

// send queues a frame for this socket alone.
func (sc *registered) send(frame []byte) { sc.conn.Send(wsock.Text(frame)) }

// socketUser is what a socket keeps of its user, as it was when the
// socket opened (a change of role reconnects it: revoke.go): not the
// whole chat.User, whose creation time and state every idle socket would
// carry for nothing.
type socketUser struct {
	ID   int64
	Name string
	Role chat.Role
}

// newSocketUser is what a socket keeps of u.
func newSocketUser(u chat.User) socketUser { return socketUser{ID: u.ID, Name: u.Name, Role: u.Role} }

func (u socketUser) chatUser() chat.User { return chat.User{ID: u.ID, Name: u.Name, Role: u.Role} }

// inFrame is any frame a client sends.
type inFrame struct {
	Command  string  `json:"command"`
	Message  *string `json:"message"`
	ClientID string  `json:"client_id"`
	// Seq is what read has read to, and the message a change or
	// fetch_versions names.
	Seq     int64  `json:"seq"`
	Emoji   string `json:"emoji"`
	ReplyTo int64  `json:"reply_to"`
	fetchRequest
}

// changeKind is the kind of change a command that changes a message
// makes (docs/PROTOCOL.md, Room events).
func changeKind(command string) chat.ChangeKind {
	switch command {
	case "edit_message":
		return chat.ChangeEdit
	case "delete_message":
		return chat.ChangeDelete
	case "react":
		return chat.ChangeReact
	case "unreact":
		return chat.ChangeUnreact
	}
	return ""
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
	f, ok := decodeFrameFast(data)
	if !ok {
		var ferr *frameError
		if f, ferr = decodeFrameJSON(data); ferr != nil {
			return inFrame{}, ferr
		}
	}
	switch f.Command {
	case "fetch_messages":
	case "new_message":
		if f.Message == nil {
			return inFrame{}, badFrame("new_message needs a \"message\" string.", f.ClientID)
		}
	case "typing", "read", "fetch_versions", "edit_message", "delete_message", "react", "unreact":
		if !extensions {
			return inFrame{}, badFrame("Unknown command \""+f.Command+"\" (extensions need the parley.v1 subprotocol).", "")
		}
		switch f.Command {
		case "read":
			if f.Seq < 0 {
				return inFrame{}, badFrame("seq must be at least 0.", "")
			}
		case "fetch_versions":
			if f.Seq < 1 {
				return inFrame{}, badFrame("fetch_versions needs the \"seq\" of a message.", "")
			}
		case "edit_message":
			if f.Message == nil {
				return inFrame{}, badFrame("edit_message needs a \"message\" string: the new content.", f.ClientID)
			}
		}
	case "":
		return inFrame{}, badFrame("The frame has no command.", f.ClientID)
	default:
		return inFrame{}, badFrame("Unknown command.", f.ClientID)
	}
	return f, nil
}

// decodeFrameFast reads the frame a client sends most, a message with
// its command and client_id (and the original client's "from"), by hand:
// it declines anything else, or anything it would not read exactly as
// encoding/json does (wirejson).
func decodeFrameFast(data []byte) (inFrame, bool) {
	var f inFrame
	sc := wirejson.Scanner{B: data}
	ok := sc.Object(func(key []byte) bool {
		switch string(key) {
		case "command":
			return sc.String(&f.Command)
		case "message":
			var m string
			f.Message = &m
			return sc.String(&m)
		case "client_id":
			return sc.String(&f.ClientID)
		case "seq":
			return sc.Int(&f.Seq)
		case "emoji":
			return sc.String(&f.Emoji)
		case "reply_to":
			return sc.Int(&f.ReplyTo)
		case "from": // the original client's: ignored
			_, ok := sc.Raw()
			return ok
		}
		return false
	})
	return f, ok && sc.Done()
}

// decodeFrameJSON reads a frame with encoding/json; a frame it cannot
// read is refused with what was wrong.
func decodeFrameJSON(data []byte) (inFrame, *frameError) {
	var f inFrame
	if err := json.Unmarshal(data, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return inFrame{}, badFrame("Bad field: "+jsonProblem(err), f.ClientID)
		}
		// A syntax error, or JSON that is not an object (te.Field "").
		return inFrame{}, badFrame("The frame is not a JSON object.", "")
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
	Command  string        `json:"command"`
	Before   *int64        `json:"before,omitempty"`
	After    *int64        `json:"after,omitempty"`
	Around   *int64        `json:"around,omitempty"`
	Messages messageList   `json:"messages"`
	Changes  []chat.Change `json:"changes,omitempty"`
	HasMore  bool          `json:"has_more"`
	HasNewer *bool         `json:"has_newer,omitempty"`
}

// messageList encodes messages as the original protocol has them or, if
// full, with Parley's fields.
type messageList struct {
	msgs []chat.Message
	full bool
}

func (l messageList) MarshalJSON() ([]byte, error) {
	n := 2
	for i := range l.msgs {
		n += 200 + len(l.msgs[i].Content)
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i := range l.msgs {
		if i > 0 {
			b = append(b, ',')
		}
		if l.full {
			b = l.msgs[i].AppendFullJSON(b)
		} else {
			b = l.msgs[i].AppendJSON(b)
		}
	}
	return append(b, ']'), nil
}

type versionsFrame struct {
	Command  string         `json:"command"`
	Seq      int64          `json:"seq"`
	Versions []chat.Version `json:"versions"`
}

type errorFrame struct {
	Command  string `json:"command"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	ClientID string `json:"client_id,omitempty"`
	// RetryAfter, on a rate_limited error, is how many seconds to wait.
	RetryAfter int `json:"retry_after,omitempty"`
}

// plainErrorFrame is an error as a socket without the extensions gets it:
// the original client renders every frame that is not "messages" as a
// chat line from message.author, .timestamp and .content, so the error
// is one; a program still reads command and code.
type plainErrorFrame struct {
	Command    string           `json:"command"`
	Code       string           `json:"code"`
	Message    plainErrorDetail `json:"message"`
	ClientID   string           `json:"client_id,omitempty"`
	RetryAfter int              `json:"retry_after,omitempty"`
}

type plainErrorDetail struct {
	Author    string `json:"author"`
	Content   string `json:"content"`
	Timestamp string `json:"timestamp"`
}

// errorAuthor signs the errors a socket without the extensions gets.
const errorAuthor = "Parley"

// handle acts on one frame.
func (sc *socket) handle(ctx context.Context, data []byte) {
	if sc.revoked.Load() {
		return // closing: its credential has ended
	}
	f, ferr := decodeFrame(data, sc.member.Extensions())
	if ferr != nil {
		sc.sendError(ferr.Code, ferr.Message, ferr.ClientID)
		return
	}
	if f.Command != "fetch_messages" {
		// A socket whose first request is not for history is not the
		// original page (it fetches on open): its live messages need not
		// wait.
		sc.member.Unhold()
	}
	switch f.Command {
	case "fetch_messages":
		sc.fetch(ctx, f)
	case "fetch_versions":
		sc.versions(ctx, f.Seq)
	case "new_message":
		sc.newMessage(ctx, f)
	case "edit_message", "delete_message", "react", "unreact":
		sc.change(ctx, f)
	case "typing":
		// At most one a second, and only from someone who may post there
		// (not a muted user, nor anyone in an archived room): the place
		// is the socket's, read once.
		now := time.Now()
		if now.Sub(sc.lastTyping) < typingEvery {
			return
		}
		if _, err := sc.currentPlace(ctx, chat.ActPost); err != nil {
			return
		}
		sc.lastTyping = now
		_ = sc.s.opt.Hub.Publish(ctx, broker.Event{Room: sc.room, Kind: broker.KindTyping, User: sc.user.Name})
	case "read":
		sc.markRead(f.Seq)
	}
}

// bucket is a socket's allowance of history requests (--history-limit):
// a token bucket in 16 bytes, for the reader's goroutine alone. Each
// socket has its own, so a bot's hundred sockets that reconnect at once
// each get their first pages.
type bucket struct {
	spent float64 // tokens spent, less what has refilled since at
	at    int64   // when spent was last brought up to date (unix ns)
}

// take spends a token of rate's bucket if one is left at now; a rate of
// 0 per second is no limit.
func (b *bucket) take(now time.Time, rate limit.Rate) bool {
	if rate.PerSecond == 0 {
		return true
	}
	ns := now.UnixNano()
	if b.at != 0 {
		b.spent = max(0, b.spent-time.Duration(ns-b.at).Seconds()*rate.PerSecond)
	}
	b.at = ns
	if b.spent+1 > float64(rate.Burst) {
		return false
	}
	b.spent++
	return true
}

// wait is how long after the last take a token is left again.
func (b *bucket) wait(rate limit.Rate) time.Duration {
	over := b.spent + 1 - float64(rate.Burst)
	return time.Duration(max(0, over) / rate.PerSecond * float64(time.Second))
}

// readEvery is how often a socket's read marker is written at most: a
// client that reports every message it shows costs a write a second, not
// one per message.
const readEvery = time.Second

// markRead records that the user has read the room up to seq: now, or, if
// the marker was written less than readEvery ago, then, with the highest
// seq reported meanwhile. The socket's end writes what is pending.
func (sc *socket) markRead(seq int64) {
	sc.readMu.Lock()
	defer sc.readMu.Unlock()
	if seq <= sc.readSeq {
		return
	}
	sc.readSeq = seq
	if sc.readTimer != nil {
		return // a write is due; it takes the highest seq
	}
	wait := readEvery - time.Duration(time.Now().UnixNano()-sc.readAt)
	if wait <= 0 {
		wait = 0
	}
	sc.readTimer = time.AfterFunc(wait, sc.writeRead)
}

// writeRead writes the pending read marker.
func (sc *socket) writeRead() {
	sc.readMu.Lock()
	seq := sc.readSeq
	sc.readTimer, sc.readAt = nil, time.Now().UnixNano()
	sc.readMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sc.s.opt.Store.MarkRead(ctx, sc.user.ID, sc.room, seq); err != nil {
		sc.s.log.Warn("mark read", "room", sc.room, "err", err)
		return
	}
	sc.s.readMoved(sc.user.Name, sc.room, seq)
}

// flushRead writes a pending read marker at once, as the socket ends.
func (sc *socket) flushRead() {
	sc.readMu.Lock()
	pending := sc.readTimer != nil && sc.readTimer.Stop()
	sc.readMu.Unlock()
	if pending {
		sc.writeRead()
	}
}

func (sc *socket) fetch(ctx context.Context, f inFrame) {
	if _, err := sc.currentPlace(ctx, chat.ActRead); err != nil {
		sc.sendErr(err, "")
		return
	}
	if rate := sc.s.historyRate(); !sc.history.take(time.Now(), rate) {
		sc.sendErrWait(chat.Errorf(chat.ERateLimited, "Too many history requests; wait a moment."), "", sc.history.wait(rate))
		return
	}
	full := sc.member.Extensions()
	req := f.fetchRequest
	if req.Before == nil && req.After == nil && req.Around == nil {
		// The latest messages, for a held socket: those the room has
		// fanned out, all of them sent in its first answer, however busy
		// the room (the messages committed meanwhile come live).
		if below, ok := sc.member.HeldBelow(); ok {
			req.Before = &below
		}
	}
	h, err := sc.s.fetch(ctx, sc.room, req, full)
	if err != nil {
		sc.sendErr(err, "")
		return
	}
	if !sc.stillReads(ctx, h.lastSeq()) {
		return
	}
	// One answer at a time: the next request is not read until this one
	// is written, so a client that asks and does not read holds one
	// answer of the server's memory, not hundreds.
	defer sc.conn.WaitWritten()
	answer := func(msgs []chat.Message) []byte {
		return wsock.Text(hub.EncodeFrame(messagesFrame{Command: "messages", Before: f.Before, After: f.After,
			Around: f.Around, Messages: messageList{msgs, full}, Changes: h.Changes, HasMore: h.HasMore, HasNewer: h.HasNewer}))
	}
	// A held socket's first answer ends where its live messages begin.
	if !sc.member.Release(h.Messages, answer) {
		sc.conn.Send(answer(h.Messages))
	}
}

// versions answers fetch_versions: every version of a message's content.
func (sc *socket) versions(ctx context.Context, seq int64) {
	if _, err := sc.currentPlace(ctx, chat.ActRead); err != nil {
		sc.sendErr(err, "")
		return
	}
	if rate := sc.s.historyRate(); !sc.history.take(time.Now(), rate) {
		sc.sendErrWait(chat.Errorf(chat.ERateLimited, "Too many history requests; wait a moment."), "", sc.history.wait(rate))
		return
	}
	v, err := sc.s.opt.Store.Versions(ctx, sc.room, seq)
	if err != nil {
		sc.sendErr(err, "")
		return
	}
	if len(v) > 0 && !sc.stillReads(ctx, v[len(v)-1].Rev) { // the current version, the latest
		return
	}
	sc.send(hub.EncodeFrame(versionsFrame{Command: "versions", Seq: seq, Versions: v}))
}

func (sc *socket) newMessage(ctx context.Context, f inFrame) {
	// The author is the authenticated user; a "from" field is ignored.
	// A message read is stored even if the socket ends meanwhile (its
	// client hung up right after sending): a retry with the same
	// client_id finds it.
	place, ok := sc.writePlace(ctx, f.ClientID)
	if !ok {
		return
	}
	// A room that did not exist when the socket joined exists once the
	// room has sent a message; until then this message would make it.
	create := !sc.roomExists.Load()
	if create && sc.member.Passed(1) {
		sc.roomExists.Store(true)
		create = false
	}
	sub, wait, err := sc.s.submit(context.WithoutCancel(ctx), sc.user.chatUser(), place,
		chat.NewMessage{Room: sc.room, Content: *f.Message, ClientID: f.ClientID, ReplyTo: f.ReplyTo}, create)
	if err == nil && create {
		sc.roomExists.Store(true) // the messages after it go into the room it makes
		sc.forgetPlace()          // whose owner may be this user now
	}
	sc.submitted(ackJob{sub: sub, clientID: f.ClientID, create: create}, err, wait)
}

// writePlace is the socket's place in its room for a frame that writes
// (a message, a change): ok is false, and the client told why, if the
// credential ended while the frame was read or the room may no longer be
// read.
func (sc *socket) writePlace(ctx context.Context, clientID string) (place chat.Place, ok bool) {
	if sc.revoked.Load() {
		return place, false // its credential ended while the frame was read
	}
	place, err := sc.currentPlace(ctx, chat.ActRead)
	if err != nil {
		sc.sendErr(err, clientID)
		return place, false
	}
	return place, true
}

// change submits a change to a message: acknowledged, like a message, by
// the broadcast of its change frame, the sender's included. A change
// never makes a room: one to a room that does not exist is not_found.
func (sc *socket) change(ctx context.Context, f inFrame) {
	place, ok := sc.writePlace(ctx, f.ClientID)
	if !ok {
		return
	}
	c := chat.NewChange{Room: sc.room, Kind: changeKind(f.Command), Target: f.Seq, Emoji: f.Emoji, ClientID: f.ClientID}
	if f.Message != nil {
		c.Content = *f.Message
	}
	sub, wait, err := sc.s.submitChange(context.WithoutCancel(ctx), sc.user.chatUser(), place, c)
	sc.submitted(ackJob{sub: sub, clientID: f.ClientID, change: true}, err, wait)
}

// submitted hands a message or change that was submitted to the settler,
// or answers its refusal (err; wait: how long to wait, for one too fast),
// counting refusals for being too fast: a socket that keeps sending past
// them is closed.
func (sc *socket) submitted(j ackJob, err error, wait time.Duration) {
	if err != nil {
		sc.sendErrWait(err, j.clientID, wait)
		if chat.ErrorCode(err) == chat.ERateLimited {
			sc.strikes++
			if sc.strikes >= floodStrikes {
				sc.s.metrics.wsErrors.WithLabelValues("flood_closed").Inc()
				sc.waitAcks() // the accepted ones are acknowledged first
				sc.close(wsock.StatusPolicyViolation, "sending too fast")
			}
		}
		return
	}
	sc.strikes = 0
	sc.settleLater(j)
}

// maxInFlight is how many of a socket's messages may wait for their commit
// at once. The reader goes on reading while they do, so one busy socket
// fills a batch, not one message per commit; past it the reader waits.
const maxInFlight = 16

// ackJob is a message or change of this socket on its way to the store.
type ackJob struct {
	sub      submission
	clientID string
	change   bool // a change to a message, not a new message
	create   bool // a new message that makes the room
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
		go sc.settler()
	}
	sc.acks <- j
}

func (sc *socket) settler() {
	for {
		j := <-sc.acks
		if j.change {
			sc.settledChange(j)
		} else {
			m, created, err := sc.s.settle(j.sub)
			switch {
			case err != nil:
				if j.create {
					sc.roomExists.Store(false) // the room may not be made
				}
				sc.sendErr(err, j.clientID)
			case !created && sc.member.Passed(m.Seq):
				// A retry: the sender gets the stored message back —
				// directly if the room sent it already, else through the
				// room, so that it never arrives ahead of the messages
				// before it.
				sc.send(hub.MessageFrame(m, sc.member.Extensions()))
			}
		}
		sc.ackMu.Lock()
		sc.ackN--
		idle := sc.ackN == 0
		var then func()
		if idle {
			if sc.ackIdle != nil {
				close(sc.ackIdle)
				sc.ackIdle = nil
			}
			then, sc.onIdle = sc.onIdle, nil
		}
		sc.ackMu.Unlock()
		if idle {
			if then != nil {
				then()
			}
			return
		}
	}
}

// settledChange answers a change once it is settled. One that took no
// seq gets the stored change that did it, with the sender's client_id,
// once the room has sent this socket that change: so it never arrives
// ahead of the entries before it. (One whose client_id was the stored
// one's and that the room has yet to send needs no answer of its own: the
// room's is it.)
func (sc *socket) settledChange(j ackJob) {
	c, created, err := sc.s.settleChange(j.sub)
	switch {
	case err != nil:
		sc.sendErr(err, j.clientID)
	case created:
	case c.ClientID == j.clientID && !sc.member.Passed(c.Seq):
	default:
		c.ClientID = j.clientID
		sc.member.SendAfter(c.Seq, hub.ChangeFrame(c))
	}
}

// waitAcks waits until every message the socket sent is settled. Only
// the reader calls it, so one waits at a time.
func (sc *socket) waitAcks() {
	sc.ackMu.Lock()
	if sc.ackN == 0 {
		sc.ackMu.Unlock()
		return
	}
	if sc.ackIdle == nil {
		sc.ackIdle = make(chan struct{})
	}
	idle := sc.ackIdle
	sc.ackMu.Unlock()
	<-idle
}

// afterAcks runs f once every message the socket sent is settled: now,
// or when the last one is.
func (sc *socket) afterAcks(f func()) {
	sc.ackMu.Lock()
	if sc.ackN > 0 {
		sc.onIdle = f
		sc.ackMu.Unlock()
		return
	}
	sc.ackMu.Unlock()
	f()
}

// sendErr sends err as an error frame, in the protocol's codes.
func (sc *socket) sendErr(err error, clientID string) { sc.sendErrWait(err, clientID, 0) }

// sendErrWait is sendErr for a refusal that says how long to wait: a
// rate_limited frame carries it as retry_after, in whole seconds.
func (sc *socket) sendErrWait(err error, clientID string, wait time.Duration) {
	code := chat.ErrorCode(err)
	switch code {
	case chat.EInvalid, chat.EConflict:
		code = "bad_request"
	case chat.ETooLong, chat.ERateLimited, chat.ENotFound, chat.EForbidden:
	default:
		sc.s.log.Error("websocket command failed", "room", sc.room, "user", sc.user.Name, "err", err)
		code = "internal"
	}
	retry := 0
	if code == chat.ERateLimited && wait > 0 {
		retry = retrySeconds(wait)
	}
	sc.sendFrame(code, chat.ErrorMessage(err), clientID, retry)
}

func (sc *socket) sendError(code, msg, clientID string) { sc.sendFrame(code, msg, clientID, 0) }

// sendFrame sends an error frame, in the shape the socket speaks.
func (sc *socket) sendFrame(code, msg, clientID string, retryAfter int) {
	if chat.CheckClientID(clientID) != nil {
		clientID = "" // not echoed: it is the thing that was wrong
	}
	sc.s.metrics.wsErrors.WithLabelValues(code).Inc()
	if sc.member.Extensions() {
		sc.send(hub.EncodeFrame(errorFrame{Command: "error", Code: code, Message: msg, ClientID: clientID, RetryAfter: retryAfter}))
		return
	}
	sc.send(hub.EncodeFrame(plainErrorFrame{Command: "error", Code: code, ClientID: clientID, RetryAfter: retryAfter,
		Message: plainErrorDetail{Author: errorAuthor, Content: msg, Timestamp: time.Now().UTC().Format(chat.TimestampFormat)}}))
}
