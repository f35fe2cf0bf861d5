package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"parley/internal/auth"
	"parley/internal/chat"
	"parley/internal/store"
)

// The admin pages (/admin/), the settings page (/settings/), invite
// links (/join/CODE) and reset links (/reset/CODE).

// adminView is what the admin and settings pages show.
type adminView struct {
	Notice string // what the last action did
	Error  string // why it did not
	// Link is a link made just now (an invite's, a reset link), shown
	// once: only its hash is kept.
	Link     string
	Query    string // users: the search
	Users    []chat.User
	Roles    []chat.Role
	Invites  []inviteView
	Audit    []store.AuditEntry
	Older    int64 // audit: the id to page on from (0: no older entries)
	Sessions []sessionView
}

// inviteView is an invite as lists show it.
type inviteView struct {
	ID        int64     `json:"id"`
	Creator   string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Uses      int64     `json:"uses"`
	Used      int64     `json:"used"`
	State     string    `json:"state"`
}

func viewInvite(i store.Invite, now time.Time) inviteView {
	return inviteView{ID: i.ID, Creator: i.Creator, CreatedAt: i.CreatedAt, ExpiresAt: i.ExpiresAt,
		Uses: i.MaxUses, Used: i.Used, State: i.State(now)}
}

var allRoles = []chat.Role{chat.RoleMember, chat.RoleModerator, chat.RoleAdmin}

// requireAdmin serves admin pages to admins: a visitor goes to log in, a
// signed-in non-admin gets 403.
func (s *Server) requireAdmin(h userHandler) http.HandlerFunc {
	return s.requireLogin(func(w http.ResponseWriter, r *http.Request, u chat.User) {
		if err := chat.CanAdmin(u.Actor()); err != nil {
			s.errorPage(w, r, http.StatusForbidden, chat.ErrorMessage(err))
			return
		}
		h(w, r, u)
	})
}

func (s *Server) handleAdmin(w http.ResponseWriter, r *http.Request, u chat.User) {
	s.render.render(w, http.StatusOK, "admin", s.page(r, "Admin · Parley"))
}

// usersPage renders /admin/users/ for the search in q, with the outcome
// of an action (status, and what p.Admin says).
func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, p page, q string, status int) {
	users, err := s.opt.Store.Users(r.Context(), q, 200)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	p.Title = "Users · Admin · Parley"
	p.Admin.Query, p.Admin.Users, p.Admin.Roles = q, users, allRoles
	s.render.render(w, status, "admin_users", p)
}

func (s *Server) handleAdminUsers(w http.ResponseWriter, r *http.Request, u chat.User) {
	s.usersPage(w, r, s.page(r, ""), strings.TrimSpace(r.URL.Query().Get("q")), http.StatusOK)
}

// handleAdminUserAction does what a form of /admin/users/ asks to the
// user {name}: {action} is role, deactivate, reactivate or reset-link.
// The page comes back with what was done, or why not.
func (s *Server) handleAdminUserAction(w http.ResponseWriter, r *http.Request, u chat.User) {
	if !s.parseForm(w, r) {
		return
	}
	ctx, a, name := r.Context(), s.actorOf(r, u), r.PathValue("name")
	p := s.page(r, "")
	var err error
	switch r.PathValue("action") {
	case "role":
		var t chat.User
		t, err = s.setRole(ctx, a, name, chat.Role(r.PostForm.Get("role")))
		if err == nil {
			p.Admin.Notice = t.Name + " is now " + string(t.Role) + "."
		}
	case "deactivate":
		var t chat.User
		var n int
		t, n, err = s.setDeactivated(ctx, a, name, true, r.PostForm.Get("erase") != "")
		if err == nil {
			p.Admin.Notice = t.Name + " is deactivated: their sessions, tokens and sockets have ended."
			if r.PostForm.Get("erase") != "" {
				p.Admin.Notice += fmt.Sprintf(" %d of their messages were deleted.", n)
			}
		}
	case "reactivate":
		var t chat.User
		t, _, err = s.setDeactivated(ctx, a, name, false, false)
		if err == nil {
			p.Admin.Notice = t.Name + " is active again. Their old sessions and tokens stay ended."
		}
	case "reset-link":
		var path string
		path, _, err = s.resetLink(ctx, a, name)
		if err == nil {
			p.Admin.Notice = "A reset link for " + name + ", valid for 24 hours and once. Copy it now: it is not shown again."
			p.Admin.Link = s.absolute(r, path)
		}
	default:
		s.handleNotFound(w, r)
		return
	}
	status, ok := s.formOutcome(w, r, &p.Admin, err)
	if !ok {
		return
	}
	s.usersPage(w, r, p, strings.TrimSpace(r.PostForm.Get("q")), status)
}

// formOutcome puts err, what a form of the admin or settings pages came
// to, on the page and returns the status to answer with: 200 when err is
// nil, else err's. An internal error is answered (serverError) and ok is
// false.
func (s *Server) formOutcome(w http.ResponseWriter, r *http.Request, v *adminView, err error) (status int, ok bool) {
	if err == nil {
		return http.StatusOK, true
	}
	if status = httpStatus(err); status >= 500 {
		s.serverError(w, r, err)
		return 0, false
	}
	v.Error = chat.ErrorMessage(err)
	return status, true
}

// fieldsOutcome is formOutcome for a form whose fields are shown again
// with the error: a bad value is 422, as the account forms answer.
func (s *Server) fieldsOutcome(w http.ResponseWriter, r *http.Request, v *adminView, err error) (status int, ok bool) {
	status, ok = s.formOutcome(w, r, v, err)
	if status == http.StatusBadRequest {
		status = http.StatusUnprocessableEntity
	}
	return status, ok
}

// absolute makes a path of this site a link to hand over.
func (s *Server) absolute(r *http.Request, path string) string {
	if s.opt.PublicURL != "" {
		return strings.TrimRight(s.opt.PublicURL, "/") + path
	}
	scheme := "http"
	if s.isHTTPS(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

func (s *Server) invitesPage(w http.ResponseWriter, r *http.Request, p page, status int) {
	list, err := s.opt.Store.Invites(r.Context(), 200)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	now := s.opt.Now()
	for _, i := range list {
		p.Admin.Invites = append(p.Admin.Invites, viewInvite(i, now))
	}
	p.Title = "Invites · Admin · Parley"
	s.render.render(w, status, "admin_invites", p)
}

func (s *Server) handleAdminInvites(w http.ResponseWriter, r *http.Request, u chat.User) {
	p := s.page(r, "")
	p.Form.Values["uses"], p.Form.Values["expires"] = "1", "7d"
	s.invitesPage(w, r, p, http.StatusOK)
}

// handleAdminCreateInvite makes an invite from the form (uses, expires).
func (s *Server) handleAdminCreateInvite(w http.ResponseWriter, r *http.Request, u chat.User) {
	if !s.parseForm(w, r) {
		return
	}
	p := s.page(r, "")
	usesText, expires := strings.TrimSpace(r.PostForm.Get("uses")), strings.TrimSpace(r.PostForm.Get("expires"))
	p.Form.Values["uses"], p.Form.Values["expires"] = usesText, expires
	uses, err := strconv.ParseInt(usesText, 10, 64)
	if err != nil {
		err = chat.Errorf(chat.EInvalid, "Uses: give a whole number from 1 to %d.", maxInviteUses)
	}
	var ttl time.Duration
	if err == nil {
		ttl, err = ParseInviteTTL(expires)
	}
	var code string
	var inv store.Invite
	if err == nil {
		code, inv, err = s.createInvite(r.Context(), s.actorOf(r, u), uses, ttl)
	}
	status, ok := s.fieldsOutcome(w, r, &p.Admin, err)
	if !ok {
		return
	}
	if err == nil {
		p.Admin.Notice = "Invite " + strconv.FormatInt(inv.ID, 10) + " made. Copy its link now: it is not shown again."
		p.Admin.Link = s.absolute(r, "/join/"+code)
		p.Form.Values["uses"], p.Form.Values["expires"] = "1", "7d"
	}
	s.invitesPage(w, r, p, status)
}

func (s *Server) handleAdminRevokeInvite(w http.ResponseWriter, r *http.Request, u chat.User) {
	p := s.page(r, "")
	p.Form.Values["uses"], p.Form.Values["expires"] = "1", "7d"
	inv, err := s.revokeInvite(r.Context(), s.actorOf(r, u), r.PathValue("id"))
	status, ok := s.formOutcome(w, r, &p.Admin, err)
	if !ok {
		return
	}
	if err == nil {
		p.Admin.Notice = "Invite " + strconv.FormatInt(inv.ID, 10) + " is revoked."
	}
	s.invitesPage(w, r, p, status)
}

// auditPageSize is how many entries a page of the audit log shows.
const auditPageSize = 50

func (s *Server) handleAdminAudit(w http.ResponseWriter, r *http.Request, u chat.User) {
	before, err := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	if err != nil || before < 0 {
		before = 0
	}
	entries, err := s.opt.Store.AuditLog(r.Context(), before, auditPageSize+1)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	p := s.page(r, "Audit log · Admin · Parley")
	if len(entries) > auditPageSize {
		entries = entries[:auditPageSize]
		p.Admin.Older = entries[len(entries)-1].ID
	}
	p.Admin.Audit = entries
	s.render.render(w, http.StatusOK, "admin_audit", p)
}

// settingsPage renders /settings/: the password form and the user's
// sessions and tokens.
func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request, p page, u chat.User, status int) {
	_, cred, _ := s.authenticate(r)
	list, err := s.sessions(r.Context(), u, cred.hash)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	p.Title = "Settings · Parley"
	p.Admin.Sessions = list
	if p.PushOn = s.pushOn(); p.PushOn {
		if p.PushDevices, err = s.opt.Store.PushSubscriptions(r.Context(), u.ID); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	s.render.render(w, status, "settings", p)
}

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request, u chat.User) {
	s.settingsPage(w, r, s.page(r, ""), u, http.StatusOK)
}

// handleSettingsPassword changes the password (current, password1,
// password2) and ends every other session and token.
func (s *Server) handleSettingsPassword(w http.ResponseWriter, r *http.Request, u chat.User) {
	if !s.parseForm(w, r) {
		return
	}
	p := s.page(r, "")
	f := r.PostForm
	_, cred, _ := s.authenticate(r)
	var err error
	if f.Get("password1") != f.Get("password2") {
		err = chat.Errorf(chat.EInvalid, "The two new passwords do not match.")
	} else {
		err = s.changePassword(r, u, cred.hash, f.Get("current"), f.Get("password1"))
	}
	status, ok := s.fieldsOutcome(w, r, &p.Admin, err)
	if !ok {
		return
	}
	if err == nil {
		p.Admin.Notice = "Your password is changed. Every other session and token of yours has ended."
	}
	s.settingsPage(w, r, p, u, status)
}

// handleSettingsEndSession ends one of the user's sessions or tokens; the
// one the page runs in logs out.
func (s *Server) handleSettingsEndSession(w http.ResponseWriter, r *http.Request, u chat.User) {
	_, cred, _ := s.authenticate(r)
	current, err := s.endSessionByID(r.Context(), u, r.PathValue("id"), cred.hash)
	p := s.page(r, "")
	status, ok := s.formOutcome(w, r, &p.Admin, err)
	switch {
	case !ok:
		return
	case err != nil:
		// formOutcome put it on the page
	case current:
		s.endSession(w, r)
		http.Redirect(w, r, "/accounts/login/", http.StatusSeeOther)
		return
	default:
		p.Admin.Notice = "That session has ended, and its sockets are closed."
	}
	s.settingsPage(w, r, p, u, status)
}

// handleJoin shows the sign-up form of an invite link: 404 for a code
// that is no invite, 410 for one expired, used up or revoked.
func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if !s.inviteUsable(w, r, code) {
		return
	}
	if r.Method == http.MethodPost {
		s.signupPage(w, r, code)
		return
	}
	p := s.page(r, signupTitle)
	if p.User != nil {
		http.Redirect(w, r, "/", http.StatusFound)
		return
	}
	p.FormAction = "/join/" + url.PathEscape(code)
	p.Form.Focus = "username"
	s.render.render(w, http.StatusOK, "signup", p)
}

// inviteUsable answers a request for an invite that cannot be used.
func (s *Server) inviteUsable(w http.ResponseWriter, r *http.Request, code string) bool {
	if code == "" || len(code) > 100 {
		s.errorPage(w, r, http.StatusNotFound, "There is no such invite link.")
		return false
	}
	inv, err := s.opt.Store.InviteByHash(r.Context(), auth.SecretHash(code))
	switch {
	case chat.ErrorCode(err) == chat.ENotFound:
		s.errorPage(w, r, http.StatusNotFound, "There is no such invite link. Check that it was copied whole.")
		return false
	case err != nil:
		s.serverError(w, r, err)
		return false
	}
	switch inv.State(s.opt.Now()) {
	case "active":
		return true
	case "expired":
		s.errorPage(w, r, http.StatusGone, "This invite link has expired. Ask for a new one.")
	case "used":
		s.errorPage(w, r, http.StatusGone, "This invite link has been used as many times as it could be. Ask for a new one.")
	default:
		s.errorPage(w, r, http.StatusGone, "This invite link has been revoked. Ask for a new one.")
	}
	return false
}

// handleReset shows and answers the set-password form of a reset link;
// a link used, expired or unknown is a 404 page.
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if len(code) > 100 {
		code = ""
	}
	hash := auth.SecretHash(code)
	u, err := s.opt.Store.ResetLinkUser(r.Context(), hash, s.opt.Now())
	if err != nil {
		if httpStatus(err) >= 500 {
			s.serverError(w, r, err)
			return
		}
		s.errorPage(w, r, http.StatusNotFound, chat.ErrorMessage(err))
		return
	}
	p := s.page(r, "Set a new password · Parley")
	p.FormAction = "/reset/" + url.PathEscape(code)
	p.Form.Values["username"] = u.Name
	if r.Method != http.MethodPost {
		s.render.render(w, http.StatusOK, "reset", p)
		return
	}
	if !s.parseForm(w, r) {
		return
	}
	pw1, pw2 := r.PostForm.Get("password1"), r.PostForm.Get("password2")
	if err := chat.CheckPassword(pw1); err != nil {
		p.Form.Errors["password1"] = chat.ErrorMessage(err)
	} else if pw1 != pw2 {
		p.Form.Errors["password2"] = "The two passwords do not match."
	}
	if len(p.Form.Errors) > 0 {
		s.render.render(w, http.StatusUnprocessableEntity, "reset", p)
		return
	}
	newHash, err := auth.HashPassword(pw1, s.opt.Password)
	if err == nil {
		u, err = s.opt.Store.UseResetLink(r.Context(), hash, newHash, s.opt.Now())
	}
	switch {
	case chat.ErrorCode(err) == chat.ENotFound:
		s.errorPage(w, r, http.StatusNotFound, chat.ErrorMessage(err))
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	s.revokeUser(u.Name)
	s.log.Info("password reset", "user", u.Name, "addr", s.clientAddr(r))
	http.Redirect(w, r, "/accounts/login/?username="+url.QueryEscape(u.Name), http.StatusSeeOther) // #nosec G710 -- a path of this site
}
