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
	mux.HandleFunc("POST /chats/{room}/level/{$}", s.requireLogin(s.handleSetLevel))
	mux.Handle("GET /static/", http.StripPrefix("/static/", s.staticHandler()))
	mux.HandleFunc("GET /favicon.ico", s.handleFavicon)

	// JSON API.
	mux.HandleFunc("POST /api/v1/signup", s.handleAPISignup)
	mux.HandleFunc("POST /api/v1/tokens", s.handleAPIToken)
	mux.HandleFunc("DELETE /api/v1/tokens/current", s.requireAPIUser(s.handleAPIRevokeToken))
	mux.HandleFunc("DELETE /api/v1/tokens", s.requireAPIUser(s.handleAPIRevokeTokens))
	mux.HandleFunc("GET /api/v1/rooms", s.requireAPIUser(s.handleAPIRooms))
	mux.HandleFunc("POST /api/v1/rooms", s.requireAPIUser(s.handleAPICreateRoom))
	mux.HandleFunc("DELETE /api/v1/rooms/{room}/membership", s.requireAPIRoom(s.handleAPILeaveRoom))
	mux.HandleFunc("GET /api/v1/rooms/{room}/level", s.requireAPIRoom(s.handleAPILevel))
	mux.HandleFunc("PUT /api/v1/rooms/{room}/level", s.requireAPIRoom(s.handleAPISetLevel))
	mux.HandleFunc("GET /api/v1/rooms/{room}/messages", s.requireAPIRoom(s.handleAPIMessages))
	mux.HandleFunc("POST /api/v1/rooms/{room}/messages", s.requireAPIRoom(s.handleAPIPostMessage))
	mux.HandleFunc("PATCH /api/v1/rooms/{room}/messages/{seq}", s.requireAPIRoom(s.handleAPIChange(chat.ChangeEdit)))
	mux.HandleFunc("DELETE /api/v1/rooms/{room}/messages/{seq}", s.requireAPIRoom(s.handleAPIChange(chat.ChangeDelete)))
	mux.HandleFunc("GET /api/v1/rooms/{room}/messages/{seq}/versions", s.requireAPIRoom(s.handleAPIVersions))
	mux.HandleFunc("PUT /api/v1/rooms/{room}/messages/{seq}/reactions/{emoji}", s.requireAPIRoom(s.handleAPIChange(chat.ChangeReact)))
	mux.HandleFunc("DELETE /api/v1/rooms/{room}/messages/{seq}/reactions/{emoji}", s.requireAPIRoom(s.handleAPIChange(chat.ChangeUnreact)))
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
