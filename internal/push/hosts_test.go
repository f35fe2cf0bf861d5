package push_test

import (
	"errors"
	"strings"
	"testing"

	"parley/internal/push"
	"parley/internal/push/pushtest"
)

func TestHostsAllow(t *testing.T) {
	def, err := push.ParseHosts(push.DefaultHosts)
	if err != nil {
		t.Fatal(err)
	}
	own, err := push.ParseHosts(" Push.Example.NET , *.corp.example , [::1] ")
	if err != nil {
		t.Fatal(err)
	}
	every, err := push.ParseHosts("*")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hosts    push.Hosts
		name     string
		endpoint string
		want     bool
	}{
		{def, "default", "https://fcm.googleapis.com/fcm/send/abc", true},
		{def, "default", "https://android.googleapis.com/gcm/send/abc", true},
		{def, "default", "https://updates.push.services.mozilla.com/wpush/v2/abc", true},
		{def, "default", "https://wns2-by3p.notify.windows.com/w/?token=x", true},
		{def, "default", "https://web.push.apple.com/QGuQ", true},
		{def, "default", "https://WEB.Push.Apple.COM./QGuQ", true},
		{def, "default", "http://127.0.0.1:9/x", true},
		{def, "default", "http://127.8.9.10/x", true},
		{def, "default", "https://[::1]:9/x", true},
		{def, "default", "http://localhost:9/x", true},
		{def, "default", "https://push.apple.com/x", false}, // *.push.apple.com is under it, not it
		{def, "default", "https://push.apple.com.evil.example/x", false},
		{def, "default", "https://evilpush.apple.com/x", false},
		{def, "default", "https://storage.googleapis.com/x", false},
		{def, "default", "https://10.0.0.5/x", false},
		{def, "default", "https://intranet.example/x", false},
		{def, "default", "https://169.254.169.254/latest", false},
		{own, "own", "https://push.example.net:8443/x", true},
		{own, "own", "https://a.b.corp.example/x", true},
		{own, "own", "https://corp.example/x", false},
		{own, "own", "https://[0:0::1]:9/x", true},
		{own, "own", "http://127.0.0.1:9/x", false}, // no loopback in this list
		{own, "own", "https://fcm.googleapis.com/x", false},
		{every, "*", "https://intranet.example/x", true},
		{push.Hosts{}, "zero", "https://intranet.example/x", true},
	} {
		if got := c.hosts.Allows(c.endpoint); got != c.want {
			t.Errorf("%s hosts, %s: %v, want %v", c.name, c.endpoint, got, c.want)
		}
	}
}

func TestHostsRefused(t *testing.T) {
	for _, list := range []string{
		"", "a.example,,b.example", " , ", "*,loopback", "*.example,*", "*.", "*.*.example", "https://fcm.googleapis.com",
		"fcm.googleapis.com:443", "fcm.googleapis.com/x", "a b.example", "user@host.example", "[::1]:443",
	} {
		if _, err := push.ParseHosts(list); err == nil {
			t.Errorf("ParseHosts(%q) took it", list)
		}
	}
}

// A Sender refuses a subscription on a host outside Options.Hosts, as a
// bad one, and sends it nothing.
func TestSenderKeepsToItsHosts(t *testing.T) {
	svc := pushtest.NewService(t)
	hosts, err := push.ParseHosts("push.example.net")
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(t, push.Options{Clock: newClock(), Hosts: hosts})
	sub := svc.Subscribe() // on 127.0.0.1
	err = s.Check(sub)
	if !errors.Is(err, push.ErrBadSubscription) || !strings.Contains(err.Error(), "is not a push service this server sends to") {
		t.Fatalf("Check: %v", err)
	}
	msg := push.Message{Subscription: sub, Payload: []byte("hi")}
	if err := s.Send(t.Context(), msg); !errors.Is(err, push.ErrBadSubscription) {
		t.Fatalf("Send: %v", err)
	}
	if err := s.Enqueue(msg); !errors.Is(err, push.ErrBadSubscription) {
		t.Fatalf("Enqueue: %v", err)
	}
	if err := s.EnqueueAfter(0, nil, msg); !errors.Is(err, push.ErrBadSubscription) {
		t.Fatalf("EnqueueAfter: %v", err)
	}
	if n := len(svc.Requests()); n != 0 {
		t.Fatalf("the push service got %d requests", n)
	}
	// The same service, allowed.
	hosts, err = push.ParseHosts("loopback")
	if err != nil {
		t.Fatal(err)
	}
	s = newSender(t, push.Options{Clock: newClock(), Hosts: hosts})
	if err := s.Check(sub); err != nil {
		t.Fatalf("Check with loopback allowed: %v", err)
	}
	if err := s.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send with loopback allowed: %v", err)
	}
	if n := len(svc.Requests()); n != 1 {
		t.Fatalf("the push service got %d requests, want 1", n)
	}
}
