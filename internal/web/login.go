package web

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"parley/internal/auth"
	"parley/internal/chat"
	"parley/internal/store"
	"parley/internal/username"
)

// deviceCookie names the browser an account logged in on before: a
// random secret, of which the store keeps a hash with the account
// (known_devices). Attempts to log in to that account that carry it
// spend the device's own throttle, so that a guesser elsewhere, who
// empties the account's, does not lock its owner out.
const (
	deviceCookie = "parley_device"
	deviceTTL    = 365 * 24 * time.Hour
)

// login checks credentials under the password-guessing throttle
// (docs/SECURITY.md, Password guessing). Every attempt spends a token of
// its address's bucket, then one of the account's, or of the known
// device's if it carries that account's device cookie, before the
// password is checked; a right password gives both back. A throttled
// attempt is a rate_limited error and sets Retry-After. The name is
// checked before it reaches any limiter: a name that cannot be an
// account's is refused as a wrong one is, and costs the address alone.
func (s *Server) login(w http.ResponseWriter, r *http.Request, name, password string) (chat.User, error) {
	ctx := r.Context()
	addr := s.throttleAddr(r)
	if ok, wait := s.logins.addrs.allow(ctx, addr); !ok {
		return chat.User{}, s.loginThrottled(w, r, addr, name, "address", wait)
	}
	wrong := chat.Errorf(chat.EUnauthorized, "Wrong username or password.")
	if !chat.ValidUsername(name) {
		s.log.Warn("login failed", "addr", addr, "user", "(not a valid name)", "bytes", len(name))
		return chat.User{}, wrong
	}
	u, hash, err := s.opt.Store.UserByName(ctx, name)
	found := err == nil
	if err != nil && chat.ErrorCode(err) != chat.ENotFound {
		s.logins.addrs.give(ctx, addr)
		return chat.User{}, err
	}
	bucket, key, which := s.logins.accounts, username.Key(name), "account"
	device := s.knownDevice(r)
	if found && device.userID == u.ID {
		bucket, key, which = s.logins.devices, hex.EncodeToString(device.hash), "device"
	}
	if ok, wait := bucket.allow(ctx, key); !ok {
		return chat.User{}, s.loginThrottled(w, r, addr, name, which, wait)
	}
	if !found {
		// Spend the time a real check takes, so timing tells nothing.
		_, _ = auth.CheckPassword(password, s.dummyHash())
		s.log.Warn("login failed", "addr", addr, "user", name)
		return chat.User{}, wrong
	}
	ok, err := auth.CheckPassword(password, hash)
	if err != nil {
		bucket.give(ctx, key)
		s.logins.addrs.give(ctx, addr)
		return chat.User{}, err
	}
	if !ok {
		s.log.Warn("login failed", "addr", addr, "user", name)
		return chat.User{}, wrong
	}
	bucket.give(ctx, key)
	s.logins.addrs.give(ctx, addr)
	if u.Deactivated {
		// Said only to whoever knows the password: a guesser learns
		// nothing of the account.
		s.log.Info("login refused: deactivated", "addr", addr, "user", u.Name)
		return chat.User{}, errDeactivated
	}
	return u, nil
}

// errDeactivated refuses a log-in or a token to a deactivated account.
var errDeactivated = chat.Errorf(chat.EForbidden, "This account has been deactivated. Ask an admin if you think this is a mistake.")

// loginThrottled answers an attempt that a limit refused: Retry-After,
// a rate_limited error, and a log line (one a minute per address).
func (s *Server) loginThrottled(w http.ResponseWriter, r *http.Request, addr, name, limit string, wait time.Duration) error {
	secs := retrySeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.metrics.httpErrors.WithLabelValues("login_throttled").Inc()
	if ok, _ := s.logins.logged.allow(r.Context(), addr); ok {
		if !chat.ValidUsername(name) {
			name = "(not a valid name)"
		}
		s.log.Warn("login throttled", "addr", addr, "user", name, "limit", limit, "retry_after", secs)
	}
	return chat.Errorf(chat.ERateLimited, "Too many failed attempts. Try again in %d seconds.", secs)
}

// device is the known device a request's cookie names, if any.
type device struct {
	hash   []byte
	userID int64 // 0: the cookie names no account's device
}

// knownDevice reads the request's device cookie and finds whose device
// it is.
func (s *Server) knownDevice(r *http.Request) device {
	c, err := r.Cookie(deviceCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return device{}
	}
	d := device{hash: auth.SecretHash(c.Value)}
	id, err := s.opt.Store.KnownDevice(r.Context(), d.hash)
	if err != nil {
		s.log.Warn("known device", "err", err)
		return device{}
	}
	d.userID = id
	return d
}

// rememberDevice makes the browser a known device of u: it keeps the one
// its cookie names if that is u's, else sets a new one.
func (s *Server) rememberDevice(w http.ResponseWriter, r *http.Request, u chat.User) {
	ctx := r.Context()
	if d := s.knownDevice(r); d.userID == u.ID {
		if err := s.opt.Store.UseKnownDevice(ctx, d.hash, s.opt.Now()); err != nil {
			s.log.Warn("use known device", "err", err)
		}
		return
	}
	secret, err := auth.NewSecret()
	if err == nil {
		err = s.opt.Store.AddKnownDevice(ctx, auth.SecretHash(secret), u.ID, s.opt.Now())
	}
	if err != nil {
		s.log.Warn("add known device", "err", err)
		return
	}
	// #nosec G124 -- Secure whenever the request came over HTTPS, as the
	// session cookie.
	http.SetCookie(w, &http.Cookie{
		Name: deviceCookie, Value: secret, Path: "/", MaxAge: int(deviceTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.isHTTPS(r),
	})
}

// logIn remembers the browser as one of u's devices and starts u's
// session in it. The session's cookie is set last: a client that keeps
// the last cookie of the answer keeps the session.
func (s *Server) logIn(w http.ResponseWriter, r *http.Request, u chat.User) error {
	s.rememberDevice(w, r, u)
	return s.startSession(w, r, u)
}

// signup validates and creates an account, within the sign-up limit of
// the request's address: over it, a rate_limited error and how long to
// wait. Only an account made counts: a refused one gives its token back.
// invite is the code of an invite link, or "": without one, only an open
// sign-up (--signup open) takes it. An invite works in every mode: an
// admin made it.
func (s *Server) signup(r *http.Request, name, password, invite string) (chat.User, time.Duration, error) {
	ctx := r.Context()
	if invite == "" {
		if err := s.signupOpen(); err != nil {
			return chat.User{}, 0, err
		}
	}
	if err := chat.CheckUsername(name); err != nil {
		return chat.User{}, 0, err
	}
	if err := chat.CheckPassword(password); err != nil {
		return chat.User{}, 0, err
	}
	addr := s.throttleAddr(r)
	if ok, wait := s.signups.allow(ctx, addr); !ok {
		s.metrics.httpErrors.WithLabelValues("signup_throttled").Inc()
		s.log.Warn("signup throttled", "addr", addr)
		return chat.User{}, wait, chat.Errorf(chat.ERateLimited,
			"Too many accounts were made from your address lately. Try again in %s.", waitWords(wait))
	}
	hash, err := auth.HashPassword(password, s.opt.Password)
	if err != nil {
		s.signups.give(ctx, addr)
		return chat.User{}, 0, err
	}
	var inviteHash []byte
	if invite != "" {
		inviteHash = auth.SecretHash(invite)
	}
	u, err := s.opt.Store.CreateAccount(ctx, store.NewAccount{Name: name, PasswordHash: hash, Invite: inviteHash, Now: s.opt.Now()})
	if err != nil {
		s.signups.give(ctx, addr)
		return chat.User{}, 0, err
	}
	s.log.Info("signup", "user", u.Name, "role", u.Role, "addr", addr, "invite", invite != "")
	return u, 0, nil
}

// Sign-up modes (--signup).
const (
	SignupOpen   = "open"
	SignupInvite = "invite"
	SignupClosed = "closed"
)

// signupOpen says whether anyone may sign up without an invite: nil, or
// a forbidden error that says how accounts are made here.
func (s *Server) signupOpen() error {
	switch s.opt.Signup {
	case SignupInvite:
		return chat.Errorf(chat.EForbidden, "Sign-up here is by invitation: open the invite link you were given.")
	case SignupClosed:
		return chat.Errorf(chat.EForbidden, "Sign-up is closed here: an admin makes accounts.")
	}
	return nil
}

// waitWords says how long d is, as a person would: "12 seconds",
// "1 minute", "5 minutes".
func waitWords(d time.Duration) string {
	secs := retrySeconds(d)
	switch {
	case secs == 1:
		return "1 second"
	case secs < 60:
		return strconv.Itoa(secs) + " seconds"
	case secs < 120:
		return "1 minute"
	}
	return strconv.Itoa((secs+59)/60) + " minutes"
}
