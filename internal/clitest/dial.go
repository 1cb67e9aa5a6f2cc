package clitest

import (
	"net"
	"testing"
)

// Dial opens a raw TCP connection to a server under test, closed at the
// end of the test: for the tests that speak HTTP by hand to watch what a
// connection sees.
func Dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
