package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"parley/internal/chat"
	"parley/internal/store"
)

// The API of administration (/api/v1/admin/...) and of one's own account
// (/api/v1/account/...): docs/API.md, Administration and Your account.

// apiUser is an account as the admin API shows it.
type apiUser struct {
	Name        string    `json:"name"`
	Role        chat.Role `json:"role"`
	Deactivated bool      `json:"deactivated"`
	CreatedAt   time.Time `json:"created_at"`
}

func viewUser(u chat.User) apiUser {
	return apiUser{Name: u.Name, Role: u.Role, Deactivated: u.Deactivated, CreatedAt: u.CreatedAt}
}

// requireAPIAdmin answers 403 to an API caller who is not an admin.
func (s *Server) requireAPIAdmin(h userHandler) http.HandlerFunc {
	return s.requireAPIUser(func(w http.ResponseWriter, r *http.Request, u chat.User) {
		if err := chat.CanAdmin(u.Actor()); err != nil {
			s.apiError(w, r, err)
			return
		}
		h(w, r, u)
	})
}

func (s *Server) handleAPIAdminUsers(w http.ResponseWriter, r *http.Request, u chat.User) {
	users, err := s.opt.Store.Users(r.Context(), r.URL.Query().Get("q"), 200)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]apiUser, 0, len(users))
	for _, x := range users {
		out = append(out, viewUser(x))
	}
	writeJSON(w, http.StatusOK, map[string][]apiUser{"users": out})
}

// handleAPISetRole is PATCH /api/v1/admin/users/{name} {"role"}.
func (s *Server) handleAPISetRole(w http.ResponseWriter, r *http.Request, u chat.User) {
	var req struct {
		Role string `json:"role"`
	}
	if !s.readJSON(w, r, &req) {
		return
	}
	t, err := s.setRole(r.Context(), s.actorOf(r, u), r.PathValue("name"), chat.Role(req.Role))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewUser(t))
}

// handleAPIDeactivate is POST /api/v1/admin/users/{name}/deactivate
// (body, optional: {"erase": true}) or /reactivate: admins, and
// moderators for members (chat.CanDeactivate).
func (s *Server) handleAPIDeactivate(deactivate bool) userHandler {
	return func(w http.ResponseWriter, r *http.Request, u chat.User) {
		var req struct {
			Erase bool `json:"erase"`
		}
		if deactivate && r.ContentLength != 0 && !s.readJSON(w, r, &req) {
			return
		}
		t, n, err := s.setDeactivated(r.Context(), s.actorOf(r, u), r.PathValue("name"), deactivate, req.Erase)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if !req.Erase {
			writeJSON(w, http.StatusOK, viewUser(t))
			return
		}
		writeJSON(w, http.StatusOK, struct {
			apiUser
			Erased int `json:"erased"`
		}{viewUser(t), n})
	}
}

func (s *Server) handleAPIResetLink(w http.ResponseWriter, r *http.Request, u chat.User) {
	path, expires, err := s.resetLink(r.Context(), s.actorOf(r, u), r.PathValue("name"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"path": path, "url": s.absolute(r, path), "expires_at": expires.UTC()})
}

func (s *Server) handleAPIInvites(w http.ResponseWriter, r *http.Request, u chat.User) {
	list, err := s.opt.Store.Invites(r.Context(), 200)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	now := s.opt.Now()
	out := make([]inviteView, 0, len(list))
	for _, i := range list {
		out = append(out, viewInvite(i, now))
	}
	writeJSON(w, http.StatusOK, map[string][]inviteView{"invites": out})
}

// handleAPICreateInvite is POST /api/v1/admin/invites {"uses", "expires"}.
func (s *Server) handleAPICreateInvite(w http.ResponseWriter, r *http.Request, u chat.User) {
	var req struct {
		Uses    *int64 `json:"uses"`
		Expires string `json:"expires"`
	}
	if !s.readJSON(w, r, &req) {
		return
	}
	uses := int64(1)
	if req.Uses != nil {
		uses = *req.Uses
	}
	ttl, err := ParseInviteTTL(req.Expires)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	code, inv, err := s.createInvite(r.Context(), s.actorOf(r, u), uses, ttl)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	type created struct {
		inviteView
		Code string `json:"code"`
		Path string `json:"path"`
		URL  string `json:"url"`
	}
	path := "/join/" + code
	writeJSON(w, http.StatusCreated, created{viewInvite(inv, s.opt.Now()), code, path, s.absolute(r, path)})
}

// handleAPIRevokeInvite is DELETE /api/v1/admin/invites/{code}, the code
// or the invite's id.
func (s *Server) handleAPIRevokeInvite(w http.ResponseWriter, r *http.Request, u chat.User) {
	inv, err := s.revokeInvite(r.Context(), s.actorOf(r, u), r.PathValue("code"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewInvite(inv, s.opt.Now()))
}

// handleAPIAudit is GET /api/v1/admin/audit?before=ID&limit=N.
func (s *Server) handleAPIAudit(w http.ResponseWriter, r *http.Request, u chat.User) {
	q := r.URL.Query()
	var before int64
	limit := auditPageSize
	var err error
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			s.apiError(w, r, chat.Errorf(chat.EInvalid, "before must be an entry's id, a positive whole number."))
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 200 {
			s.apiError(w, r, chat.Errorf(chat.EInvalid, "limit must be 1 to 200."))
			return
		}
	}
	entries, err := s.opt.Store.AuditLog(r.Context(), before, limit+1)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	more := len(entries) > limit
	if more {
		entries = entries[:limit]
	}
	if entries == nil {
		entries = []store.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "has_more": more})
}

// handleAPIPassword is POST /api/v1/account/password {"current", "new"}:
// the calling session or token goes on, every other one ends.
func (s *Server) handleAPIPassword(w http.ResponseWriter, r *http.Request, u chat.User) {
	var req struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if !s.readJSON(w, r, &req) {
		return
	}
	_, cred, _ := s.authenticate(r)
	if err := s.changePassword(r, u, cred.hash, req.Current, req.New); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAPISessions(w http.ResponseWriter, r *http.Request, u chat.User) {
	_, cred, _ := s.authenticate(r)
	list, err := s.sessions(r.Context(), u, cred.hash)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]sessionView{"sessions": list})
}

func (s *Server) handleAPIEndSession(w http.ResponseWriter, r *http.Request, u chat.User) {
	_, cred, _ := s.authenticate(r)
	if _, err := s.endSessionByID(r.Context(), u, strings.ToLower(r.PathValue("id")), cred.hash); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
