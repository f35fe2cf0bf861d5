package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"parley/internal/chat"
	"parley/internal/store"
	"parley/internal/store/storetest"
)

// Of many first sign-ups at once into an empty database, exactly one is
// an admin; every later one is a member unless made an admin.
func TestFirstAccountIsAdmin(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		const n = 12
		users := make([]chat.User, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				users[i], errs[i] = s.CreateUser(ctx, fmt.Sprintf("first%d", i), "h", false)
			}()
		}
		wg.Wait()
		admins := 0
		for i, u := range users {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if u.Role == chat.RoleAdmin {
				admins++
			}
			got, _, err := s.UserByName(ctx, u.Name)
			if err != nil || got.Role != u.Role {
				t.Fatalf("stored %+v, %v; created %+v", got, err, u)
			}
		}
		if admins != 1 {
			t.Fatalf("%d admins among %d first sign-ups; want 1", admins, n)
		}
		if u, err := s.CreateUser(ctx, "later", "h", true); err != nil || u.Role != chat.RoleAdmin {
			t.Fatalf("createuser --admin: %+v, %v", u, err)
		}
	})
}

// An invite of N uses signs up N accounts however many try at once, and
// a refused sign-up spends nothing and stores nothing.
func TestInviteUsesUnderConcurrency(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		admin := mustUser(t, s, "admin")
		now := time.Now()
		inv, err := s.CreateInvite(ctx, store.Invite{Hash: []byte("code-hash"), CreatedBy: admin.ID,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour), MaxUses: 3})
		if err != nil {
			t.Fatal(err)
		}
		const tries = 10
		errs := make([]error, tries)
		var wg sync.WaitGroup
		for i := range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.CreateAccount(ctx, store.NewAccount{Name: fmt.Sprintf("invited%d", i), PasswordHash: "h", Invite: inv.Hash})
			}()
		}
		wg.Wait()
		made := 0
		for _, err := range errs {
			switch chat.ErrorCode(err) {
			case "":
				made++
			case chat.ENotFound:
			default:
				t.Fatal(err)
			}
		}
		if made != 3 {
			t.Fatalf("%d accounts through an invite of 3 uses", made)
		}
		got, err := s.InviteByHash(ctx, inv.Hash)
		if err != nil || got.Used != 3 || got.State(time.Now()) != "used" || got.Creator != "admin" {
			t.Fatalf("invite after: %+v, %v", got, err)
		}
		if all, _ := s.Users(ctx, "invited", 100); len(all) != 3 {
			t.Fatalf("%d invited accounts stored; want 3", len(all))
		}

		// A taken name spends no use; a revoked or expired invite signs nobody up.
		two, _ := s.CreateInvite(ctx, store.Invite{Hash: []byte("two"), CreatedAt: now, ExpiresAt: now.Add(time.Hour), MaxUses: 2})
		_, err = s.CreateAccount(ctx, store.NewAccount{Name: "admin", PasswordHash: "h", Invite: two.Hash})
		wantCode(t, err, chat.EConflict)
		if got, _ := s.InviteByHash(ctx, two.Hash); got.Used != 0 {
			t.Fatalf("a refused sign-up spent a use: %+v", got)
		}
		if r, err := s.RevokeInvite(ctx, two.ID, nil, now); err != nil || r.State(now) != "revoked" {
			t.Fatalf("revoke: %+v, %v", r, err)
		}
		_, err = s.CreateAccount(ctx, store.NewAccount{Name: "late", PasswordHash: "h", Invite: two.Hash})
		wantCode(t, err, chat.ENotFound)
		old, _ := s.CreateInvite(ctx, store.Invite{Hash: []byte("old"), CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour), MaxUses: 2})
		_, err = s.CreateAccount(ctx, store.NewAccount{Name: "late", PasswordHash: "h", Invite: old.Hash})
		wantCode(t, err, chat.ENotFound)
		_, err = s.RevokeInvite(ctx, 0, []byte("no such"), now)
		wantCode(t, err, chat.ENotFound)
		if r, err := s.RevokeInvite(ctx, 0, old.Hash, now); err != nil || r.ID != old.ID {
			t.Fatalf("revoke by hash: %+v, %v", r, err)
		}
		list, err := s.Invites(ctx, 10)
		if err != nil || len(list) != 3 || list[0].ID != old.ID {
			t.Fatalf("invites: %+v, %v", list, err)
		}
	})
}

// A role change and a deactivation never leave the database without an
// active admin; deactivation ends the sessions, and reactivation brings
// none back.
func TestRolesAndDeactivation(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		root := mustUser(t, s, "root") // the first: an admin
		bob := mustUser(t, s, "bob")
		if root.Role != chat.RoleAdmin || bob.Role != chat.RoleMember {
			t.Fatalf("roles %s, %s", root.Role, bob.Role)
		}
		_, err := s.SetRole(ctx, "root", chat.RoleMember)
		wantCode(t, err, chat.EConflict)
		_, err = s.SetDeactivated(ctx, "root", true, time.Now())
		wantCode(t, err, chat.EConflict)
		_, err = s.SetRole(ctx, "nobody", chat.RoleAdmin)
		wantCode(t, err, chat.ENotFound)
		_, err = s.SetRole(ctx, "bob", "owner")
		wantCode(t, err, chat.EInvalid)

		if before, err := s.SetRole(ctx, "BOB", chat.RoleAdmin); err != nil || before.Role != chat.RoleMember {
			t.Fatalf("set role: %+v, %v", before, err)
		}
		if _, err := s.SetRole(ctx, "root", chat.RoleModerator); err != nil {
			t.Fatalf("demoting an admin while another is one: %v", err)
		}
		if got, _, _ := s.UserByName(ctx, "root"); got.Role != chat.RoleModerator {
			t.Fatalf("root is %s", got.Role)
		}

		now := time.Now()
		if err := s.CreateSession(ctx, store.Session{Hash: []byte("bob-s"), UserID: bob.ID, Kind: store.KindSession,
			ExpiresAt: now.Add(time.Hour), Address: "192.0.2.1", Agent: "Firefox"}); err != nil {
			t.Fatal(err)
		}
		if ss, err := s.UserSessions(ctx, bob.ID, now); err != nil || len(ss) != 1 || ss[0].Agent != "Firefox" || ss[0].Address != "192.0.2.1" ||
			!ss[0].UsedAt.IsZero() {
			t.Fatalf("sessions %+v, %v", ss, err)
		}
		// Its uses, as the web server records them: a later one wins, an
		// earlier one (from a slower process) does not undo it.
		used := now.Add(time.Minute).Truncate(time.Microsecond)
		for _, at := range []time.Time{used, used.Add(-30 * time.Second)} {
			if err := s.TouchSessions(ctx, map[string]time.Time{"bob-s": at, "no-such-session": at}); err != nil {
				t.Fatal(err)
			}
		}
		if ss, err := s.UserSessions(ctx, bob.ID, now); err != nil || len(ss) != 1 || !ss[0].UsedAt.Equal(used) {
			t.Fatalf("sessions after their use at %v: %+v, %v", used, ss, err)
		}
		if a, err := s.Authenticate(ctx, []byte("bob-s"), store.KindSession, now); err != nil || a.User.ID != bob.ID ||
			!a.UsedAt.Equal(used) || !a.ExpiresAt.Equal(now.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("Authenticate: %+v, %v", a, err)
		}
		// bob is the last admin now.
		_, err = s.SetDeactivated(ctx, "bob", true, now)
		wantCode(t, err, chat.EConflict)
		if _, err := s.SetRole(ctx, "root", chat.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetDeactivated(ctx, "bob", true, now); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := s.UserByName(ctx, "bob"); !got.Deactivated {
			t.Fatalf("bob after deactivation: %+v", got)
		}
		_, err = s.SessionUser(ctx, []byte("bob-s"), store.KindSession, now)
		wantCode(t, err, chat.EUnauthorized)
		if _, err := s.SetDeactivated(ctx, "bob", false, now); err != nil {
			t.Fatal(err)
		}
		if ss, _ := s.UserSessions(ctx, bob.ID, now); len(ss) != 0 {
			t.Fatalf("sessions came back with reactivation: %+v", ss)
		}
		if got, _, _ := s.UserByName(ctx, "bob"); got.Deactivated {
			t.Fatalf("bob after reactivation: %+v", got)
		}
		users, err := s.Users(ctx, "B", 10)
		if err != nil || len(users) != 1 || users[0].Name != "bob" {
			t.Fatalf("Users(B) = %+v, %v", users, err)
		}
		if users, _ := s.Users(ctx, "_", 10); len(users) != 0 {
			t.Fatalf("_ is a wildcard: %+v", users)
		}
	})
}

// A reset link works once, within its 24 hours, and ends every session.
func TestResetLinkOnce(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		admin := mustUser(t, s, "admin")
		carol := mustUser(t, s, "carol")
		now := time.Now()
		if err := s.CreateSession(ctx, store.Session{Hash: []byte("carol-t"), UserID: carol.ID, Kind: store.KindToken, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateResetLink(ctx, []byte("reset"), carol.ID, admin.ID, now); err != nil {
			t.Fatal(err)
		}
		if u, err := s.ResetLinkUser(ctx, []byte("reset"), now); err != nil || u.ID != carol.ID {
			t.Fatalf("link user %+v, %v", u, err)
		}
		_, err := s.ResetLinkUser(ctx, []byte("reset"), now.Add(store.ResetLinkTTL+time.Second))
		wantCode(t, err, chat.ENotFound)

		var wg sync.WaitGroup
		results := make([]error, 5)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, results[i] = s.UseResetLink(ctx, []byte("reset"), fmt.Sprintf("new-hash-%d", i), now)
			}()
		}
		wg.Wait()
		used := -1
		for i, err := range results {
			switch chat.ErrorCode(err) {
			case "":
				if used >= 0 {
					t.Fatal("a reset link worked twice")
				}
				used = i
			case chat.ENotFound:
			default:
				t.Fatal(err)
			}
		}
		if used < 0 {
			t.Fatal("the reset link never worked")
		}
		if _, hash, _ := s.UserByName(ctx, "carol"); hash != fmt.Sprintf("new-hash-%d", used) {
			t.Fatalf("password hash %q", hash)
		}
		if ss, _ := s.UserSessions(ctx, carol.ID, now); len(ss) != 0 {
			t.Fatalf("sessions survived a reset: %+v", ss)
		}
		_, err = s.ResetLinkUser(ctx, []byte("reset"), now)
		wantCode(t, err, chat.ENotFound)

		// A deactivated account gets no link, and loses the ones it had.
		if err := s.CreateResetLink(ctx, []byte("again"), carol.ID, 0, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetDeactivated(ctx, "carol", true, now); err != nil {
			t.Fatal(err)
		}
		_, err = s.UseResetLink(ctx, []byte("again"), "x", now)
		wantCode(t, err, chat.ENotFound)
		wantCode(t, s.CreateResetLink(ctx, []byte("third"), carol.ID, 0, now), chat.ENotFound)
	})
}

// The audit log keeps each entry as it was written, newest first, paged.
func TestAuditLog(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		admin := mustUser(t, s, "admin")
		for i := range 5 {
			if err := s.Audit(ctx, store.AuditEntry{ActorID: admin.ID, Actor: "admin", Action: store.AuditRole,
				Target: fmt.Sprintf("user%d", i), Detail: "member -> moderator", Address: "192.0.2.7"}); err != nil {
				t.Fatal(err)
			}
		}
		wantCode(t, s.Audit(ctx, store.AuditEntry{Actor: "admin"}), chat.EInvalid)
		page, err := s.AuditLog(ctx, 0, 3)
		if err != nil || len(page) != 3 || page[0].Target != "user4" || page[0].Address != "192.0.2.7" || page[0].At.IsZero() {
			t.Fatalf("first page %+v, %v", page, err)
		}
		rest, err := s.AuditLog(ctx, page[2].ID, 3)
		if err != nil || len(rest) != 2 || rest[1].Target != "user0" || rest[0].ActorID != admin.ID {
			t.Fatalf("second page %+v, %v", rest, err)
		}

		// Read forward, as a server watching the shell does.
		_, last, err := s.AuditAfter(ctx, -1, 0)
		if err != nil || last != page[0].ID {
			t.Fatalf("latest id %d, %v; want %d", last, err, page[0].ID)
		}
		after, next, err := s.AuditAfter(ctx, rest[1].ID, 2)
		if err != nil || len(after) != 2 || after[0].Target != "user1" || next != after[1].ID {
			t.Fatalf("after: %+v, %d, %v", after, next, err)
		}
		if none, same, err := s.AuditAfter(ctx, last, 10); err != nil || len(none) != 0 || same != last {
			t.Fatalf("after the latest: %+v, %d, %v", none, same, err)
		}
	})
}

// Erasing an author's messages deletes each through the log's deletions,
// by the one the policy allowed; a deletion not so allowed is still its
// author's alone.
func TestEraseMessages(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for i, room := range []string{"a", "b", "a", "c"} {
			mustInsert(t, s, chat.NewMessage{Room: room, Author: "troll", Content: fmt.Sprintf("spam %d", i)})
		}
		kept, _ := mustInsert(t, s, chat.NewMessage{Room: "a", Author: "alice", Content: "hello"})
		_, _, err := s.ApplyChange(ctx, chat.NewChange{Room: "a", Author: "root", Kind: chat.ChangeDelete, Target: 1})
		wantCode(t, err, chat.EForbidden)

		var changes []chat.Change
		n, err := s.EraseMessages(ctx, "troll", "root", func(c chat.Change) { changes = append(changes, c) })
		if err != nil || n != 4 || len(changes) != 4 {
			t.Fatalf("erase: %d, %v, %d changes", n, err, len(changes))
		}
		for _, c := range changes {
			if c.Kind != chat.ChangeDelete || c.Author != "root" || c.Seq <= c.Target {
				t.Fatalf("change %+v", c)
			}
		}
		if left, _ := s.LiveMessagesBy(ctx, "troll", 10); len(left) != 0 {
			t.Fatalf("left: %+v", left)
		}
		if again, err := s.EraseMessages(ctx, "troll", "root", func(chat.Change) {}); err != nil || again != 0 {
			t.Fatalf("erasing again: %d, %v", again, err)
		}
		if left, _ := s.LiveMessagesBy(ctx, "alice", 10); len(left) != 1 || left[0].Seq != kept.Seq {
			t.Fatalf("alice's: %+v", left)
		}
	})
}

// Migration 6 gives every admin of users.admin the role admin, and every
// other account the role member; it deactivates nobody.
func TestAccountsMigration(t *testing.T) {
	storetest.EnginesUnmigrated(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		if err := s.MigrateTo(ctx, 5); err != nil {
			t.Fatal(err)
		}
		for _, u := range []struct {
			name  string
			admin bool
		}{{"old-admin", true}, {"old-member", false}} {
			if err := s.Exec(ctx, "INSERT INTO users (name, name_key, password_hash, admin, created_at) VALUES ($1, $1, $2, $3, $4)",
				u.name, "h", u.admin, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for name, role := range map[string]chat.Role{"old-admin": chat.RoleAdmin, "old-member": chat.RoleMember} {
			u, _, err := s.UserByName(ctx, name)
			if err != nil || u.Role != role || u.Deactivated {
				t.Errorf("%s after migration 6: %+v, %v; want %s, active", name, u, err, role)
			}
		}
		// The database is not empty: a new account is a member.
		if u, err := s.CreateUser(ctx, "newcomer", "h", false); err != nil || u.Role != chat.RoleMember {
			t.Fatalf("newcomer: %+v, %v", u, err)
		}
	})
	// A database that had no admin gets its oldest account as one.
	storetest.EnginesUnmigrated(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		if err := s.MigrateTo(ctx, 5); err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		for i, name := range []string{"first", "second"} {
			if err := s.Exec(ctx, "INSERT INTO users (name, name_key, password_hash, admin, created_at) VALUES ($1, $1, $2, $3, $4)",
				name, "h", false, at.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for name, role := range map[string]chat.Role{"first": chat.RoleAdmin, "second": chat.RoleMember} {
			if u, _, err := s.UserByName(ctx, name); err != nil || u.Role != role {
				t.Errorf("%s after migration 6 of a database without an admin: %+v, %v; want %s", name, u, err, role)
			}
		}
	})
}
