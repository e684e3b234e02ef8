package sink

import (
	"net"
	"testing"
	"time"
)

// alive must see what the server did to the connection without depending on how fast the
// check runs: a busy process once let a short read deadline expire before the read looked, and
// a batch went to a connection the server had closed (and was lost).
func TestAliveSeesWhatTheServerDidWithoutWaiting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct {
		name   string
		server func(c net.Conn)
		want   bool
	}{
		{"an open connection is alive", func(net.Conn) {}, true},
		{"a connection the server closed is not", func(c net.Conn) { c.Close() }, false},
		{"a connection the server wrote to is not", func(c net.Conn) { c.Write([]byte("x")) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			tc.server(server)
			// The FIN or the byte crosses loopback at once; give the kernel a bounded while, then
			// check that peeking gives the same answer every time, however slowly it is asked.
			got := alive(client)
			for end := time.Now().Add(2 * time.Second); got != tc.want && time.Now().Before(end); {
				time.Sleep(time.Millisecond)
				got = alive(client)
			}
			if got != tc.want {
				t.Fatalf("alive = %v, want %v", got, tc.want)
			}
			for range 3 {
				if alive(client) != tc.want {
					t.Fatalf("alive changed its answer on a second look")
				}
			}
			if closed, ok := peekClosed(client); !ok || closed == tc.want {
				t.Errorf("peekClosed = %v, %v; want a look into the socket saying closed=%v", closed, ok, !tc.want)
			}
		})
	}
}
