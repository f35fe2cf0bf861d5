package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"parley/internal/chat"
)

// RoomPlace returns the room called name as access sees it (chat.Place)
// for the user userID: its kind, owner, whether it is archived, whether it
// exists, whether the user is a member, until when they are muted, and
// its access epoch. It
// is one query by primary keys, which every page, API call and socket
// upgrade makes before chat.Can. A room that does not exist is a public
// room not made yet (Exists false), as chat.Place says.
func (s *Store) RoomPlace(ctx context.Context, name string, userID int64) (chat.Place, error) {
	if !chat.ValidRoomName(name) {
		return chat.Place{Kind: chat.RoomPublic}, nil
	}
	var (
		p        chat.Place
		kind     string
		archived time.Time
		member   bool
	)
	err := s.read.queryRow(ctx, `
		SELECT r.kind, COALESCE(r.created_by, 0), r.archived_at,
			EXISTS (SELECT 1 FROM room_members m WHERE m.user_id = $2 AND m.room = r.name),
			(SELECT x.until FROM room_mutes x WHERE x.room = r.name AND x.user_id = $2), r.access_epoch
		FROM rooms r WHERE r.name = $1`, chat.NormalizeRoomName(name), userID).
		Scan(&kind, &p.Owner, nullTimeCol{&archived}, boolCol{&member}, nullTimeCol{&p.MutedUntil}, &p.Epoch)
	if isNoRows(err) {
		return chat.Place{Kind: chat.RoomPublic}, nil
	}
	if err != nil {
		return chat.Place{}, fmt.Errorf("store: room place: %w", err)
	}
	p.Kind, p.Archived, p.Exists, p.Member = chat.RoomKind(kind), !archived.IsZero(), true, member
	return p, nil
}

// RoomSettings is what a room's settings page shows and changes.
type RoomSettings struct {
	chat.Room
	Owner   string   // the creator's name; "" for none
	Members []string // by name; for a public room, those who entered it
	Mutes   []Mute   // those muted now
}

// Mute is a user muted in a room until a time.
type Mute struct {
	User  string    `json:"user"`
	Until time.Time `json:"until"`
}

// RoomSettings returns the room's settings, its members and its mutes in
// force at now, or not_found.
func (s *Store) RoomSettings(ctx context.Context, name string, now time.Time) (RoomSettings, error) {
	r, err := s.Room(ctx, name)
	if err != nil {
		return RoomSettings{}, err
	}
	rs := RoomSettings{Room: r}
	err = s.read.queryRow(ctx, "SELECT COALESCE((SELECT u.name FROM users u WHERE u.id = r.created_by), '') FROM rooms r WHERE r.name = $1",
		r.Name).Scan(&rs.Owner)
	if err != nil {
		return RoomSettings{}, fmt.Errorf("store: room settings: %w", err)
	}
	if rs.Members, err = s.RoomMembers(ctx, r.Name); err != nil {
		return RoomSettings{}, err
	}
	rows, err := s.read.query(ctx, `
		SELECT u.name, x.until FROM room_mutes x JOIN users u ON u.id = x.user_id
		WHERE x.room = $1 AND x.until > $2 ORDER BY u.name`, r.Name, now)
	if err != nil {
		return RoomSettings{}, fmt.Errorf("store: room mutes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m Mute
		if err := rows.Scan(&m.User, timeCol{&m.Until}); err != nil {
			return RoomSettings{}, fmt.Errorf("store: room mutes: %w", err)
		}
		rs.Mutes = append(rs.Mutes, m)
	}
	return rs, rows.Err()
}

// MaxListedMembers is the most members RoomMembers returns: a public
// room's "members" are everyone who entered it, who may be many.
const MaxListedMembers = 1000

// RoomMembers returns the names of the room's members, sorted, at most
// MaxListedMembers of them.
func (s *Store) RoomMembers(ctx context.Context, room string) ([]string, error) {
	rows, err := s.read.query(ctx, `
		SELECT u.name FROM room_members m JOIN users u ON u.id = m.user_id
		WHERE m.room = $1 ORDER BY u.name LIMIT $2`, chat.NormalizeRoomName(room), MaxListedMembers)
	if err != nil {
		return nil, fmt.Errorf("store: room members: %w", err)
	}
	defer rows.Close()
	names := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("store: room members: %w", err)
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// RoomChange is a change to a room's settings: each field set is changed.
type RoomChange struct {
	Topic    *string
	Kind     *chat.RoomKind
	Archived *bool
}

// ChangeRoom applies c to the room, which must exist (not_found). A
// direct conversation keeps its kind; a public room is not made direct.
func (s *Store) ChangeRoom(ctx context.Context, room string, c RoomChange) (chat.Room, error) {
	r, err := s.Room(ctx, room)
	if err != nil {
		return chat.Room{}, err
	}
	err = s.write.inTx(ctx, func(tx querier) error {
		if c.Topic != nil {
			if _, err := tx.exec(ctx, "UPDATE rooms SET topic = $2 WHERE name = $1", r.Name, *c.Topic); err != nil {
				return err
			}
		}
		if c.Kind != nil {
			set := "UPDATE rooms SET kind = $2 WHERE name = $1"
			if *c.Kind != chat.RoomPublic {
				set = setKindClosing // some may read it no more
			}
			if _, err := tx.exec(ctx, set, r.Name, string(*c.Kind)); err != nil {
				return err
			}
		}
		if c.Archived != nil {
			var at any // NULL: not archived
			if *c.Archived {
				at = now()
			}
			if _, err := tx.exec(ctx, "UPDATE rooms SET archived_at = $2 WHERE name = $1", r.Name, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return chat.Room{}, fmt.Errorf("store: change room: %w", err)
	}
	return s.room(ctx, s.write, r.Name)
}

// setKindClosing gives a room a kind not public, a change that may take
// someone's right to read it: its access epoch moves on (chat.Place),
// unless it had that kind already. $1 = room, $2 = kind
const setKindClosing = "UPDATE rooms SET kind = $2, access_epoch = access_epoch + 1 WHERE name = $1 AND kind <> $2"

// addMember makes a user a member of a room, their read marker at its
// latest entry. $1 = user id, $2 = room, $3 = now
const addMember = `
	INSERT INTO room_members (user_id, room, last_read, entered_at)
	SELECT $1, name, last_seq, $3 FROM rooms WHERE name = $2
	ON CONFLICT (user_id, room) DO NOTHING`

// AddRoomMember makes the user a member of the room (a no-op if they
// are), whatever its kind: the caller asked chat.Can for ActManage.
func (s *Store) AddRoomMember(ctx context.Context, room string, userID int64) error {
	_, err := s.write.exec(ctx, addMember, userID, chat.NormalizeRoomName(room), now())
	if isForeignKeyViolation(err) {
		return chat.Errorf(chat.ENotFound, "No such user.")
	}
	if err != nil {
		return fmt.Errorf("store: add room member: %w", err)
	}
	return nil
}

// Mute mutes the user in the room until until, by the user by, replacing
// any mute of theirs there.
func (s *Store) Mute(ctx context.Context, room string, userID int64, until time.Time, by int64) error {
	_, err := s.write.exec(ctx, `
		INSERT INTO room_mutes (room, user_id, until, by) VALUES ($1, $2, $3, $4)
		ON CONFLICT (room, user_id) DO UPDATE SET until = excluded.until, by = excluded.by`,
		chat.NormalizeRoomName(room), userID, until.UTC().Truncate(time.Microsecond), by)
	if isForeignKeyViolation(err) {
		return chat.Errorf(chat.ENotFound, "No such room or user.")
	}
	if err != nil {
		return fmt.Errorf("store: mute: %w", err)
	}
	return nil
}

// Unmute lifts the user's mute in the room, if any.
func (s *Store) Unmute(ctx context.Context, room string, userID int64) error {
	if _, err := s.write.exec(ctx, "DELETE FROM room_mutes WHERE room = $1 AND user_id = $2",
		chat.NormalizeRoomName(room), userID); err != nil {
		return fmt.Errorf("store: unmute: %w", err)
	}
	return nil
}

// Limits of a direct conversation's members, its opener included.
const (
	MinDirectMembers = 2
	MaxDirectMembers = 8
)

// DirectName is the name of the direct conversation of the users ids:
// DirectPrefix and a hash of their sorted ids, the same on every process and for
// every order of the same people, so that opening it twice at once makes
// one room. ids holds each member once.
func DirectName(ids []int64) string {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	var b strings.Builder
	for i, id := range sorted {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	sum := sha256.Sum256([]byte(b.String()))
	return DirectPrefix + hex.EncodeToString(sum[:10])
}

// DirectPrefix starts the name of every direct conversation; no other
// room is made with a name that starts so (web refuses it).
const DirectPrefix = "dm-"

// OpenDirect returns the direct conversation of the users ids (2 to 8
// distinct accounts), making it, with its members, if it does not exist:
// INSERT … ON CONFLICT DO NOTHING and then a read, so that concurrent
// opens on any process make one room. creator, one of ids, is recorded
// as its maker, and is a member again if they had left it.
// A room of that name that is not that conversation (made by hand before
// it) is a conflict, never entered.
func (s *Store) OpenDirect(ctx context.Context, ids []int64, creator int64) (chat.Room, bool, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) < MinDirectMembers || len(ids) > MaxDirectMembers {
		return chat.Room{}, false, chat.Errorf(chat.EInvalid, "A direct conversation has %d to %d people.", MinDirectMembers, MaxDirectMembers)
	}
	name := DirectName(ids)
	var created bool
	err := s.write.inTx(ctx, func(tx querier) error {
		// Made at access epoch 1: a socket that was open on the name
		// (as a public room not made yet, epoch 0) is sent none of it.
		n, err := tx.exec(ctx, `INSERT INTO rooms (name, last_seq, created_at, last_activity, created_by, kind, access_epoch)
			VALUES ($1, 0, $2, $2, $3, 'direct', 1) ON CONFLICT (name) DO NOTHING`, name, now(), creator)
		if err != nil {
			return err
		}
		created = n > 0
		var kind string
		if err := tx.queryRow(ctx, "SELECT kind FROM rooms WHERE name = $1", name).Scan(&kind); err != nil {
			return err
		}
		if kind != string(chat.RoomDirect) {
			return chat.Errorf(chat.EConflict, "The room %s is not this conversation.", name)
		}
		// Made now: its people. Opened again: the opener, who may have
		// left it, is back in it.
		members := []int64{creator}
		if created {
			members = ids
		}
		for _, id := range members {
			if _, err := tx.exec(ctx, addMember, id, name, now()); err != nil {
				return err
			}
		}
		return nil
	})
	if chat.ErrorCode(err) == chat.EConflict {
		return chat.Room{}, false, err
	}
	if isForeignKeyViolation(err) {
		return chat.Room{}, false, chat.Errorf(chat.ENotFound, "No such user.")
	}
	if err != nil {
		return chat.Room{}, false, fmt.Errorf("store: open direct: %w", err)
	}
	r, err := s.room(ctx, s.write, name)
	return r, created, err
}

// DirectNames returns, for each direct conversation of the user userID,
// the names of its other members, sorted: what the dashboard and the room
// page show for it rather than its dm- name.
func (s *Store) DirectNames(ctx context.Context, userID int64) (map[string][]string, error) {
	rows, err := s.read.query(ctx, `
		SELECT m.room, u.name FROM room_members mine
		JOIN rooms r ON r.name = mine.room AND r.kind = 'direct'
		JOIN room_members m ON m.room = mine.room AND m.user_id <> mine.user_id
		JOIN users u ON u.id = m.user_id
		WHERE mine.user_id = $1
		ORDER BY m.room, u.name`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: direct names: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var room, name string
		if err := rows.Scan(&room, &name); err != nil {
			return nil, fmt.Errorf("store: direct names: %w", err)
		}
		out[room] = append(out[room], name)
	}
	return out, rows.Err()
}

// AdminRoom is a room as the admin pages list it.
type AdminRoom struct {
	chat.Room
	Owner   string `json:"owner"`
	Members int64  `json:"members"`
}

// AdminRooms returns up to limit rooms of every kind but direct, by name
// from after (exclusive): the admin pages' list.
func (s *Store) AdminRooms(ctx context.Context, after string, limit int) ([]AdminRoom, error) {
	rows, err := s.read.query(ctx, `
		SELECT `+roomCols+`, COALESCE((SELECT u.name FROM users u WHERE u.id = r.created_by), ''),
			(SELECT count(*) FROM room_members m WHERE m.room = r.name)
		FROM rooms r WHERE r.kind <> 'direct' AND r.name > $1
		ORDER BY r.name LIMIT $2`, after, clampRoomLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: admin rooms: %w", err)
	}
	defer rows.Close()
	out := []AdminRoom{}
	for rows.Next() {
		var a AdminRoom
		var kind string
		var archived time.Time
		if err := rows.Scan(&a.Name, &a.LastSeq, &a.Messages, timeCol{&a.LastActivity}, &kind, &a.Topic, nullTimeCol{&archived},
			&a.Owner, &a.Members); err != nil {
			return nil, fmt.Errorf("store: admin rooms: %w", err)
		}
		a.Kind, a.Archived = chat.RoomKind(kind), !archived.IsZero()
		out = append(out, a)
	}
	return out, rows.Err()
}
