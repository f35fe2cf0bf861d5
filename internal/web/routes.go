package web

import (
	"net/http"

	"parley/internal/chat"
)

// routes is the route table: every URL Parley serves.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	// Pages.
	mux.HandleFunc("GET /{$}", s.handleHome)
	mux.HandleFunc("GET /signup/", s.accountForm("signup", signupTitle))
	mux.HandleFunc("POST /signup/", s.handleSignup)
	mux.HandleFunc("GET /accounts/login/", s.accountForm("login", loginTitle))
	mux.HandleFunc("POST /accounts/login/", s.handleLogin)
	mux.HandleFunc("POST /accounts/logout/", s.handleLogout)
	mux.HandleFunc("GET /chats/{$}", s.requireLogin(s.handleChats))
	mux.HandleFunc("POST /chats/{$}", s.requireLogin(s.handleCreateRoom))
	mux.HandleFunc("GET /chats/{room}/{$}", s.requireLogin(s.handleRoom))
	mux.HandleFunc("POST /chats/{room}/leave/{$}", s.requireLogin(s.handleLeaveRoom))
	mux.HandleFunc("GET /search/{$}", s.requireLogin(s.handleSearch))
	mux.HandleFunc("GET /join/{code}", s.handleJoin)
	mux.HandleFunc("POST /join/{code}", s.handleJoin)
	mux.HandleFunc("GET /reset/{code}", s.handleReset)
	mux.HandleFunc("POST /reset/{code}", s.handleReset)
	mux.HandleFunc("GET /settings/{$}", s.requireLogin(s.handleSettings))
	mux.HandleFunc("POST /settings/password/{$}", s.requireLogin(s.handleSettingsPassword))
	mux.HandleFunc("POST /settings/sessions/{id}/end/{$}", s.requireLogin(s.handleSettingsEndSession))
	mux.HandleFunc("GET /admin/{$}", s.requireAdmin(s.handleAdmin))
	mux.HandleFunc("GET /admin/users/{$}", s.requireAdmin(s.handleAdminUsers))
	mux.HandleFunc("POST /admin/users/{name}/{action}/{$}", s.requireAdmin(s.handleAdminUserAction))
	mux.HandleFunc("GET /admin/invites/{$}", s.requireAdmin(s.handleAdminInvites))
	mux.HandleFunc("POST /admin/invites/{$}", s.requireAdmin(s.handleAdminCreateInvite))
	mux.HandleFunc("POST /admin/invites/{id}/revoke/{$}", s.requireAdmin(s.handleAdminRevokeInvite))
	mux.HandleFunc("GET /admin/audit/{$}", s.requireAdmin(s.handleAdminAudit))
	mux.HandleFunc("GET /chats/{room}/settings/{$}", s.requireLogin(s.handleRoomSettings))
	mux.HandleFunc("POST /chats/{room}/settings/{$}", s.requireLogin(s.handleRoomSettingsPost))
	mux.HandleFunc("GET /dm/{username}/{$}", s.requireLogin(s.handleDirect))
	mux.HandleFunc("POST /dm/{username}/{$}", s.requireLogin(s.handleDirect))
	mux.HandleFunc("GET /admin/rooms/{$}", s.requireAdmin(s.handleAdminRooms))
	mux.HandleFunc("POST /chats/{room}/level/{$}", s.requireLogin(s.handleSetLevel))
	mux.Handle("GET /static/", http.StripPrefix("/static/", s.staticHandler()))
	mux.HandleFunc("GET /favicon.ico", s.handleFavicon)
	mux.HandleFunc("GET /sw.js", s.handleServiceWorker)
	mux.HandleFunc("GET /manifest.webmanifest", s.handleManifest)

	// JSON API.
	mux.HandleFunc("POST /api/v1/signup", s.handleAPISignup)
	mux.HandleFunc("POST /api/v1/tokens", s.handleAPIToken)
	mux.HandleFunc("DELETE /api/v1/tokens/current", s.requireAPIUser(s.handleAPIRevokeToken))
	mux.HandleFunc("DELETE /api/v1/tokens", s.requireAPIUser(s.handleAPIRevokeTokens))
	mux.HandleFunc("GET /api/v1/search", s.requireAPIUser(s.handleAPISearch))
	mux.HandleFunc("GET /api/v1/rooms", s.requireAPIUser(s.handleAPIRooms))
	mux.HandleFunc("POST /api/v1/rooms", s.requireAPIUser(s.handleAPICreateRoom))
	mux.HandleFunc("DELETE /api/v1/rooms/{room}/membership", s.requireAPIRoom(s.handleAPILeaveRoom))
	mux.HandleFunc("GET /api/v1/rooms/{room}", s.requireAPIRoom(s.handleAPIRoom))
	mux.HandleFunc("PATCH /api/v1/rooms/{room}", s.requireAPIRoomFor(chat.ActManage, s.handleAPIPatchRoom))
	mux.HandleFunc("GET /api/v1/rooms/{room}/members", s.requireAPIRoom(s.handleAPIMembers))
	mux.HandleFunc("POST /api/v1/rooms/{room}/members", s.requireAPIRoomFor(chat.ActManage, s.handleAPIAddMember))
	mux.HandleFunc("DELETE /api/v1/rooms/{room}/members/{user}", s.requireAPIRoomFor(chat.ActManage, s.handleAPIRemoveMember))
	mux.HandleFunc("POST /api/v1/rooms/{room}/mutes", s.requireAPIRoom(s.handleAPIMute))
	mux.HandleFunc("DELETE /api/v1/rooms/{room}/mutes/{user}", s.requireAPIRoom(s.handleAPIUnmute))
	mux.HandleFunc("POST /api/v1/dms", s.requireAPIUser(s.handleAPIDirect))
	mux.HandleFunc("GET /api/v1/rooms/{room}/level", s.requireAPIRoom(s.handleAPILevel))
	mux.HandleFunc("PUT /api/v1/rooms/{room}/level", s.requireAPIRoom(s.handleAPISetLevel))
	mux.HandleFunc("GET /api/v1/rooms/{room}/messages", s.requireAPIRoom(s.handleAPIMessages))
	mux.HandleFunc("POST /api/v1/rooms/{room}/messages", s.requireAPIRoom(s.handleAPIPostMessage))
	mux.HandleFunc("PATCH /api/v1/rooms/{room}/messages/{seq}", s.requireAPIRoom(s.handleAPIChange(chat.ChangeEdit)))
	mux.HandleFunc("DELETE /api/v1/rooms/{room}/messages/{seq}", s.requireAPIRoom(s.handleAPIChange(chat.ChangeDelete)))
	mux.HandleFunc("GET /api/v1/rooms/{room}/messages/{seq}/versions", s.requireAPIRoom(s.handleAPIVersions))
	mux.HandleFunc("PUT /api/v1/rooms/{room}/messages/{seq}/reactions/{emoji}", s.requireAPIRoom(s.handleAPIChange(chat.ChangeReact)))
	mux.HandleFunc("DELETE /api/v1/rooms/{room}/messages/{seq}/reactions/{emoji}", s.requireAPIRoom(s.handleAPIChange(chat.ChangeUnreact)))
	mux.HandleFunc("GET /api/v1/push/key", s.requireAPIUser(s.handleAPIPushKey))
	mux.HandleFunc("GET /api/v1/push/subscriptions", s.requireAPIUser(s.handleAPIPushDevices))
	mux.HandleFunc("POST /api/v1/push/subscriptions", s.requireAPIUser(s.handleAPIPushSubscribe))
	mux.HandleFunc("DELETE /api/v1/push/subscriptions", s.requireAPIUser(s.handleAPIPushUnsubscribe))
	mux.HandleFunc("POST /api/v1/push/test", s.requireAPIUser(s.handleAPIPushTest))
	mux.HandleFunc("GET /api/v1/admin/users", s.requireAPIAdmin(s.handleAPIAdminUsers))
	mux.HandleFunc("PATCH /api/v1/admin/users/{name}", s.requireAPIAdmin(s.handleAPISetRole))
	mux.HandleFunc("POST /api/v1/admin/users/{name}/deactivate", s.requireAPIUser(s.handleAPIDeactivate(true)))
	mux.HandleFunc("POST /api/v1/admin/users/{name}/reactivate", s.requireAPIUser(s.handleAPIDeactivate(false)))
	mux.HandleFunc("POST /api/v1/admin/users/{name}/reset-link", s.requireAPIAdmin(s.handleAPIResetLink))
	mux.HandleFunc("GET /api/v1/admin/invites", s.requireAPIAdmin(s.handleAPIInvites))
	mux.HandleFunc("POST /api/v1/admin/invites", s.requireAPIAdmin(s.handleAPICreateInvite))
	mux.HandleFunc("DELETE /api/v1/admin/invites/{code}", s.requireAPIAdmin(s.handleAPIRevokeInvite))
	mux.HandleFunc("GET /api/v1/admin/audit", s.requireAPIAdmin(s.handleAPIAudit))
	mux.HandleFunc("POST /api/v1/account/password", s.requireAPIUser(s.handleAPIPassword))
	mux.HandleFunc("GET /api/v1/account/sessions", s.requireAPIUser(s.handleAPISessions))
	mux.HandleFunc("DELETE /api/v1/account/sessions/{id}", s.requireAPIUser(s.handleAPIEndSession))
	mux.HandleFunc("/api/", s.handleAPINotFound)

	// WebSocket.
	mux.HandleFunc("GET /ws/chat/{room}/{$}", s.handleWebSocket)
	mux.HandleFunc("GET /ws/user/{$}", s.handleUserStream)

	// Operations.
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", s.handleMetrics())

	// Anything else is a 404 page.
	mux.HandleFunc("/", s.handleNotFound)

	return s.secure(mux)
}
