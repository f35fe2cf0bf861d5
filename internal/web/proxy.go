package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// fromTrustedProxy reports whether the request's peer is a configured
// proxy, whose forwarding headers are then believed.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	if len(s.opt.TrustedProxies) == 0 {
		return false
	}
	peer, ok := peerAddr(r)
	if !ok {
		return false
	}
	for _, p := range s.opt.TrustedProxies {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

func peerAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err == nil
}

// isHTTPS reports whether the client reached us over HTTPS: directly, or
// through a trusted proxy that says so.
func (s *Server) isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return s.fromTrustedProxy(r) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// clientAddr is the client's address: the peer's, or, behind trusted
// proxies, the right-most X-Forwarded-For entry that is not itself a
// trusted proxy (entries further left are the client's to forge).
func (s *Server) clientAddr(r *http.Request) string {
	peer, ok := peerAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	if !s.fromTrustedProxy(r) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		trusted := false
		for _, p := range s.opt.TrustedProxies {
			if p.Contains(a) {
				trusted = true
				break
			}
		}
		if !trusted {
			return a.String()
		}
	}
	return peer.String()
}

// throttleAddr is the client's address as the limits per address count
// it: an IPv4 address, or the /64 an IPv6 address is in, which one
// subscriber usually holds whole.
func (s *Server) throttleAddr(r *http.Request) string {
	a := s.clientAddr(r)
	ip, err := netip.ParseAddr(a)
	if err != nil || !ip.Is6() {
		return a
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return a
	}
	return p.String()
}
