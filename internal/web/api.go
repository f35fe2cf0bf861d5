package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"parley/internal/chat"
	"parley/internal/store"
)

type apiErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // as chat.EncodeJSON: JSON, never HTML
	_ = enc.Encode(v)
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	var b apiErrorBody
	b.Error.Code, b.Error.Message = code, msg
	writeJSON(w, status, b)
}

// httpStatus is the HTTP status for an error of the chat vocabulary.
func httpStatus(err error) int {
	switch chat.ErrorCode(err) {
	case chat.EInvalid, chat.ETooLong:
		return http.StatusBadRequest
	case chat.EUnauthorized:
		return http.StatusUnauthorized
	case chat.EForbidden:
		return http.StatusForbidden
	case chat.ENotFound:
		return http.StatusNotFound
	case chat.EConflict:
		return http.StatusConflict
	case chat.ERateLimited:
		return http.StatusTooManyRequests
	case chat.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// apiError answers err in the API's error shape, logging internal errors.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := httpStatus(err), chat.ErrorCode(err)
	if status >= 500 {
		s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
	}
	s.metrics.httpErrors.WithLabelValues(code).Inc()
	writeAPIError(w, status, code, chat.ErrorMessage(err))
}

// decodeJSON reads a request body of one JSON object into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/json") {
		return chat.Errorf(chat.EInvalid, "The body must be JSON (Content-Type: application/json).")
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errBodyTooLarge
		}
		if errors.Is(err, io.EOF) {
			return chat.Errorf(chat.EInvalid, "The body is empty; send a JSON object.")
		}
		return chat.Errorf(chat.EInvalid, "The body is not valid JSON: %s", jsonProblem(err))
	}
	if dec.More() {
		return chat.Errorf(chat.EInvalid, "The body must hold one JSON object.")
	}
	return nil
}

var errBodyTooLarge = errors.New("body too large")

// jsonProblem says what is wrong with a JSON document without echoing it.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "it must be a JSON object." // not "must be a web.credentials"
		}
		// A field of an embedded struct has the Go type in its path
		// ("fetchRequest.limit"); the client knows only the last name.
		field := te.Field[strings.LastIndexByte(te.Field, '.')+1:]
		return "field " + strconv.Quote(field) + " must be a " + te.Type.String() + "."
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10) + "."
	}
	return "it could not be read."
}

type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	err := decodeJSON(w, r, v)
	if err == errBodyTooLarge {
		s.tooLarge(w, r)
		return false
	}
	if err != nil {
		s.apiError(w, r, err)
		return false
	}
	return true
}

// signupRequest is POST /api/v1/signup's body: invite is the code of an
// invite link (/join/CODE), needed unless sign-up is open.
type signupRequest struct {
	credentials
	Invite string `json:"invite"`
}

func (s *Server) handleAPISignup(w http.ResponseWriter, r *http.Request) {
	var c signupRequest
	if !s.readJSON(w, r, &c) {
		return
	}
	u, wait, err := s.signup(r, c.Username, c.Password, c.Invite)
	if err != nil {
		if wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
		}
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"username": u.Name})
}

func (s *Server) handleAPIToken(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if !s.readJSON(w, r, &c) {
		return
	}
	u, err := s.login(w, r, c.Username, c.Password)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	tok, err := s.newSecret(r, u, store.KindToken, tokenTTL)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"token": tok})
}

func (s *Server) handleAPIRevokeToken(w http.ResponseWriter, r *http.Request, u chat.User) {
	_, cred, _ := s.authenticate(r)
	if cred.from != authBearer {
		s.apiError(w, r, chat.Errorf(chat.EInvalid, "Only a bearer token can revoke itself; log out to end a session."))
		return
	}
	existed, err := s.opt.Store.DeleteSession(r.Context(), cred.hash)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if existed {
		s.revoke([][]byte{cred.hash})
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleAPIRevokeTokens revokes every token of the caller's, the one the
// request carries included, and closes their sockets.
func (s *Server) handleAPIRevokeTokens(w http.ResponseWriter, r *http.Request, u chat.User) {
	gone, err := s.opt.Store.DeleteUserSessions(r.Context(), u.ID, store.KindToken, nil)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.revoke(gone)
	writeJSON(w, http.StatusOK, map[string]int{"revoked": len(gone)})
}

type roomsResponse struct {
	Rooms []apiRoom `json:"rooms"`
}

// apiRoom is a room as the API lists it: with the caller's unread count.
type apiRoom struct {
	chat.Room
	Unread int64 `json:"unread"`
}

func (s *Server) handleAPIRooms(w http.ResponseWriter, r *http.Request, u chat.User) {
	rooms, err := s.opt.Store.RoomsFor(r.Context(), u.ID, strings.TrimSpace(r.URL.Query().Get("q")), 100)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	unread, err := s.unread(r.Context(), u)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]apiRoom, 0, len(rooms))
	for _, rm := range rooms {
		out = append(out, apiRoom{Room: rm, Unread: unread[rm.Name]})
	}
	writeJSON(w, http.StatusOK, roomsResponse{Rooms: out})
}

type createRoomRequest struct {
	Name string        `json:"name"`
	Kind chat.RoomKind `json:"kind"` // public (the default) or private
}

// handleAPICreateRoom makes a room (POST /api/v1/rooms {"name"}): 201
// and the room if it made it, 200 and the room if it existed, within the
// caller's room limit.
func (s *Server) handleAPICreateRoom(w http.ResponseWriter, r *http.Request, u chat.User) {
	var req createRoomRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if req.Kind == "" {
		req.Kind = chat.RoomPublic
	}
	rm, created, wait, err := s.createRoom(r.Context(), u, strings.TrimSpace(req.Name), req.Kind)
	if err != nil {
		if wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
		}
		s.apiError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	unread, err := s.unread(r.Context(), u)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, status, apiRoom{Room: rm, Unread: unread[rm.Name]})
}

// handleAPILeaveRoom takes the room out of the caller's rooms (DELETE
// /api/v1/rooms/{room}/membership): 204, whether they were in it or not.
func (s *Server) handleAPILeaveRoom(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place) {
	if err := s.leave(r.Context(), u, room, p); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type messagesResponse struct {
	Messages fullMessages  `json:"messages"`
	Changes  []chat.Change `json:"changes,omitempty"`
	HasMore  bool          `json:"has_more"`
	HasNewer *bool         `json:"has_newer,omitempty"`
}

// fullMessages encodes messages with every field (docs/API.md).
type fullMessages []chat.Message

func (l fullMessages) MarshalJSON() ([]byte, error) { return messageList{l, true}.MarshalJSON() }

// fullMessage encodes a message with every field.
type fullMessage chat.Message

func (m fullMessage) MarshalJSON() ([]byte, error) { return chat.Message(m).AppendFullJSON(nil), nil }

func (s *Server) handleAPIMessages(w http.ResponseWriter, r *http.Request, u chat.User, room string, _ chat.Place) {
	var f fetchRequest
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		dst  **int64
	}{{"before", &f.Before}, {"after", &f.After}, {"around", &f.Around}} {
		if !q.Has(p.name) {
			continue
		}
		n, err := strconv.ParseInt(q.Get(p.name), 10, 64)
		if err != nil {
			s.apiError(w, r, chat.Errorf(chat.EInvalid, "%s must be a whole number.", p.name))
			return
		}
		*p.dst = &n
	}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil {
			s.apiError(w, r, chat.Errorf(chat.EInvalid, "limit must be a whole number from 1 to %d.", chat.MaxFetchLimit))
			return
		}
		f.Limit = &n
	}
	if !s.allowHistory(w, r, u) {
		return
	}
	h, err := s.fetch(r.Context(), room, f, true)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, messagesResponse{Messages: h.Messages, Changes: h.Changes, HasMore: h.HasMore, HasNewer: h.HasNewer})
}

// allowHistory spends one of u's history requests, answering 429 past the
// limit.
func (s *Server) allowHistory(w http.ResponseWriter, r *http.Request, u chat.User) bool {
	if ok, wait := s.histories.allow(r.Context(), u.Name); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
		s.apiError(w, r, chat.Errorf(chat.ERateLimited, "Too many history requests; wait a moment."))
		return false
	}
	return true
}

type postMessageRequest struct {
	Content  string `json:"content"`
	ClientID string `json:"client_id"`
	ReplyTo  int64  `json:"reply_to"`
}

func (s *Server) handleAPIPostMessage(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place) {
	var req postMessageRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	m, created, wait, err := s.post(r.Context(), u, p, chat.NewMessage{Room: room, Content: req.Content, ClientID: req.ClientID, ReplyTo: req.ReplyTo})
	if err != nil {
		if wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
		}
		s.apiError(w, r, err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK // a retry of a stored message
	}
	if !p.Member {
		// The message made the room one of the poster's: their user
		// streams list it.
		s.roomsChanged(u.Name, room)
	}
	writeJSON(w, status, fullMessage(m))
}

// changeRequest is the body of a call that changes a message: content for
// an edit, client_id for any. Only an edit needs a body.
type changeRequest struct {
	Content  *string `json:"content"`
	ClientID string  `json:"client_id"`
}

// messageSeq reads the {seq} of a message's path: a bad one is a 404, as
// a message that is not there.
func messageSeq(r *http.Request) (int64, error) {
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		return 0, chat.Errorf(chat.ENotFound, "No such message: a message is named by its seq, a number from 1.")
	}
	return seq, nil
}

// handleAPIChange applies the change of kind that the request makes to
// the message of its path: 201 and the change, or 200 and the stored
// change when it took no seq.
func (s *Server) handleAPIChange(kind chat.ChangeKind) roomHandler {
	return func(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place) {
		seq, err := messageSeq(r)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		var req changeRequest
		if kind == chat.ChangeEdit || r.ContentLength != 0 {
			if !s.readJSON(w, r, &req) {
				return
			}
		}
		c := chat.NewChange{Room: room, Kind: kind, Target: seq, Emoji: r.PathValue("emoji"), ClientID: req.ClientID}
		if kind == chat.ChangeEdit {
			if req.Content == nil {
				s.apiError(w, r, chat.Errorf(chat.EInvalid, "An edit needs \"content\": the new text."))
				return
			}
			c.Content = *req.Content
		}
		ch, created, wait, err := s.change(r.Context(), u, p, c)
		if err != nil {
			if wait > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
			}
			s.apiError(w, r, err)
			return
		}
		status := http.StatusCreated
		if !created {
			status = http.StatusOK // done before: the stored change
		}
		writeJSON(w, status, ch)
	}
}

type versionsResponse struct {
	Seq      int64          `json:"seq"`
	Versions []chat.Version `json:"versions"`
}

func (s *Server) handleAPIVersions(w http.ResponseWriter, r *http.Request, u chat.User, room string, _ chat.Place) {
	seq, err := messageSeq(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if !s.allowHistory(w, r, u) {
		return
	}
	v, err := s.opt.Store.Versions(r.Context(), room, seq)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, versionsResponse{Seq: seq, Versions: v})
}

func (s *Server) handleAPINotFound(w http.ResponseWriter, r *http.Request) {
	writeAPIError(w, http.StatusNotFound, chat.ENotFound, "No such API call: "+r.Method+" "+r.URL.Path)
}
