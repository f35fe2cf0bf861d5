package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"parley/internal/auth"
	"parley/internal/chat"
	"parley/internal/store"
)

const (
	sessionCookie = "sessionid" // the original application's (Django's) name
	sessionTTL    = 14 * 24 * time.Hour
	tokenTTL      = 365 * 24 * time.Hour
)

// authFrom says how a request was authenticated.
type authFrom int

const (
	authNone authFrom = iota
	authCookie
	authBearer
)

// credential is what authenticated a request: a session cookie or a
// bearer token, by the hash the store keeps of it, and when it expires.
// Sockets are registered under it, so that its end closes them.
type credential struct {
	from    authFrom
	hash    []byte
	expires time.Time
}

// authenticate returns the request's user, from the bearer token if the
// request has an Authorization header, else from the session cookie,
// and the credential that says so.
func (s *Server) authenticate(r *http.Request) (chat.User, credential, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return chat.User{}, credential{}, chat.Errorf(chat.EUnauthorized, "The Authorization header must be \"Bearer TOKEN\".")
		}
		return s.authenticateBy(r, credential{from: authBearer, hash: auth.SecretHash(strings.TrimSpace(tok))}, store.KindToken)
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return chat.User{}, credential{}, chat.Errorf(chat.EUnauthorized, "Log in first.")
	}
	return s.authenticateBy(r, credential{from: authCookie, hash: auth.SecretHash(c.Value)}, store.KindSession)
}

// authenticateBy looks cred up as a credential of kind, and notes its use.
func (s *Server) authenticateBy(r *http.Request, cred credential, kind string) (chat.User, credential, error) {
	now := s.opt.Now()
	a, err := s.opt.Store.Authenticate(r.Context(), cred.hash, kind, now)
	if err != nil {
		return chat.User{}, cred, err
	}
	cred.expires = a.ExpiresAt
	s.uses.note(cred.hash, a.UsedAt, now)
	return a.User, cred, nil
}

// pageUser returns the logged-in user of a page request, or nil.
func (s *Server) pageUser(r *http.Request) *chat.User {
	if _, err := r.Cookie(sessionCookie); err != nil {
		return nil
	}
	u, cred, err := s.authenticate(r)
	if err != nil || cred.from != authCookie {
		return nil
	}
	return &u
}

type userHandler func(w http.ResponseWriter, r *http.Request, u chat.User)

// requireLogin sends visitors to the login page, to come back after.
func (s *Server) requireLogin(h userHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := s.pageUser(r)
		if u == nil {
			http.Redirect(w, r, "/accounts/login/?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return
		}
		h(w, r, *u)
	}
}

// requireAPIUser answers 401 to an API request without a valid session
// cookie or bearer token.
func (s *Server) requireAPIUser(h userHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, _, err := s.authenticate(r)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		h(w, r, u)
	}
}

type roomHandler func(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place)

// requireAPIRoom is requireAPIUser for calls on a room: a bad room name in
// the path is a 404; a good one is taken in lower case, and the caller's
// place in it read: a room the caller may not read (chat.Can) is a 404,
// as one that does not exist. The handler asks Can about what it does.
func (s *Server) requireAPIRoom(h roomHandler) http.HandlerFunc {
	return s.requireAPIRoomFor(chat.ActRead, h)
}

// requireAPIRoomFor is requireAPIRoom for calls that do a to the room
// rather than read it: the settings' changes, which an admin makes in a
// private room they are not in.
func (s *Server) requireAPIRoomFor(a chat.Action, h roomHandler) http.HandlerFunc {
	return s.requireAPIUser(func(w http.ResponseWriter, r *http.Request, u chat.User) {
		room := r.PathValue("room")
		if !chat.ValidRoomName(room) {
			s.apiError(w, r, chat.Errorf(chat.ENotFound, "No such room: a room name is 1 to 64 letters, digits, _ or -."))
			return
		}
		room = chat.NormalizeRoomName(room)
		p, err := s.can(r.Context(), u, room, a, chat.Target{})
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		h(w, r, u, room, p)
	})
}

// MaxCredentials is how many sessions, and how many tokens, one account
// holds at most: one more ends the oldest (and closes its sockets).
const MaxCredentials = 100

// newSecret stores a new session or token for u, with the address and
// browser of the request that asked for it, and returns its secret. Past
// MaxCredentials of its kind, the oldest ends.
func (s *Server) newSecret(r *http.Request, u chat.User, kind string, ttl time.Duration) (string, error) {
	ctx := r.Context()
	secret, err := auth.NewSecret()
	if err != nil {
		return "", err
	}
	now := s.opt.Now()
	err = s.opt.Store.CreateSession(ctx, store.Session{
		Hash: auth.SecretHash(secret), UserID: u.ID, Kind: kind, CreatedAt: now, ExpiresAt: now.Add(ttl),
		Address: s.clientAddr(r), Agent: agentLabel(r.UserAgent()),
	})
	if err != nil {
		return "", err
	}
	old, err := s.opt.Store.TrimSessions(ctx, u.ID, kind, MaxCredentials)
	if err != nil {
		s.log.Warn("trim sessions", "err", err)
	}
	s.revoke(old)
	return secret, nil
}

// endCredential ends the session or token whose hash is hash: it is
// deleted, and every socket it opened, on every process, is closed.
func (s *Server) endCredential(ctx context.Context, hash []byte) {
	existed, err := s.opt.Store.DeleteSession(ctx, hash)
	if err != nil {
		s.log.Warn("delete session", "err", err)
		return
	}
	if existed {
		s.revoke([][]byte{hash})
	}
}

// startSession logs u in: a new session id (never a reused one, so a
// planted cookie is worth nothing), the old session ended.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u chat.User) error {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		s.endCredential(r.Context(), auth.SecretHash(c.Value))
	}
	secret, err := s.newSecret(r, u, store.KindSession, sessionTTL)
	if err != nil {
		return err
	}
	// #nosec G124 -- Secure is set whenever the request came over HTTPS
	// (docs/SECURITY.md); over plain HTTP a Secure cookie would never come back.
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: secret, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.isHTTPS(r),
	})
	return nil
}

// endSession logs out: the session is deleted server-side and the cookie
// cleared.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		s.endCredential(r.Context(), auth.SecretHash(c.Value))
	}
	// #nosec G124 -- as in startSession: Secure whenever the request came over HTTPS.
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.isHTTPS(r)})
}

func (s *Server) dummyHash() string {
	s.dummyOnce.Do(func() {
		s.dummy, _ = auth.HashPassword("not a password of anybody", s.opt.Password)
	})
	return s.dummy
}
