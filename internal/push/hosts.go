package push

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Hosts are the push services a Sender sends to, by the host of a
// subscription's endpoint: the browsers' own services, so that a user
// cannot have the server POST to a host of their choosing (a service of
// the server's network, say). The zero Hosts allows every host.
type Hosts struct {
	limited  bool // not the zero Hosts, nor *
	loopback bool
	exact    map[string]bool
	suffixes []string // ".push.services.mozilla.com": any host under it
}

// DefaultHosts is the list of the browsers' push services (Chrome, Edge,
// Opera, Samsung Internet and Brave through Firebase Cloud Messaging;
// Firefox; Edge on Windows through WNS; Safari), and loopback, where a
// test or a development push service listens: what ParseHosts reads the
// default --push-hosts from.
const DefaultHosts = "fcm.googleapis.com,android.googleapis.com,*.push.services.mozilla.com,*.notify.windows.com,*.push.apple.com,loopback"

// ParseHosts reads a comma-separated list of hosts: a name
// (fcm.googleapis.com), every name under a domain (*.push.apple.com),
// loopback (127.0.0.0/8, ::1 and localhost), or * alone for every host.
func ParseHosts(list string) (Hosts, error) {
	h := Hosts{limited: true, exact: map[string]bool{}}
	every := false
	for _, p := range strings.Split(list, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		switch {
		case p == "":
			return Hosts{}, errors.New("an empty host in the list")
		case p == "*":
			every = true
		case p == "loopback":
			h.loopback = true
		case strings.HasPrefix(p, "*."):
			name, err := hostName(p[2:])
			if err != nil {
				return Hosts{}, fmt.Errorf("%q: %w", p, err)
			}
			h.suffixes = append(h.suffixes, "."+name)
		default:
			name, err := hostName(p)
			if err != nil {
				return Hosts{}, fmt.Errorf("%q: %w", p, err)
			}
			h.exact[name] = true
		}
	}
	if every {
		if h.loopback || len(h.exact) > 0 || len(h.suffixes) > 0 {
			return Hosts{}, errors.New("* allows every host: give it alone")
		}
		return Hosts{}, nil
	}
	return h, nil
}

// hostName reads a host name or an IP address ([::1] or ::1), without a
// port, and returns it as Allows compares it.
func hostName(s string) (string, error) {
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return ip.String(), nil
	}
	name := strings.TrimSuffix(s, ".")
	if name == "" || strings.ContainsAny(name, ":*/@[]") {
		return "", errors.New("not a host name")
	}
	if u, err := url.Parse("https://" + name); err != nil || u.Host != name {
		return "", errors.New("not a host name")
	}
	return name, nil
}

// comparable returns an endpoint's host as hostName returns the hosts of
// the list: lower case, without a final dot, an IP address in its
// shortest form.
func comparable(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.String()
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// Allows reports whether endpoint's host is one of h: a parsed endpoint
// URL's host, any port.
func (h Hosts) Allows(endpoint string) bool {
	if !h.limited {
		return true
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	host := comparable(u.Hostname())
	if h.loopback && isLoopback(host) {
		return true
	}
	if h.exact[host] {
		return true
	}
	for _, s := range h.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}
