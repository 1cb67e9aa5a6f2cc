package httpserver

import (
	"fmt"
	"net"
)

// CheckAddr says whether addr is a listen address (host:port, the host
// may be empty), so that a typo is refused as a usage mistake before
// anything starts, while an address in use is found only when binding.
func CheckAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	return nil
}
