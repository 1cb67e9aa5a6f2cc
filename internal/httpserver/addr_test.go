package httpserver_test

import (
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/httpserver"
)

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{":8080", true},
		{"127.0.0.1:0", true},
		{"[::1]:9090", true},
		{"localhost:http", true},
		{"bogus", false},
		{"127.0.0.1", false},
		{"127.0.0.1:99999", false},
		{"127.0.0.1:port", false},
		{"", false},
	} {
		if err := httpserver.CheckAddr(c.addr); (err == nil) != c.ok {
			t.Errorf("CheckAddr(%q) = %v, want ok %v", c.addr, err, c.ok)
		}
	}
}
