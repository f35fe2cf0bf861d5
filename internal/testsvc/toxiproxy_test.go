package testsvc_test

import (
	"io"
	"net"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"parley/internal/testsvc"
)

// A proxy passes bytes to its upstream and back; a latency toxic delays
// them; disabling the proxy cuts the connection.
func TestToxiproxy(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()

	tp := testsvc.StartToxiproxy(t)
	p := tp.Proxy("echo", echo.Addr().String())
	c, err := net.Dial("tcp", p.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip := func() (time.Duration, error) {
		start := time.Now()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return 0, err
		}
		b := make([]byte, 4)
		if _, err := io.ReadFull(c, b); err != nil {
			return 0, err
		}
		if string(b) != "ping" {
			t.Fatalf("echo through the proxy: %q", b)
		}
		return time.Since(start), nil
	}
	if _, err := roundTrip(); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}

	const latency = 200 * time.Millisecond
	if _, err := p.AddToxic("slow", "latency", "downstream", 1, toxiproxy.Attributes{"latency": latency.Milliseconds()}); err != nil {
		t.Fatal(err)
	}
	if d, err := roundTrip(); err != nil || d < latency {
		t.Fatalf("with %v latency: a round trip in %v (%v)", latency, d, err)
	}
	if err := p.RemoveToxic("slow"); err != nil {
		t.Fatal(err)
	}

	if err := p.Disable(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(); err == nil {
		t.Fatal("a round trip through a disabled proxy succeeded")
	}
	if err := p.Enable(); err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("tcp", p.Listen)
	if err != nil {
		t.Fatalf("dial the proxy enabled again: %v", err)
	}
	c.Close()
	c = c2
	if _, err := roundTrip(); err != nil {
		t.Fatalf("through the proxy enabled again: %v", err)
	}
}
