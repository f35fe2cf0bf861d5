package chat

import "time"

// Role is what an account may do beyond its own rooms.
type Role string

// Roles. The first account of an empty database is an admin.
const (
	RoleMember    Role = "member"
	RoleModerator Role = "moderator"
	RoleAdmin     Role = "admin"
)

// ParseRole reads a role's name, as the shell, the API and the admin
// pages take it.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleMember, RoleModerator, RoleAdmin:
		return r, nil
	}
	return "", Errorf(EInvalid, "A role is admin, moderator or member.")
}

// rank orders roles: one may act on accounts of a lower rank only.
func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 2
	case RoleModerator:
		return 1
	}
	return 0
}

// RoomKind says who may enter a room.
type RoomKind string

// Room kinds.
const (
	// RoomPublic: any signed-in user enters by name. The default, and the
	// original application's only kind.
	RoomPublic RoomKind = "public"
	// RoomPrivate: members only; to anyone else it does not exist.
	RoomPrivate RoomKind = "private"
	// RoomDirect: a conversation of 2–8 people, its members fixed.
	RoomDirect RoomKind = "direct"
)

// Actor is who asks: an account, as access sees it.
type Actor struct {
	ID   int64
	Role Role
}

// Place is a room, as access sees it, and the actor's standing in it.
type Place struct {
	Kind     RoomKind
	Owner    int64 // the account that made it; 0 for none
	Archived bool  // read-only
	// Exists is false for a public room nobody has created yet: it may be
	// entered (its first message creates it).
	Exists bool
	// Member: the actor is a member (private rooms and direct messages:
	// may enter; public rooms: it is in their list).
	Member bool
	// MutedUntil: the actor may not send in the room until then.
	MutedUntil time.Time
	// Epoch is the room's access epoch: one more at every change that
	// may take someone's right to read it (made private or direct, a
	// member gone). Each entry of its log carries the epoch it was
	// written under (Message.Epoch), so that a socket checked under an
	// older one is sent nothing newer before it is checked again.
	Epoch int64
}

// Action is what is asked.
type Action uint8

// Actions.
const (
	// ActRead: see that the room exists and read it: its page, history,
	// socket, search results, presence, counts, lists.
	ActRead Action = iota + 1
	// ActPost: send a message; ActReact: add or remove a reaction.
	ActPost
	ActReact
	// ActEdit: edit one's own message (OnOwn decides whose it is).
	ActEdit
	// ActDelete: delete a message (OnOwn: one's own).
	ActDelete
	// ActMute: mute someone in the room.
	ActMute
	// ActManage: set the topic, the kind, the members; archive.
	ActManage
	// ActMentionRoom: notify everyone in the room with @room.
	ActMentionRoom
)

// Target is what an action is done to, where it matters.
type Target struct {
	// Own: the message is the actor's.
	Own bool
	// Role is the role of the account acted on (a mute's target).
	Role Role
}

// Can says whether the actor may do the action in the place, at now: nil,
// or a *Error — not_found where the room must not be known to exist (a
// private room or direct message the actor is not in), forbidden with a
// message that says why otherwise. It is the one place these rules are
// written; every path (page, API, socket upgrade and frame, history,
// search, presence, counts) asks it.
func Can(who Actor, p Place, a Action, t Target, now time.Time) error {
	visible := p.Kind == RoomPublic || p.Member
	if !visible {
		// Admins manage every room but direct conversations: a private
		// room is in their list of rooms (/admin/rooms/), and they may
		// change its settings and members, though they read it only once
		// they are one of them.
		if a == ActManage && who.Role == RoleAdmin && p.Kind == RoomPrivate && p.Exists {
			return nil
		}
		return Errorf(ENotFound, "No such room.")
	}
	if a == ActRead {
		return nil
	}
	owner := p.Owner != 0 && p.Owner == who.ID && p.Kind != RoomDirect
	moderator := who.Role == RoleModerator || who.Role == RoleAdmin
	writes := a == ActPost || a == ActReact || a == ActEdit || a == ActDelete || a == ActMentionRoom
	if writes && p.Archived {
		return Errorf(EForbidden, "This room is archived: it can be read, not changed.")
	}
	if (a == ActPost || a == ActReact || a == ActEdit || a == ActMentionRoom) && now.Before(p.MutedUntil) {
		return Errorf(EForbidden, "You are muted in this room until %s.", p.MutedUntil.UTC().Format("2006-01-02 15:04 UTC"))
	}
	switch a {
	case ActPost, ActReact:
		return nil
	case ActEdit:
		if !t.Own {
			return Errorf(EForbidden, "Only its author may edit a message.")
		}
		return nil
	case ActDelete:
		if t.Own || moderator || owner {
			return nil
		}
		return Errorf(EForbidden, "Only its author, a moderator or the room's owner may delete a message.")
	case ActMute:
		if p.Kind == RoomDirect {
			return Errorf(EForbidden, "Nobody is muted in a direct conversation.")
		}
		if !moderator && !owner {
			return Errorf(EForbidden, "Only a moderator or the room's owner may mute someone.")
		}
		if t.Role.rank() >= who.Role.rank() && t.Role != RoleMember {
			return Errorf(EForbidden, "A %s cannot be muted by a %s.", t.Role, who.Role)
		}
		return nil
	case ActManage:
		if !p.Exists {
			return Errorf(ENotFound, "No such room.")
		}
		if p.Kind == RoomDirect {
			return Errorf(EForbidden, "A direct conversation has no settings.")
		}
		if owner || who.Role == RoleAdmin {
			return nil
		}
		return Errorf(EForbidden, "Only the room's owner or an admin may change this room.")
	case ActMentionRoom:
		if p.Kind == RoomDirect || owner || moderator {
			return nil
		}
		return Errorf(EForbidden, "Only the room's owner or a moderator may notify everyone with @room.")
	}
	return Errorf(EForbidden, "Not allowed.")
}

// CanAdmin says whether the actor may administer accounts, invites, rooms
// and the audit log (moderators: deactivate members only).
func CanAdmin(who Actor) error {
	if who.Role != RoleAdmin {
		return Errorf(EForbidden, "Only an admin may do this.")
	}
	return nil
}

// CanDeactivate says whether the actor may deactivate (or reactivate) an
// account of role target: admins any but themselves, moderators members.
func CanDeactivate(who Actor, target Role, self bool) error {
	switch {
	case self:
		return Errorf(EForbidden, "You cannot deactivate your own account.")
	case who.Role == RoleAdmin:
		return nil
	case who.Role == RoleModerator && target == RoleMember:
		return nil
	}
	return Errorf(EForbidden, "Only an admin, or a moderator for a member, may deactivate an account.")
}
