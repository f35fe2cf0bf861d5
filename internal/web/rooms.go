package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"parley/internal/chat"
	"parley/internal/store"
)

// Rooms you control (docs/API.md, Rooms you control): settings, members,
// mutes, direct conversations and the admin list. Every handler asks
// chat.Can (access.go) and does nothing the answer does not allow.

// notDirectName refuses to make a room called as direct conversations
// are (store.DirectPrefix): such a name would keep two people from
// ever opening theirs.
func notDirectName(room string) error {
	if mayBeDirect(room) {
		return chat.Errorf(chat.EInvalid, "Names that start with %q are kept for direct messages; choose another.", store.DirectPrefix)
	}
	return nil
}

// unmadeDirect reports whether room is a direct conversation's name that
// no conversation has yet: made from people's names only (openDirect),
// never by a first message, and nobody's to read or wait in.
func unmadeDirect(room string, p chat.Place) bool {
	return !p.Exists && mayBeDirect(room)
}

// maxMuteMinutes bounds a mute: a year.
const maxMuteMinutes = 365 * 24 * 60

// roomInfo is a room's settings as the API shows them.
type roomInfo struct {
	chat.Room
	Owner   string       `json:"owner"`
	Members []string     `json:"members"`
	Mutes   []store.Mute `json:"mutes,omitempty"`
	// CanManage and CanMute say what the caller may do here.
	CanManage bool `json:"can_manage"`
	CanMute   bool `json:"can_mute"`
}

// roomInfo reads the room's settings for u, whose place in it is p: its
// mutes only for those who may mute.
func (s *Server) roomInfo(ctx context.Context, u chat.User, room string, p chat.Place) (roomInfo, error) {
	set, err := s.opt.Store.RoomSettings(ctx, room, s.opt.Now())
	if err != nil {
		return roomInfo{}, err
	}
	info := roomInfo{Room: set.Room, Owner: set.Owner, Members: set.Members,
		CanManage: s.allows(u, p, chat.ActManage, chat.Target{}) == nil,
		CanMute:   s.allows(u, p, chat.ActMute, chat.Target{Role: chat.RoleMember}) == nil}
	if info.CanMute {
		info.Mutes = set.Mutes
	}
	return info, nil
}

// existing refuses a call on a room that is not made yet: it has no
// settings, members or mutes.
func existing(p chat.Place) error {
	if !p.Exists {
		return chat.Errorf(chat.ENotFound, "No such room.")
	}
	return nil
}

// writeRoomInfo answers with the room as u sees it (GET and PATCH
// /api/v1/rooms/{room}).
func (s *Server) writeRoomInfo(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place) {
	info, err := s.roomInfo(r.Context(), u, room, p)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleAPIRoom(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place) {
	if err := existing(p); err != nil {
		s.apiError(w, r, err)
		return
	}
	s.writeRoomInfo(w, r, u, room, p)
}

// roomPatch is the body of PATCH /api/v1/rooms/{room}: each field given
// is changed.
type roomPatch struct {
	Topic    *string        `json:"topic"`
	Kind     *chat.RoomKind `json:"kind"`
	Archived *bool          `json:"archived"`
}

// changeRoom applies a change of settings that u asks for in the room:
// chat.Can (ActManage) first, then the fields checked, then the store;
// every process then reads its sockets' places in the room again, and a
// room made private closes the sockets of those who are not members.
func (s *Server) changeRoom(ctx context.Context, r *http.Request, u chat.User, room string, p chat.Place, c roomPatch) (chat.Room, error) {
	if err := existing(p); err != nil {
		return chat.Room{}, err
	}
	if err := s.allows(u, p, chat.ActManage, chat.Target{}); err != nil {
		return chat.Room{}, err
	}
	change := store.RoomChange{Kind: c.Kind, Archived: c.Archived}
	if c.Topic != nil {
		t, err := chat.CleanTopic(*c.Topic)
		if err != nil {
			return chat.Room{}, err
		}
		change.Topic = &t
	}
	if c.Kind != nil && *c.Kind != chat.RoomPublic && *c.Kind != chat.RoomPrivate {
		return chat.Room{}, chat.Errorf(chat.EInvalid, "kind must be public or private.")
	}
	if c.Kind != nil && *c.Kind == chat.RoomPrivate && p.Kind != chat.RoomPrivate && !p.Member {
		// Whoever makes a room private is in it, or would lose it.
		if err := s.opt.Store.AddRoomMember(ctx, room, u.ID); err != nil {
			return chat.Room{}, err
		}
	}
	rm, err := s.opt.Store.ChangeRoom(ctx, room, change)
	if err != nil {
		return chat.Room{}, err
	}
	if c.Kind != nil || c.Archived != nil {
		s.roomChanged(room, "", 0)
	}
	s.audit(ctx, s.actorOf(r, u), "room.change", room, roomChangeDetail(c))
	return rm, nil
}

// roomChangeDetail says what a change of settings changed, for the audit.
func roomChangeDetail(c roomPatch) string {
	var parts []string
	if c.Topic != nil {
		parts = append(parts, "topic="+strconv.Quote(*c.Topic))
	}
	if c.Kind != nil {
		parts = append(parts, "kind="+string(*c.Kind))
	}
	if c.Archived != nil {
		parts = append(parts, "archived="+strconv.FormatBool(*c.Archived))
	}
	return strings.Join(parts, " ")
}

func (s *Server) handleAPIPatchRoom(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place) {
	var c roomPatch
	if !s.readJSON(w, r, &c) {
		return
	}
	if _, err := s.changeRoom(r.Context(), r, u, room, p, c); err != nil {
		s.apiError(w, r, err)
		return
	}
	p, err := s.opt.Store.RoomPlace(r.Context(), room, u.ID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.writeRoomInfo(w, r, u, room, p)
}

type membersResponse struct {
	Members []string `json:"members"`
}

func (s *Server) handleAPIMembers(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place) {
	if err := existing(p); err != nil {
		s.apiError(w, r, err)
		return
	}
	names, err := s.opt.Store.RoomMembers(r.Context(), room)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, membersResponse{Members: names})
}

// userRequest names a user: the body of adding a member, and of a mute.
type userRequest struct {
	User    string `json:"user"`
	Minutes int    `json:"minutes"`
}

// addMember makes the user called name a member of the room, if u may
// (chat.Can, ActManage).
func (s *Server) addMember(ctx context.Context, r *http.Request, u chat.User, room string, p chat.Place, name string) error {
	if err := existing(p); err != nil {
		return err
	}
	if err := s.allows(u, p, chat.ActManage, chat.Target{}); err != nil {
		return err
	}
	target, _, err := s.opt.Store.UserByName(ctx, strings.TrimSpace(name))
	if err != nil {
		return err
	}
	if err := s.opt.Store.AddRoomMember(ctx, room, target.ID); err != nil {
		return err
	}
	s.roomsChanged(target.Name, room)
	s.audit(ctx, s.actorOf(r, u), "room.member.add", room, target.Name)
	return nil
}

// removeMember takes the user called name out of the room, if u may
// (chat.Can, ActManage), and closes their sockets there on every process
// if that leaves them unable to read it. The room's owner stays.
func (s *Server) removeMember(ctx context.Context, r *http.Request, u chat.User, room string, p chat.Place, name string) error {
	if err := existing(p); err != nil {
		return err
	}
	if err := s.allows(u, p, chat.ActManage, chat.Target{}); err != nil {
		return err
	}
	target, _, err := s.opt.Store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if target.ID == p.Owner {
		return chat.Errorf(chat.EConflict, "%s made this room and stays in it.", target.Name)
	}
	epoch, err := s.opt.Store.LeaveRoom(ctx, target.ID, room)
	if err != nil {
		return err
	}
	s.roomChanged(room, target.Name, epoch) // its sockets there close; its streams read the room again
	s.audit(ctx, s.actorOf(r, u), "room.member.remove", room, target.Name)
	return nil
}

// leave takes room (whose place p is) out of u's rooms: u's sockets there
// end unless it is public (who may read it changed), and u's lists of
// rooms change.
func (s *Server) leave(ctx context.Context, u chat.User, room string, p chat.Place) error {
	epoch, err := s.opt.Store.LeaveRoom(ctx, u.ID, room)
	if err != nil {
		return err
	}
	if p.Kind != chat.RoomPublic {
		s.roomChanged(room, u.Name, epoch)
	}
	s.roomsChanged(u.Name, room)
	return nil
}

func (s *Server) handleAPIAddMember(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place) {
	var req userRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if err := s.addMember(r.Context(), r, u, room, p, req.User); err != nil {
		s.apiError(w, r, err)
		return
	}
	s.handleAPIMembersAfter(w, r, room, http.StatusCreated)
}

func (s *Server) handleAPIRemoveMember(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place) {
	if err := s.removeMember(r.Context(), r, u, room, p, r.PathValue("user")); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleAPIMembersAfter answers a change of members with the members.
func (s *Server) handleAPIMembersAfter(w http.ResponseWriter, r *http.Request, room string, status int) {
	names, err := s.opt.Store.RoomMembers(r.Context(), room)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, status, membersResponse{Members: names})
}

// mute mutes the user called name in the room for minutes, if u may
// (chat.Can, ActMute, with the target's role), at once on every process.
func (s *Server) mute(ctx context.Context, r *http.Request, u chat.User, room string, p chat.Place, name string, minutes int) (store.Mute, error) {
	if err := existing(p); err != nil {
		return store.Mute{}, err
	}
	if minutes < 1 || minutes > maxMuteMinutes {
		return store.Mute{}, chat.Errorf(chat.EInvalid, "minutes must be from 1 to %d.", maxMuteMinutes)
	}
	target, _, err := s.opt.Store.UserByName(ctx, strings.TrimSpace(name))
	if err != nil {
		return store.Mute{}, err
	}
	if err := s.allows(u, p, chat.ActMute, chat.Target{Role: target.Role}); err != nil {
		return store.Mute{}, err
	}
	until := s.opt.Now().Add(time.Duration(minutes) * time.Minute).UTC().Truncate(time.Second)
	if err := s.opt.Store.Mute(ctx, room, target.ID, until, u.ID); err != nil {
		return store.Mute{}, err
	}
	s.roomChanged(room, target.Name, 0)
	s.audit(ctx, s.actorOf(r, u), "room.mute", room, target.Name+" until "+until.Format(time.RFC3339))
	return store.Mute{User: target.Name, Until: until}, nil
}

// unmute lifts the mute of the user called name in the room, if u may.
func (s *Server) unmute(ctx context.Context, r *http.Request, u chat.User, room string, p chat.Place, name string) error {
	if err := existing(p); err != nil {
		return err
	}
	target, _, err := s.opt.Store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if err := s.allows(u, p, chat.ActMute, chat.Target{Role: target.Role}); err != nil {
		return err
	}
	if err := s.opt.Store.Unmute(ctx, room, target.ID); err != nil {
		return err
	}
	s.roomChanged(room, target.Name, 0)
	s.audit(ctx, s.actorOf(r, u), "room.unmute", room, target.Name)
	return nil
}

func (s *Server) handleAPIMute(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place) {
	var req userRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	m, err := s.mute(r.Context(), r, u, room, p, req.User, req.Minutes)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, m)
}

func (s *Server) handleAPIUnmute(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place) {
	if err := s.unmute(r.Context(), r, u, room, p, r.PathValue("user")); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// openDirect opens u's direct conversation with the users called names
// (u is in it whether named or not): 2 to 8 people, each an account.
// Talking to oneself alone is refused: a conversation has two people.
func (s *Server) openDirect(ctx context.Context, u chat.User, names []string) (chat.Room, bool, error) {
	ids, members := []int64{u.ID}, []string{u.Name}
	for _, n := range names {
		t, _, err := s.opt.Store.UserByName(ctx, strings.TrimSpace(n))
		if err != nil {
			return chat.Room{}, false, chat.Errorf(chat.ENotFound, "No such user: %q.", n)
		}
		if t.ID != u.ID && !containsID(ids, t.ID) {
			ids, members = append(ids, t.ID), append(members, t.Name)
		}
	}
	if len(ids) < store.MinDirectMembers {
		return chat.Room{}, false, chat.Errorf(chat.EInvalid, "A direct conversation is with someone else: name at least one other person.")
	}
	if len(ids) > store.MaxDirectMembers {
		return chat.Room{}, false, chat.Errorf(chat.EInvalid, "A direct conversation has at most %d people, you included.", store.MaxDirectMembers)
	}
	room, created, err := s.opt.Store.OpenDirect(ctx, ids, u.ID)
	if err == nil && created {
		// A socket opened on the name before it was made leaves it.
		s.roomChanged(room.Name, "", 0)
		// A new conversation: each member's user streams list it.
		for _, name := range members {
			s.roomsChanged(name, room.Name)
		}
	}
	return room, created, err
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// handleDirect (GET /dm/{username}/) goes to u's direct conversation with
// that person, opening it the first time. A GET that another site's link
// sent (Sec-Fetch-Site) makes nothing: it asks first, and the page's POST
// (to the same address) opens it.
func (s *Server) handleDirect(w http.ResponseWriter, r *http.Request, u chat.User) {
	name := r.PathValue("username")
	if site := r.Header.Get("Sec-Fetch-Site"); r.Method == http.MethodGet && (site == "cross-site" || site == "same-site") {
		if !chat.ValidUsername(name) {
			s.errorPage(w, r, http.StatusNotFound, "No such user.")
			return
		}
		p := s.page(r, "Message "+name+" · Parley")
		p.Query = name
		s.render.render(w, http.StatusOK, "direct", p)
		return
	}
	rm, _, err := s.openDirect(r.Context(), u, []string{name})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/chats/"+rm.Name+"/", http.StatusSeeOther) // #nosec G710 -- a direct room's name is dm- and hex
}

type directRequest struct {
	Users []string `json:"users"`
}

// handleAPIDirect (POST /api/v1/dms {"users"}) opens a direct
// conversation: 201 if it made it, 200 if it was there.
func (s *Server) handleAPIDirect(w http.ResponseWriter, r *http.Request, u chat.User) {
	var req directRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	rm, created, err := s.openDirect(r.Context(), u, req.Users)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, apiRoom{Room: rm})
}

// roomSettingsView is the room settings page's.
type roomSettingsView struct {
	roomInfo
	MuteMinutes []int // the durations the page offers
}

// settingsPlace reads u's place in the room of the settings page's path
// and asks chat.Can (ActManage): a room u may not read is a 404 page, one
// u may not change a 403 page.
func (s *Server) settingsPlace(w http.ResponseWriter, r *http.Request, u chat.User) (string, chat.Place, bool) {
	room := r.PathValue("room")
	if !chat.ValidRoomName(room) {
		s.errorPage(w, r, http.StatusNotFound, "No such room.")
		return "", chat.Place{}, false
	}
	room = chat.NormalizeRoomName(room)
	p, err := s.can(r.Context(), u, room, chat.ActManage, chat.Target{})
	if err == nil {
		err = existing(p)
	}
	if err != nil {
		s.pageError(w, r, err)
		return "", chat.Place{}, false
	}
	return room, p, true
}

// handleRoomSettings shows the room settings page.
func (s *Server) handleRoomSettings(w http.ResponseWriter, r *http.Request, u chat.User) {
	room, p, ok := s.settingsPlace(w, r, u)
	if !ok {
		return
	}
	pg := s.page(r, "Settings of #"+room+" · Parley")
	if done := r.URL.Query().Get("done"); done != "" {
		pg.Flash = settingsDone[done]
	}
	s.renderSettings(w, r, u, room, p, pg, http.StatusOK)
}

// settingsDone are the page's messages after a change, by ?done=.
var settingsDone = map[string]string{
	"topic": "Topic saved.", "kind": "Who may enter is saved.", "archive": "Archive saved.",
	"add": "Member added.", "remove": "Member removed.", "mute": "Mute saved.", "unmute": "Mute lifted.",
}

func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, u chat.User, room string, p chat.Place, pg page, status int) {
	info, err := s.roomInfo(r.Context(), u, room, p)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pg.Room, pg.RoomKind = room, info.Kind
	pg.Settings = &roomSettingsView{roomInfo: info, MuteMinutes: []int{10, 60, 24 * 60, 7 * 24 * 60}}
	if _, ok := pg.Form.Values["topic"]; !ok {
		pg.Form.Values["topic"] = info.Topic
	}
	s.render.render(w, status, "room_settings", pg)
}

// handleRoomSettingsPost applies one form of the settings page (its
// "action") and comes back to the page, which says it is done; a
// refusal shows the page again with the error by its field, what was
// typed kept.
func (s *Server) handleRoomSettingsPost(w http.ResponseWriter, r *http.Request, u chat.User) {
	room, p, ok := s.settingsPlace(w, r, u)
	if !ok {
		return
	}
	if !s.parseForm(w, r) {
		return
	}
	ctx, f := r.Context(), r.PostForm
	action := f.Get("action")
	var err error
	field := action
	switch action {
	case "topic":
		t := f.Get("topic")
		_, err = s.changeRoom(ctx, r, u, room, p, roomPatch{Topic: &t})
	case "kind":
		k := chat.RoomKind(f.Get("kind"))
		_, err = s.changeRoom(ctx, r, u, room, p, roomPatch{Kind: &k})
	case "archive":
		a := f.Get("archived") == "true"
		_, err = s.changeRoom(ctx, r, u, room, p, roomPatch{Archived: &a})
	case "add":
		err = s.addMember(ctx, r, u, room, p, f.Get("user"))
	case "remove":
		err = s.removeMember(ctx, r, u, room, p, f.Get("user"))
	case "mute":
		minutes, _ := strconv.Atoi(f.Get("minutes"))
		_, err = s.mute(ctx, r, u, room, p, f.Get("user"), minutes)
	case "unmute":
		err = s.unmute(ctx, r, u, room, p, f.Get("user"))
	default:
		err = chat.Errorf(chat.EInvalid, "Unknown change %q.", action)
		field = ""
	}
	if err == nil {
		http.Redirect(w, r, "/chats/"+room+"/settings/?done="+url.QueryEscape(action), http.StatusSeeOther) // #nosec G710 -- a valid room name is [a-z0-9_-]
		return
	}
	status := httpStatus(err)
	if status >= 500 {
		s.serverError(w, r, err)
		return
	}
	pg := s.page(r, "Settings of #"+room+" · Parley")
	for _, k := range []string{"topic", "user"} {
		if v, ok := f[k]; ok {
			pg.Form.Values[action+"."+k] = v[0]
			if k == "topic" {
				pg.Form.Values["topic"] = v[0]
			}
		}
	}
	if field != "" {
		pg.Form.Errors[field] = chat.ErrorMessage(err)
		pg.Form.Focus = field
	} else {
		pg.Form.Error = chat.ErrorMessage(err)
	}
	if p2, err := s.opt.Store.RoomPlace(ctx, room, u.ID); err == nil {
		p = p2
	}
	s.renderSettings(w, r, u, room, p, pg, status)
}

// handleAdminRooms lists every room but direct conversations, for admins
// (chat.CanAdmin); anyone else gets a 403 page.
func (s *Server) handleAdminRooms(w http.ResponseWriter, r *http.Request, u chat.User) {
	const perPage = 200
	rooms, err := s.opt.Store.AdminRooms(r.Context(), r.URL.Query().Get("after"), perPage)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pg := s.page(r, "Rooms · Admin · Parley")
	pg.AdminRooms = rooms
	if len(rooms) == perPage {
		pg.Query = rooms[len(rooms)-1].Name // where the next page starts
	}
	s.render.render(w, http.StatusOK, "admin_rooms", pg)
}
