package web

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// maxBodyBytes bounds every request body (docs/SECURITY.md, Limits).
const maxBodyBytes = 1 << 20

// writeTimeout bounds writing the answer to a request that is not a
// WebSocket.
const writeTimeout = 30 * time.Second

// bodyTimeout bounds reading a request's body, from when its handler
// starts: a client that announces a body and sends it a byte at a time,
// or not at all, is cut off rather than holding its connection. Bodies
// are at most 1 MiB; 10 s is 100 KiB/s for the largest.
const bodyTimeout = 10 * time.Second

const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// secure wraps every response in the security headers, refuses cross-site
// state changes, bounds request bodies and turns a panic into a 500.
func (s *Server) secure(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	for _, o := range s.trusted {
		// The origins were checked when the settings were read.
		_ = cop.AddTrustedOrigin(o)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.metrics.httpErrors.WithLabelValues("cross_origin").Inc()
		if isAPI(r) {
			writeAPIError(w, http.StatusForbidden, "forbidden", "Cross-origin requests are not allowed.")
			return
		}
		s.errorPage(w, r, http.StatusForbidden, "This form was sent from another site, so it was refused.")
	}))
	protected := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.ContentLength > maxBodyBytes {
			s.tooLarge(w, r)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/ws/") {
			// A client that reads its answer too slowly, or sends its
			// body too slowly, is cut off. Not for WebSockets: a
			// deadline set before the upgrade would outlive it, and
			// sockets have their own rules.
			rc := http.NewResponseController(w)
			_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if r.Body != nil && r.Body != http.NoBody {
				_ = rc.SetReadDeadline(time.Now().Add(bodyTimeout))
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			}
		}()
		protected.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the body's read deadline once the body is read
// whole: the connection's reads after that (the server watching for the
// client going away while the handler runs) have no reason to end.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (s *Server) tooLarge(w http.ResponseWriter, r *http.Request) {
	if isAPI(r) {
		writeAPIError(w, http.StatusRequestEntityTooLarge, "too_large", "The request body is over 1 MiB.")
		return
	}
	w.Header().Set("Connection", "close")
	http.Error(w, "Request body too large", http.StatusRequestEntityTooLarge)
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// safeNext returns next if it is a path on this site, else "/". It refuses
// absolute URLs, scheme-relative ones (//host) and the backslash forms
// browsers read as such (/\host).
func safeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 2000 {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	if strings.ContainsRune(next, '\\') || strings.ContainsFunc(next, unicode.IsControl) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

// sameOrigin reports whether the request's Origin header names this site
// — the scheme the request came by (HTTPS directly or through a trusted
// proxy), its Host and port — or a trusted origin (--origins,
// --public-url). A request without Origin (not a browser) passes.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	o, ok := canonicalOrigin(origin)
	if !ok {
		return false
	}
	scheme := "http"
	if s.isHTTPS(r) {
		scheme = "https"
	}
	if self, ok := canonicalOrigin(scheme + "://" + r.Host); ok && o == self {
		return true
	}
	for _, t := range s.trusted {
		if o == t {
			return true
		}
	}
	return false
}

// canonicalOrigin is origin as scheme://host[:port], lower-cased, without
// the scheme's default port: the form two origins compare equal in.
func canonicalOrigin(origin string) (string, bool) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if port == "" || scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return scheme + "://" + host, true
	}
	return scheme + "://" + net.JoinHostPort(host, port), true
}
