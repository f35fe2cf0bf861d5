package web

import (
	"net/http"

	"parley/internal/chat"
)

// levelBody is the body of PUT /api/v1/rooms/{room}/level, and its answer.
type levelBody struct {
	Room  string     `json:"room,omitempty"`
	Level chat.Level `json:"level"`
}

// handleAPILevel answers the caller's level in the room (GET
// /api/v1/rooms/{room}/level): the default, every, for a room they are
// not in.
func (s *Server) handleAPILevel(w http.ResponseWriter, r *http.Request, u chat.User, room string, _ chat.Place) {
	level, err := s.opt.Store.Level(r.Context(), u.ID, room)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, levelBody{Room: room, Level: level})
}

// handleAPISetLevel sets the caller's level in the room (PUT
// /api/v1/rooms/{room}/level, {"level":"mentions"}), entering the room if
// they had not, and tells their streams.
func (s *Server) handleAPISetLevel(w http.ResponseWriter, r *http.Request, u chat.User, room string, _ chat.Place) {
	var b levelBody
	if !s.readJSON(w, r, &b) {
		return
	}
	level, err := s.setLevel(r, u, room, string(b.Level))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, levelBody{Room: room, Level: level})
}

// handleSetLevel is the room page's and the dashboard's form (POST
// /chats/{room}/level/, level=NAME): it sets the level and goes back to
// the page it came from (the room, or the dashboard with back=home).
func (s *Server) handleSetLevel(w http.ResponseWriter, r *http.Request, u chat.User) {
	name, ok := s.pathRoom(w, r)
	if !ok {
		return
	}
	if !s.parseForm(w, r) {
		return
	}
	if _, err := s.setLevel(r, u, name, r.PostForm.Get("level")); err != nil {
		s.pageError(w, r, err)
		return
	}
	to := "/chats/" + name + "/"
	if r.PostForm.Get("back") == "home" {
		to = "/"
	}
	http.Redirect(w, r, to, http.StatusSeeOther) // #nosec G710 -- a valid room name is [a-z0-9_-]
}

// setLevel checks and stores a level, and tells the user's streams on
// every process.
func (s *Server) setLevel(r *http.Request, u chat.User, room, name string) (chat.Level, error) {
	if name == "" {
		return "", chat.Errorf(chat.EInvalid, "A level is required: every, mentions or muted.")
	}
	level, err := chat.ParseLevel(name)
	if err != nil {
		return "", err
	}
	// A room the user may not read has no level to set: it does not exist.
	if _, err := s.can(r.Context(), u, room, chat.ActRead, chat.Target{}); err != nil {
		return "", err
	}
	if err := s.opt.Store.SetLevel(r.Context(), u.ID, room, level); err != nil {
		return "", err
	}
	s.roomsChanged(u.Name, room)
	return level, nil
}
