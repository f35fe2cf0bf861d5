package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"parley/internal/chat"
	"parley/internal/store"
)

func (s *Server) page(r *http.Request, title string) page {
	p := page{Title: title, User: s.pageUser(r), Version: s.opt.Version,
		Form: form{Values: map[string]string{}, Errors: map[string]string{}}}
	if s.signupOpen() != nil {
		p.SignupClosed = s.opt.Signup
	}
	return p
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	p := s.page(r, "Parley")
	if p.User == nil {
		s.render.render(w, http.StatusOK, "landing", p)
		return
	}
	p.Title = "Dashboard · Parley"
	ctx := r.Context()
	mine, err := s.opt.Store.UserRooms(ctx, p.User.ID, 50)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	unread := unreadOf(mine)
	var myRooms, direct []chat.Room
	for _, ur := range mine {
		if ur.Kind == chat.RoomDirect {
			direct = append(direct, ur.Room)
		} else {
			myRooms = append(myRooms, ur.Room)
		}
	}
	p.MyRooms = roomViews(myRooms, unread)
	if len(direct) > 0 {
		names, err := s.opt.Store.DirectNames(ctx, p.User.ID)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		p.DirectRooms = roomViews(direct, unread)
		for i := range p.DirectRooms {
			p.DirectRooms[i].Label = directLabel(names[p.DirectRooms[i].Name])
		}
	}
	recent, err := s.opt.Store.RoomsFor(ctx, p.User.ID, "", 10)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	p.RecentRooms = roomViews(recent, unread)
	if left := r.URL.Query().Get("left"); chat.ValidRoomName(left) {
		p.Left = chat.NormalizeRoomName(left)
	}
	s.render.render(w, http.StatusOK, "dashboard", p)
}

// roomViews shows rooms with the user's unread counts.
func roomViews(rooms []chat.Room, unread map[string]int64) []roomView {
	out := make([]roomView, 0, len(rooms))
	for _, rm := range rooms {
		out = append(out, roomView{Name: rm.Name, Label: rm.Name, Kind: rm.Kind, Topic: rm.Topic, Archived: rm.Archived,
			Messages: rm.Messages, LastActivity: rm.LastActivity, Unread: unread[rm.Name]})
	}
	return out
}

// directLabel is what a direct conversation is shown as: the other
// people's names ("Only you" once everyone else has left).
func directLabel(others []string) string {
	if len(others) == 0 {
		return "Only you"
	}
	return strings.Join(others, ", ")
}

// unreadOf maps a user's rooms to their unread counts.
func unreadOf(mine []store.UserRoom) map[string]int64 {
	m := make(map[string]int64, len(mine))
	for _, ur := range mine {
		m[ur.Name] = ur.Unread
	}
	return m
}

// unread returns the user's unread counts by room.
func (s *Server) unread(ctx context.Context, u chat.User) (map[string]int64, error) {
	mine, err := s.opt.Store.UserRooms(ctx, u.ID, 500)
	return unreadOf(mine), err
}

const (
	signupTitle = "Sign up · Parley"
	loginTitle  = "Log in · Parley"
)

// accountForm serves the sign-up or log-in form; a user who is logged in
// already goes straight on to next. The log-in form takes the name to
// fill in from ?username=, as a room page whose session ended sends it.
func (s *Server) accountForm(name, title string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := s.page(r, title)
		setNext(&p, r)
		if p.User != nil {
			http.Redirect(w, r, safeNext(p.Next), http.StatusFound) // #nosec G710 -- safeNext keeps same-site paths only (FuzzSafeNext)
			return
		}
		if name == "signup" {
			if err := s.signupOpen(); err != nil {
				s.errorPage(w, r, http.StatusForbidden, chat.ErrorMessage(err))
				return
			}
		}
		q := r.URL.Query()
		if u := strings.TrimSpace(q.Get("username")); chat.ValidUsername(u) {
			p.Form.Values["username"] = u
		}
		p.Ended = q.Get("ended") != ""
		p.Form.Focus = "username"
		if name == "login" && p.Form.Values["username"] != "" {
			p.Form.Focus = "password"
		}
		s.render.render(w, http.StatusOK, name, p)
	}
}

// setNext puts the page's ?next= in p, and the room it leads to, if any,
// which the form names.
func setNext(p *page, r *http.Request) {
	p.Next = nextParam(r)
	if rest, ok := strings.CutPrefix(p.Next, "/chats/"); ok {
		if room, ok := strings.CutSuffix(rest, "/"); ok && chat.ValidRoomName(room) {
			p.NextRoom = room
		}
	}
}

// postedAccountForm reads a posted sign-up or log-in form into the page
// that answers it, the username kept.
func (s *Server) postedAccountForm(w http.ResponseWriter, r *http.Request, title string) (page, string, bool) {
	if !s.parseForm(w, r) {
		return page{}, "", false
	}
	p := s.page(r, title)
	setNext(&p, r)
	name := strings.TrimSpace(r.PostForm.Get("username"))
	p.Form.Values["username"] = name
	return p, name, true
}

// handleSignup checks every field at once, so that one answer says all
// there is to fix, and puts the focus on the first field to fix. The
// passwords never come back in the page; static/signup.js keeps those
// that were right in the browser.
func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) {
	if err := s.signupOpen(); err != nil {
		s.errorPage(w, r, http.StatusForbidden, chat.ErrorMessage(err))
		return
	}
	s.signupPage(w, r, "")
}

// signupPage answers a posted sign-up form, through the invite whose code
// is invite if it is not "".
func (s *Server) signupPage(w http.ResponseWriter, r *http.Request, invite string) {
	p, name, ok := s.postedAccountForm(w, r, signupTitle)
	if !ok {
		return
	}
	if invite != "" {
		p.FormAction = "/join/" + invite
	}
	ctx := r.Context()
	pw1, pw2 := r.PostForm.Get("password1"), r.PostForm.Get("password2")
	status := http.StatusUnprocessableEntity
	if err := chat.CheckUsername(name); err != nil {
		p.Form.Errors["username"] = chat.ErrorMessage(err)
	} else if _, _, err := s.opt.Store.UserByName(ctx, name); err == nil {
		p.Form.Errors["username"] = "That username is taken."
	} else if chat.ErrorCode(err) != chat.ENotFound {
		s.serverError(w, r, err)
		return
	}
	if err := chat.CheckPassword(pw1); err != nil {
		p.Form.Errors["password1"] = chat.ErrorMessage(err)
	}
	if pw2 == "" {
		p.Form.Errors["password2"] = "Enter the password a second time."
	} else if pw1 != pw2 {
		p.Form.Errors["password2"] = "The two passwords do not match."
	}
	if len(p.Form.Errors) == 0 {
		u, wait, err := s.signup(r, name, pw1, invite)
		switch chat.ErrorCode(err) {
		case "":
			if err := s.logIn(w, r, u); err != nil {
				s.serverError(w, r, err)
				return
			}
			http.Redirect(w, r, safeNext(p.Next), http.StatusSeeOther) // #nosec G710 -- safeNext keeps same-site paths only (FuzzSafeNext)
			return
		case chat.EConflict:
			p.Form.Errors["username"] = chat.ErrorMessage(err) // taken in the meantime
		case chat.EInvalid:
			p.Form.Error = chat.ErrorMessage(err)
		case chat.ENotFound, chat.EForbidden: // the invite went in the meantime
			s.errorPage(w, r, http.StatusGone, chat.ErrorMessage(err))
			return
		case chat.ERateLimited:
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
			p.Form.Error = chat.ErrorMessage(err)
			status = http.StatusTooManyRequests
		default:
			s.serverError(w, r, err)
			return
		}
	}
	if status != http.StatusTooManyRequests && len(p.Form.Errors) == 1 && p.Form.Errors["username"] == "That username is taken." {
		status = http.StatusConflict
	}
	for _, f := range []string{"username", "password1", "password2"} {
		if p.Form.Errors[f] != "" {
			p.Form.Focus = f
			break
		}
	}
	s.render.render(w, status, "signup", p)
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	p, name, ok := s.postedAccountForm(w, r, loginTitle)
	if !ok {
		return
	}
	u, err := s.login(w, r, name, r.PostForm.Get("password"))
	if err != nil {
		status := httpStatus(err)
		if status >= 500 {
			s.serverError(w, r, err)
			return
		}
		p.Form.Error = chat.ErrorMessage(err)
		p.Form.Focus = "password"
		if status == http.StatusUnauthorized {
			status = http.StatusBadRequest // a form page, not an auth challenge
		}
		s.render.render(w, status, "login", p)
		return
	}
	if err := s.logIn(w, r, u); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, safeNext(p.Next), http.StatusSeeOther) // #nosec G710 -- safeNext keeps same-site paths only (FuzzSafeNext)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	s.endSession(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// handleChats is the Rooms page: one box to enter a room by name, which
// lists the rooms that match as one types (static/chats.js; ?q= without
// it) and offers to create the room when none is called that.
func (s *Server) handleChats(w http.ResponseWriter, r *http.Request, u chat.User) {
	p := s.page(r, "Rooms · Parley")
	q := r.URL.Query()
	status := http.StatusOK
	if q.Has("room") {
		name := strings.TrimSpace(q.Get("room"))
		if chat.ValidRoomName(name) {
			http.Redirect(w, r, "/chats/"+chat.NormalizeRoomName(name)+"/", http.StatusSeeOther) // #nosec G710 -- a valid room name is [A-Za-z0-9_-]
			return
		}
		status = http.StatusBadRequest
		p.Form.Values["room"] = name
		p.Form.Errors["room"] = chat.ErrorMessage(chat.CheckRoomName(name))
		if sug := chat.SuggestRoomName(name); sug != "" {
			// Offer the name fixed, in the box, ready to enter.
			p.Form.Values["room"] = sug
			p.Form.Errors["room"] = "“" + name + "” cannot be a room name: names use only letters, digits, _ and -. " +
				"Press Enter to go to #" + sug + " instead, or change it."
		}
	}
	p.Query = strings.TrimSpace(q.Get("q"))
	if p.Query != "" && !q.Has("room") {
		p.Form.Values["room"] = p.Query
	}
	s.chatsPage(w, r, u, p, status)
}

// chatsPage renders the Rooms page for p.Query: the rooms it finds, and
// the room Enter goes to first.
func (s *Server) chatsPage(w http.ResponseWriter, r *http.Request, u chat.User, p page, status int) {
	rooms, err := s.opt.Store.RoomsFor(r.Context(), u.ID, p.Query, 50)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	unread, err := s.unread(r.Context(), u)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	p.Results = roomViews(rooms, unread)
	if p.Query != "" {
		p.Target, p.Create = enterTarget(p.Query, rooms)
		// The room Enter goes to comes first.
		if i := slices.IndexFunc(p.Results, func(rv roomView) bool { return rv.Name == p.Target }); i > 0 {
			rv := p.Results[i]
			p.Results = slices.Insert(slices.Delete(p.Results, i, i+1), 0, rv)
		}
	}
	s.render.render(w, status, "chats", p)
}

// enterTarget is the room that entering typed goes to, among the rooms
// found for it: the room called exactly that, else the name typed made
// valid; create is true when no room of that name exists yet. target is
// "" when nothing of typed makes a name. (static/chats.js: enterTarget.)
func enterTarget(typed string, found []chat.Room) (target string, create bool) {
	has := func(name string) bool {
		for _, r := range found {
			if r.Name == name {
				return true
			}
		}
		return false
	}
	if has(typed) {
		return typed, false
	}
	target = chat.SuggestRoomName(typed)
	return target, target != "" && !has(target)
}

func (s *Server) handleRoom(w http.ResponseWriter, r *http.Request, u chat.User) {
	name := r.PathValue("room")
	if !chat.ValidRoomName(name) {
		p := s.page(r, http.StatusText(http.StatusNotFound)+" · Parley")
		p.Status = http.StatusNotFound
		p.Message = "That is not a valid room name: a room name is 1 to 64 letters, digits, _ or -."
		p.Suggest = chat.SuggestRoomName(name)
		s.render.render(w, http.StatusNotFound, "error", p)
		return
	}
	if lower := chat.NormalizeRoomName(name); lower != name {
		// One room whatever the case: its one address.
		to := "/chats/" + lower + "/"
		if r.URL.RawQuery != "" {
			to += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, to, http.StatusMovedPermanently) // #nosec G710 -- a valid room name is [a-z0-9_-]
		return
	}
	// A page view reads, and writes nothing: the room is made by its
	// first message, and the socket records who entered.
	ctx := r.Context()
	place, err := s.can(ctx, u, name, chat.ActRead, chat.Target{})
	switch chat.ErrorCode(err) {
	case "":
	case chat.ENotFound:
		s.errorPage(w, r, http.StatusNotFound, chat.ErrorMessage(err))
		return
	default:
		s.serverError(w, r, err)
		return
	}
	exists := place.Exists
	if unmadeDirect(name, place) {
		// A direct conversation is made from a person's name, never
		// by a first message.
		s.errorPage(w, r, http.StatusNotFound, "No such conversation. A direct conversation starts from a person's name: /dm/NAME/.")
		return
	}
	p := s.page(r, name+" · Parley")
	p.Room = name
	p.RoomExists = exists
	p.History = s.opt.History
	if err := s.roomHead(ctx, &p, u, place); err != nil {
		s.serverError(w, r, err)
		return
	}
	if exists {
		lastRead, member, err := s.opt.Store.ReadMarker(ctx, u.ID, name)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		if err := s.roomHistory(ctx, &p, u, lastRead, member); err != nil {
			s.serverError(w, r, err)
			return
		}
		if p.Level, err = s.opt.Store.Level(ctx, u.ID, name); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	s.render.render(w, http.StatusOK, "room", p)
}

// roomHead puts in p what the room page shows of the room above its
// messages and in its composer: what it is called ("#name"; a direct
// conversation, by the other people's names), its topic and kind,
// whether u may change its settings, and why u may not send, if so
// (archived, muted: chat.Can).
func (s *Server) roomHead(ctx context.Context, p *page, u chat.User, place chat.Place) error {
	p.RoomKind, p.RoomLabel = place.Kind, "#"+p.Room
	if place.Exists {
		rm, err := s.opt.Store.Room(ctx, p.Room)
		if err != nil {
			return err
		}
		p.Topic = rm.Topic
	}
	if place.Kind == chat.RoomDirect {
		members, err := s.opt.Store.RoomMembers(ctx, p.Room)
		if err != nil {
			return err
		}
		p.RoomLabel = directLabel(slices.DeleteFunc(members, func(n string) bool { return n == u.Name }))
		p.Title = p.RoomLabel + " · Parley"
	}
	p.CanManage = place.Exists && s.allows(u, place, chat.ActManage, chat.Target{}) == nil
	p.MentionRoom = place.Kind != chat.RoomDirect && s.allows(u, place, chat.ActMentionRoom, chat.Target{}) == nil
	if err := s.allows(u, place, chat.ActPost, chat.Target{}); err != nil {
		p.PostRefusal = chat.ErrorMessage(err)
	}
	return nil
}

// handleCreateRoom makes the room the Rooms page's "Create #name" row
// names (POST /chats/, room=NAME), within the user's room limit, and goes
// there; a room that exists already is just entered.
func (s *Server) handleCreateRoom(w http.ResponseWriter, r *http.Request, u chat.User) {
	if !s.parseForm(w, r) {
		return
	}
	typed := strings.TrimSpace(r.PostForm.Get("room"))
	kind := chat.RoomKind(r.PostForm.Get("kind"))
	if kind == "" {
		kind = chat.RoomPublic
	}
	rm, _, wait, err := s.createRoom(r.Context(), u, typed, kind)
	if err == nil {
		http.Redirect(w, r, "/chats/"+rm.Name+"/", http.StatusSeeOther) // #nosec G710 -- a valid room name is [a-z0-9_-]
		return
	}
	status := httpStatus(err)
	if status >= 500 {
		s.serverError(w, r, err)
		return
	}
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
	}
	p := s.page(r, "Rooms · Parley")
	p.Query = typed
	p.Form.Values["room"] = typed
	p.Form.Errors["room"] = chat.ErrorMessage(err)
	s.chatsPage(w, r, u, p, status)
}

// createRoom makes the room called name, of kind (public or private), for
// u, within u's room limit, and enters u into it. A room that exists is
// entered and returned, not created, and costs nothing of the limit; one
// that u may not read (another's private room) is a conflict: its name is
// taken, and nothing more of it is told.
func (s *Server) createRoom(ctx context.Context, u chat.User, name string, kind chat.RoomKind) (chat.Room, bool, time.Duration, error) {
	if kind != chat.RoomPublic && kind != chat.RoomPrivate {
		return chat.Room{}, false, 0, chat.Errorf(chat.EInvalid, "kind must be public or private.")
	}
	if err := chat.CheckRoomName(name); err != nil {
		if sug := chat.SuggestRoomName(name); sug != "" {
			err = chat.Errorf(chat.EInvalid, "“%s” cannot be a room name: names use only letters, digits, _ and -. Try “%s”.", name, sug)
		}
		return chat.Room{}, false, 0, err
	}
	name = chat.NormalizeRoomName(name)
	if err := notDirectName(name); err != nil {
		return chat.Room{}, false, 0, err
	}
	if _, err := s.can(ctx, u, name, chat.ActRead, chat.Target{}); chat.ErrorCode(err) == chat.ENotFound {
		return chat.Room{}, false, 0, chat.Errorf(chat.EConflict, "The name #%s is taken; choose another.", name)
	} else if err != nil {
		return chat.Room{}, false, 0, err
	}
	rm, err := s.opt.Store.Room(ctx, name)
	created := false
	switch chat.ErrorCode(err) {
	case "":
	case chat.ENotFound:
		if ok, wait := s.allowNewRoom(ctx, u, name); !ok {
			return chat.Room{}, false, wait, s.roomLimited(wait)
		}
		rm, created, err = s.opt.Store.CreateRoomKind(ctx, name, u.ID, kind)
		if err != nil {
			return chat.Room{}, false, 0, err
		}
		s.log.Info("room created", "room", name, "user", u.Name, "kind", string(rm.Kind))
		if created && rm.Kind != chat.RoomPublic {
			// A socket opened on the name before it was made leaves it.
			s.roomChanged(name, "", 0)
		}
	default:
		return chat.Room{}, false, 0, err
	}
	_, entered, err := s.opt.Store.Enter(ctx, u.ID, name)
	if err != nil {
		return chat.Room{}, false, 0, err
	}
	if entered {
		s.roomsChanged(u.Name, name)
	}
	return rm, created, 0, nil
}

// pathRoom returns the room a form's address names ({room}), normalized;
// a name no room can have gets a 404 page, and ok is false.
func (s *Server) pathRoom(w http.ResponseWriter, r *http.Request) (name string, ok bool) {
	name = r.PathValue("room")
	if !chat.ValidRoomName(name) {
		s.errorPage(w, r, http.StatusNotFound, "That is not a valid room name.")
		return "", false
	}
	return chat.NormalizeRoomName(name), true
}

// handleLeaveRoom takes the room out of the user's rooms (POST
// /chats/{room}/leave/) and goes to the dashboard, which says so.
func (s *Server) handleLeaveRoom(w http.ResponseWriter, r *http.Request, u chat.User) {
	name, ok := s.pathRoom(w, r)
	if !ok {
		return
	}
	place, err := s.can(r.Context(), u, name, chat.ActRead, chat.Target{})
	if chat.ErrorCode(err) == chat.ENotFound {
		s.errorPage(w, r, http.StatusNotFound, chat.ErrorMessage(err))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if err := s.leave(r.Context(), u, name, place); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/?left="+name, http.StatusSeeOther) // #nosec G710 -- a valid room name is [a-z0-9_-]
}

// roomHistory puts in p the messages the room page opens with: the latest
// --history of them, or, when the user has more unread than that, the
// first unread ones with a few read ones above them. Either way the
// "New messages" line sits before the first unread one, and the page's
// socket goes on from the last one shown. A newcomer starts at the latest,
// with nothing marked unread. The page shows messages as the original
// protocol has them: current content, deleted ones left out.
func (s *Server) roomHistory(ctx context.Context, p *page, u chat.User, lastRead int64, member bool) error {
	latest, err := s.opt.Store.LastSeq(ctx, p.Room)
	if err != nil {
		return err
	}
	var msgs []chat.Message
	var firstUnread int64
	if member && lastRead < latest {
		// The entries after the marker may be changes only: then nothing
		// is unread.
		unread, more, err := s.opt.Store.Messages(ctx, p.Room, store.Page{After: lastRead, FromStart: lastRead == 0, Limit: s.opt.History})
		if err != nil {
			return err
		}
		if len(unread) > 0 {
			firstUnread = unread[0].Seq
		}
		above := min(3, s.opt.History/4) // read messages shown above the line
		if more || len(unread)+above > s.opt.History {
			read, _, err := s.opt.Store.Messages(ctx, p.Room, store.Page{Before: firstUnread, Limit: max(above, 1)})
			if err != nil {
				return err
			}
			if above == 0 {
				read = nil
			}
			msgs = append(read, unread[:min(len(unread), s.opt.History-len(read))]...)
		}
	}
	if msgs == nil {
		msgs, _, err = s.opt.Store.Messages(ctx, p.Room, store.Page{Limit: s.opt.History})
		if err != nil {
			return err
		}
	}
	// A newcomer's read marker is set when their socket enters the room
	// (store.EnterRoom): what was said before they came is not unread.
	p.Messages = timeline(msgs, u.Name, firstUnread, s.opt.Now())
	// Anything older is before the first shown.
	p.HasOlder = len(msgs) > 0 && msgs[0].Seq > 1
	return nil
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if isAPI(r) {
		s.handleAPINotFound(w, r)
		return
	}
	s.errorPage(w, r, http.StatusNotFound, "There is no page at this address.")
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p := s.page(r, http.StatusText(status)+" · Parley")
	p.Status, p.Message = status, msg
	s.render.render(w, status, "error", p)
}

// serverError logs err once and shows a page that tells nothing of it.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	s.metrics.httpErrors.WithLabelValues(chat.EInternal).Inc()
	s.errorPage(w, r, http.StatusInternalServerError, chat.ErrorMessage(err))
}

// pageError shows err as a page: a *chat.Error with its status and
// message, anything else as serverError does.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	status := httpStatus(err)
	if status >= 500 {
		s.serverError(w, r, err)
		return
	}
	s.errorPage(w, r, status, chat.ErrorMessage(err))
}

// parseForm reads a posted form, answering 413 or 400 itself on failure.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		if strings.Contains(err.Error(), "too large") {
			s.tooLarge(w, r)
		} else {
			s.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
		}
		return false
	}
	return true
}

func (s *Server) staticHandler() http.Handler {
	fsrv := http.FileServerFS(staticFS())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Files only: a folder's listing is nobody's business.
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			s.handleNotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		fsrv.ServeHTTP(w, r)
	})
}

func (s *Server) handleFavicon(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
}

// nextParam is the ?next= of a login or sign-up, from the query or the
// form, kept only if it is a path on this site.
func nextParam(r *http.Request) string {
	n := r.FormValue("next")
	if n == "" {
		return ""
	}
	if safe := safeNext(n); safe != "/" {
		return safe
	}
	return ""
}
