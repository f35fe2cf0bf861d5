package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"parley/internal/auth"
	"parley/internal/broker"
	"parley/internal/broker/redisbroker"
	"parley/internal/chat"
	"parley/internal/config"
	"parley/internal/store"
	"parley/internal/web"
)

// Account administration from the shell: parley user ... and parley
// invite ... (README, Commands). The shell acts as an admin; each action
// is written to the audit log with the address "shell", and, with
// --redis set, the running servers are told at once (sockets of a
// deactivated account closed, those of an account whose role changed
// reconnected). Without --redis, each server finds the shell's entries in
// the audit log within seconds (web.Server.WatchShell); pages, the API
// and log-in see a change at once.

const (
	userUsage   = "usage: parley user list [QUERY] | set-role NAME ROLE | deactivate NAME [--erase] | reactivate NAME | reset-link NAME"
	inviteUsage = "usage: parley invite create [--uses N] [--expires DURATION] | list | revoke CODE"
)

// shellActor is who acts from the shell, in the audit log.
const shellActor = "shell"

// adminArgs splits a command's arguments into its words, the values of
// its own flags (own: name without dashes -> value; switches: name ->
// set) and the settings' flags, which config reads. Every other flag
// takes a value: "--db x" or "--db=x".
func adminArgs(args []string, own map[string]*string, switches map[string]*bool) (words, settings []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			words = append(words, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if sw, ok := switches[name]; ok && !hasValue {
			*sw = true
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				if dst, ok := own[name]; ok && dst != nil {
					return nil, nil, usageError("--%s needs a value", name)
				}
				settings = append(settings, a)
				continue
			}
			i++
			value = args[i]
		}
		if dst, ok := own[name]; ok {
			*dst = value
			continue
		}
		settings = append(settings, "--"+name+"="+value)
	}
	return words, settings, nil
}

// adminCommand reads the settings and opens the store for a command of
// the shell.
func adminCommand(ctx context.Context, settingArgs []string, env Env) (config.Config, *store.Store, error) {
	c, rest, err := settings(settingArgs, env)
	if err != nil {
		return c, nil, err
	}
	if len(rest) > 0 {
		return c, nil, usageError("unexpected arguments %q", rest)
	}
	st, err := openStore(ctx, c.DB)
	return c, st, err
}

// tellServers publishes a process-wide event to the running servers,
// if they share a Redis; the broker's Close sends what it queued.
func tellServers(ctx context.Context, c config.Config, ev broker.Event, env Env) {
	if c.Redis == "" {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := redisbroker.New(rctx, c.Redis, redisbroker.Options{Origin: processID()})
	if err == nil {
		err = b.Publish(rctx, ev)
		if cerr := b.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "parley: could not tell the running servers (%s); their sockets see it when they reconnect\n", oneLine(err))
	}
}

func shellAudit(ctx context.Context, st *store.Store, action, target, detail string) error {
	return st.Audit(ctx, store.AuditEntry{Actor: shellActor, Action: action, Target: target, Detail: detail, Address: store.AuditShell})
}

// cliError turns a refusal of the store into a one-line failure, exit 1.
func cliError(err error) error {
	if code := chat.ErrorCode(err); code != chat.EInternal && code != "" {
		return &ExitError{Code: 1, Err: fmt.Errorf("%s", chat.ErrorMessage(err))}
	}
	return err
}

func userCommand(ctx context.Context, args []string, env Env) error {
	erase := false
	words, flags, err := adminArgs(args, nil, map[string]*bool{"erase": &erase})
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return usageError(userUsage)
	}
	sub, words := words[0], words[1:]
	want := map[string]int{"list": -1, "set-role": 2, "deactivate": 1, "reactivate": 1, "reset-link": 1}
	n, ok := want[sub]
	if !ok || (n >= 0 && len(words) != n) || (n < 0 && len(words) > 1) || (erase && sub != "deactivate") {
		return usageError(userUsage)
	}
	c, st, err := adminCommand(ctx, flags, env)
	if err != nil {
		return err
	}
	defer st.Close()
	out := env.Stdout
	switch sub {
	case "list":
		q := ""
		if len(words) == 1 {
			q = words[0]
		}
		users, err := st.Users(ctx, q, 10000)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tCREATED")
		for _, u := range users {
			state := "active"
			if u.Deactivated {
				state = "deactivated"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, state, u.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "set-role":
		role, err := chat.ParseRole(words[1])
		if err != nil {
			return usageError("bad role %q: %s", words[1], chat.ErrorMessage(err))
		}
		before, err := st.SetRole(ctx, words[0], role)
		if err != nil {
			return cliError(err)
		}
		if before.Role != role {
			if err := shellAudit(ctx, st, store.AuditRole, before.Name, fmt.Sprintf("%s -> %s", before.Role, role)); err != nil {
				return err
			}
			tellServers(ctx, c, broker.Event{Kind: broker.KindUserChanged, User: before.Name}, env)
		}
		_, err = fmt.Fprintf(out, "parley: %s is now %s\n", before.Name, role)
		return err
	case "deactivate", "reactivate":
		deactivate := sub == "deactivate"
		before, err := st.SetDeactivated(ctx, words[0], deactivate, time.Now())
		if err != nil {
			return cliError(err)
		}
		if deactivate {
			tellServers(ctx, c, broker.Event{Kind: broker.KindUserRevoked, User: before.Name}, env)
		}
		if before.Deactivated != deactivate {
			action := store.AuditReactivate
			if deactivate {
				action = store.AuditDeactivate
			}
			if err := shellAudit(ctx, st, action, before.Name, ""); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(out, "parley: %s is %sd\n", before.Name, sub); err != nil || !erase {
			return err
		}
		return eraseFromShell(ctx, c, st, before.Name, env)
	default: // reset-link
		u, _, err := st.UserByName(ctx, words[0])
		if err != nil {
			return cliError(err)
		}
		code, err := auth.NewSecret()
		if err != nil {
			return err
		}
		if err := st.CreateResetLink(ctx, auth.SecretHash(code), u.ID, 0, time.Now()); err != nil {
			return cliError(err)
		}
		if err := shellAudit(ctx, st, store.AuditResetLink, u.Name, ""); err != nil {
			return err
		}
		return printLink(env, c, "/reset/"+code, fmt.Sprintf("a one-time reset link for %s, valid for 24 hours", u.Name))
	}
}

// eraseFromShell deletes every message of the account called name, as
// the admin pages do, the deletions' author being "shell". With --redis
// the running servers get each deletion at once; without it, each
// server's hub finds the new entries of its rooms' logs in the store
// within seconds (docs/ARCHITECTURE.md, The life of a message).
func eraseFromShell(ctx context.Context, c config.Config, st *store.Store, name string, env Env) error {
	var b broker.Broker
	if c.Redis != "" {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		rb, err := redisbroker.New(rctx, c.Redis, redisbroker.Options{Origin: processID()})
		cancel()
		if err != nil {
			fmt.Fprintf(env.Stderr, "parley: cannot reach Redis (%s); the servers find the deletions in the store\n", oneLine(err))
		} else {
			b = rb
			defer rb.Close()
		}
	}
	n, err := st.EraseMessages(ctx, name, shellActor, func(ch chat.Change) {
		if b != nil {
			_ = b.Publish(ctx, broker.Event{Room: ch.Room, Kind: broker.KindChange, Change: &ch})
		}
	})
	if n > 0 || err == nil {
		if aerr := shellAudit(ctx, st, store.AuditErase, name, fmt.Sprintf("%d messages deleted", n)); aerr != nil && err == nil {
			err = aerr
		}
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "parley: %d messages of %s deleted\n", n, name)
	return err
}

// printLink prints a link's path on its own line (with --public-url, the
// whole address), and what it is on stderr.
func printLink(env Env, c config.Config, path, what string) error {
	fmt.Fprintf(env.Stderr, "parley: %s:\n", what)
	if c.PublicURL != "" {
		path = strings.TrimRight(c.PublicURL, "/") + path
	}
	_, err := fmt.Fprintln(env.Stdout, path)
	return err
}

func inviteCommand(ctx context.Context, args []string, env Env) error {
	uses, expires := "1", "7d"
	words, flags, err := adminArgs(args, map[string]*string{"uses": &uses, "expires": &expires}, nil)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return usageError(inviteUsage)
	}
	sub, words := words[0], words[1:]
	switch {
	case sub == "create" && len(words) == 0, sub == "list" && len(words) == 0, sub == "revoke" && len(words) == 1:
	default:
		return usageError(inviteUsage)
	}
	var n int64
	var ttl time.Duration
	if sub == "create" {
		if n, err = strconv.ParseInt(uses, 10, 64); err != nil {
			return usageError("bad --uses %q: give a whole number", uses)
		}
		if ttl, err = web.ParseInviteTTL(expires); err != nil {
			return usageError("bad --expires: %s", chat.ErrorMessage(err))
		}
		if err := web.CheckInvite(n, ttl); err != nil {
			return usageError("%s", chat.ErrorMessage(err))
		}
	}
	c, st, err := adminCommand(ctx, flags, env)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	switch sub {
	case "create":
		code, err := auth.NewSecret()
		if err != nil {
			return err
		}
		inv, err := st.CreateInvite(ctx, store.Invite{Hash: auth.SecretHash(code), CreatedAt: now, ExpiresAt: now.Add(ttl), MaxUses: n})
		if err != nil {
			return err
		}
		target := "invite " + strconv.FormatInt(inv.ID, 10)
		if err := shellAudit(ctx, st, store.AuditInviteCreate, target,
			fmt.Sprintf("uses %d, expires %s", n, inv.ExpiresAt.Format(time.RFC3339))); err != nil {
			return err
		}
		return printLink(env, c, "/join/"+code, fmt.Sprintf("invite %d, %d use(s), expires %s", inv.ID, n, inv.ExpiresAt.Format(time.RFC3339)))
	case "list":
		list, err := st.Invites(ctx, 10000)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tUSED\tEXPIRES\tBY")
		for _, i := range list {
			by := i.Creator
			if by == "" {
				by = shellActor
			}
			fmt.Fprintf(tw, "%d\t%s\t%d/%d\t%s\t%s\n", i.ID, i.State(now), i.Used, i.MaxUses, i.ExpiresAt.Format(time.RFC3339), by)
		}
		return tw.Flush()
	default: // revoke
		id, hash := web.InviteRef(words[0])
		inv, err := st.RevokeInvite(ctx, id, hash, now)
		if err != nil {
			return cliError(err)
		}
		if err := shellAudit(ctx, st, store.AuditInviteRevoke, "invite "+strconv.FormatInt(inv.ID, 10), ""); err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "parley: invite %d is revoked\n", inv.ID)
		return err
	}
}
