package chat_test

import (
	"fmt"
	"testing"
	"time"

	"parley/internal/chat"
)

// The whole table of who may do what where: every role, owner or not,
// every kind of room and standing in it, every action.
func TestCan(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	const me, other = 1, 2
	places := map[string]chat.Place{
		"public":             {Kind: chat.RoomPublic, Exists: true, Owner: other},
		"public, not yet":    {Kind: chat.RoomPublic},
		"public, owned":      {Kind: chat.RoomPublic, Exists: true, Owner: me, Member: true},
		"private, member":    {Kind: chat.RoomPrivate, Exists: true, Owner: other, Member: true},
		"private, owned":     {Kind: chat.RoomPrivate, Exists: true, Owner: me, Member: true},
		"private, outsider":  {Kind: chat.RoomPrivate, Exists: true, Owner: other},
		"direct, member":     {Kind: chat.RoomDirect, Exists: true, Owner: me, Member: true},
		"direct, outsider":   {Kind: chat.RoomDirect, Exists: true, Owner: other},
		"archived":           {Kind: chat.RoomPublic, Exists: true, Owner: other, Archived: true},
		"archived, owned":    {Kind: chat.RoomPrivate, Exists: true, Owner: me, Member: true, Archived: true},
		"public, muted":      {Kind: chat.RoomPublic, Exists: true, Owner: other, MutedUntil: now.Add(time.Hour)},
		"public, mute ended": {Kind: chat.RoomPublic, Exists: true, Owner: other, MutedUntil: now.Add(-time.Second)},
	}
	type act struct {
		a chat.Action
		t chat.Target
	}
	acts := map[string]act{
		"read":           {chat.ActRead, chat.Target{}},
		"post":           {chat.ActPost, chat.Target{}},
		"react":          {chat.ActReact, chat.Target{}},
		"edit own":       {chat.ActEdit, chat.Target{Own: true}},
		"edit other's":   {chat.ActEdit, chat.Target{}},
		"delete own":     {chat.ActDelete, chat.Target{Own: true}},
		"delete other's": {chat.ActDelete, chat.Target{}},
		"mute member":    {chat.ActMute, chat.Target{Role: chat.RoleMember}},
		"mute moderator": {chat.ActMute, chat.Target{Role: chat.RoleModerator}},
		"mute admin":     {chat.ActMute, chat.Target{Role: chat.RoleAdmin}},
		"manage":         {chat.ActManage, chat.Target{}},
		"@room":          {chat.ActMentionRoom, chat.Target{}},
	}
	// What each role may do, by place: "ok", "not_found" or "forbidden".
	// A place missing from a row is the same answer for every action
	// given below it in want.
	const (
		ok  = ""
		nf  = chat.ENotFound
		frb = chat.EForbidden
	)
	type row map[string]string // action -> code
	all := func(code string) row {
		r := row{}
		for a := range acts {
			r[a] = code
		}
		return r
	}
	with := func(base row, changes row) row {
		r := row{}
		for k, v := range base {
			r[k] = v
		}
		for k, v := range changes {
			r[k] = v
		}
		return r
	}
	// A member in a public room someone else owns.
	memberPublic := row{"read": ok, "post": ok, "react": ok, "edit own": ok, "edit other's": frb,
		"delete own": ok, "delete other's": frb, "mute member": frb, "mute moderator": frb, "mute admin": frb,
		"manage": frb, "@room": frb}
	ownerRoom := with(memberPublic, row{"delete other's": ok, "mute member": ok, "manage": ok, "@room": ok})
	direct := with(memberPublic, row{"@room": ok, "mute member": frb, "manage": frb})
	archived := with(memberPublic, row{"post": frb, "react": frb, "edit own": frb, "delete own": frb, "@room": frb})
	muted := with(memberPublic, row{"post": frb, "react": frb, "edit own": frb})
	moderate := row{"delete other's": ok, "mute member": ok, "@room": ok}
	want := map[chat.Role]map[string]row{
		chat.RoleMember: {
			"public": memberPublic, "public, not yet": with(memberPublic, row{"manage": nf}), "public, owned": ownerRoom,
			"private, member": memberPublic, "private, owned": ownerRoom, "private, outsider": all(nf),
			"direct, member": direct, "direct, outsider": all(nf),
			"archived": archived, "archived, owned": with(archived, row{"mute member": ok, "manage": ok}),
			"public, muted": muted, "public, mute ended": memberPublic,
		},
		chat.RoleModerator: {
			"public": with(memberPublic, moderate), "public, not yet": with(memberPublic, with(moderate, row{"manage": nf})),
			"public, owned":   with(ownerRoom, moderate),
			"private, member": with(memberPublic, moderate), "private, owned": with(ownerRoom, moderate),
			"private, outsider": all(nf), "direct, member": with(direct, row{"delete other's": ok}),
			"direct, outsider":   all(nf),
			"archived":           with(archived, row{"mute member": ok}),
			"archived, owned":    with(archived, row{"mute member": ok, "manage": ok}),
			"public, muted":      with(muted, row{"delete other's": ok, "mute member": ok}),
			"public, mute ended": with(memberPublic, moderate),
		},
		chat.RoleAdmin: {
			"public":            with(memberPublic, with(moderate, row{"mute moderator": ok, "manage": ok})),
			"public, not yet":   with(memberPublic, with(moderate, row{"mute moderator": ok, "manage": nf})),
			"public, owned":     with(ownerRoom, row{"mute moderator": ok}),
			"private, member":   with(memberPublic, with(moderate, row{"mute moderator": ok, "manage": ok})),
			"private, owned":    with(ownerRoom, row{"mute moderator": ok}),
			"private, outsider": with(all(nf), row{"manage": ok}), "direct, member": with(direct, row{"delete other's": ok}),
			"direct, outsider":   all(nf),
			"archived":           with(archived, row{"mute member": ok, "mute moderator": ok, "manage": ok}),
			"archived, owned":    with(archived, row{"mute member": ok, "mute moderator": ok, "manage": ok}),
			"public, muted":      with(muted, row{"delete other's": ok, "mute member": ok, "mute moderator": ok, "manage": ok}),
			"public, mute ended": with(memberPublic, with(moderate, row{"mute moderator": ok, "manage": ok})),
		},
	}
	for role, byPlace := range want {
		for place, p := range places {
			r, ok := byPlace[place]
			if !ok {
				t.Fatalf("the table has no row for %s in %s", role, place)
			}
			for name, a := range acts {
				code := chat.ErrorCode(chat.Can(chat.Actor{ID: me, Role: role}, p, a.a, a.t, now))
				if code != r[name] {
					t.Errorf("%s, %s: %s gives %q; want %q", role, place, name, code, r[name])
				}
			}
		}
	}
}

func TestCanAdminAndDeactivate(t *testing.T) {
	for _, tc := range []struct {
		who, target chat.Role
		self        bool
		admin, deac bool
	}{
		{chat.RoleAdmin, chat.RoleAdmin, false, true, true},
		{chat.RoleAdmin, chat.RoleMember, true, true, false},
		{chat.RoleModerator, chat.RoleMember, false, false, true},
		{chat.RoleModerator, chat.RoleModerator, false, false, false},
		{chat.RoleModerator, chat.RoleAdmin, false, false, false},
		{chat.RoleMember, chat.RoleMember, false, false, false},
	} {
		name := fmt.Sprintf("%s on %s (self %v)", tc.who, tc.target, tc.self)
		if got := chat.CanAdmin(chat.Actor{Role: tc.who}) == nil; got != tc.admin {
			t.Errorf("%s: admin %v", name, got)
		}
		if got := chat.CanDeactivate(chat.Actor{Role: tc.who}, tc.target, tc.self) == nil; got != tc.deac {
			t.Errorf("%s: deactivate %v", name, got)
		}
	}
	if _, err := chat.ParseRole("root"); chat.ErrorCode(err) != chat.EInvalid {
		t.Errorf("ParseRole(root) = %v", err)
	}
	for _, r := range []string{"admin", "moderator", "member"} {
		if got, err := chat.ParseRole(r); err != nil || string(got) != r {
			t.Errorf("ParseRole(%s) = %v, %v", r, got, err)
		}
	}
}
